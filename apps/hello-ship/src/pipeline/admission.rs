//! Admission: who is asking, may they, and what may the call cost.

use std::sync::Arc;

use http::{HeaderMap, Request, header};
use hyper::body::Incoming;
use llm_resilience::Chain;
use shipped_core::{ApiErrorKind, ChatRequest, RequestContext, RequestId};
use shipped_cost::{AdmissionError, RateStatus, Reservation, Tenant, TokenCount};
use shipped_guard::{Guardrails, InputVerdict};

use super::CompletionLog;
use crate::app::App;
use crate::routes::input::{InputFormat, read_chat_input};
use crate::server::response::ApiError;

/// A request that passed admission, ready for the chain.
#[derive(Debug)]
pub(crate) struct Admitted {
    pub(crate) context: RequestContext,
    /// The conversation, redacted if the input guardrails say so, with
    /// `max_tokens` set to the effective cap.
    pub(crate) chat: ChatRequest,
    pub(crate) chain: Arc<Chain>,
    pub(crate) guardrails: Guardrails,
    /// Always `Some` after admission; the caller takes it to settle the cost.
    pub(crate) reservation: Option<Reservation>,
    pub(crate) rate_status: Option<RateStatus>,
    pub(crate) input_tokens: TokenCount,
    /// Keeps the request counted until the answer is complete.
    pub(crate) _in_flight: crate::drain::InFlight,
}

/// Runs every check that comes before a provider call, in order: draining,
/// authentication, the admin key of a forced route, body parsing, request
/// rate, input guardrails, input tokens, the output cap and the budget
/// reservation.
///
/// # Errors
///
/// Returns the client error of the first check that fails; the completion
/// record has been written for it.
pub(crate) async fn admit(
    app: &Arc<App>,
    request: Request<Incoming>,
    request_id: RequestId,
    format: InputFormat,
    stream: bool,
    log: &mut CompletionLog,
) -> Result<Admitted, ApiError> {
    let result = admit_inner(app, request, request_id, format, stream).await;
    if let Err(error) = &result {
        log.error_kind = Some(error.kind().as_str());
        log.finish("rejected", error.kind().status());
        app.metrics.record_rejection(error.kind().as_str());
    }
    result
}

async fn admit_inner(
    app: &Arc<App>,
    request: Request<Incoming>,
    request_id: RequestId,
    format: InputFormat,
    stream: bool,
) -> Result<Admitted, ApiError> {
    if app.drain.is_draining() {
        return Err(ApiError::new(
            ApiErrorKind::ServiceUnavailable,
            "the server is shutting down; retry the request",
        )
        .retry_after(1));
    }
    let in_flight = app.drain.enter();

    let tenant = authenticate(app, request.headers())?;
    tracing::Span::current().record("tenant_id", tenant.id.as_str());
    // An admin may pin the request to one route; see `routes::admin`.
    let forced_route = crate::routes::admin::forced_route(app, request.headers())?;

    let input = read_chat_input(app, request, request_id, format, stream).await?;
    let mut context = input.context;
    context.tenant_id = Some(tenant.id.clone());
    let mut chat = input.chat;
    crate::routes::chat::record_start(&context, &chat);

    let rate_status = app
        .cost
        .check_rate(&tenant, context.user_id.as_deref())
        .await
        .map_err(|error| admission_error(app, error))?;

    let guardrails = app.guardrails_for(&tenant.id).clone();
    match guardrails.input().check(&chat.messages) {
        InputVerdict::Block(block) => {
            tracing::warn!(
                detector = block.detector.name(),
                stage = "input",
                "guardrail_hit"
            );
            return Err(ApiError::new(
                ApiErrorKind::GuardrailBlocked,
                block.user_message(),
            ));
        }
        InputVerdict::Allow(allowed) => {
            for flag in &allowed.flags {
                tracing::warn!(
                    detector = flag.name(),
                    stage = "input",
                    action = "flag",
                    "guardrail_hit"
                );
            }
            for (detector, count) in allowed.findings.iter().filter(|(_, count)| *count > 0) {
                tracing::info!(
                    detector = detector.name(),
                    count,
                    stage = "input",
                    "guardrail_hit"
                );
            }
            if let Some(redacted) = allowed.redacted {
                chat.messages = redacted;
            }
        }
    }

    let (chain, models) = match forced_route {
        Some((route, chain)) => (chain, app.route_model(&route).into_iter().collect()),
        None => {
            let chain =
                app.chains.get(&context.model).cloned().ok_or_else(|| {
                    ApiError::invalid(format!("unknown model {:?}", context.model))
                })?;
            (chain, app.chain_models(&context.model))
        }
    };
    let primary_model = models.first().copied().unwrap_or_default();
    let input_tokens = app
        .cost
        .count_input(primary_model, &chat)
        .map_err(|too_large| {
            let estimate = if too_large.estimated {
                " (estimated)"
            } else {
                ""
            };
            ApiError::new(
                ApiErrorKind::PayloadTooLarge,
                format!(
                    "the input is {} tokens{estimate}; the limit is {} (limits.max_input_tokens)",
                    too_large.tokens, too_large.limit
                ),
            )
        })?;
    let max_tokens = app.cost.max_output_tokens(&tenant, chat.max_tokens);
    chat.max_tokens = Some(max_tokens);

    let mut reservation = app
        .cost
        .reserve(&tenant, &models, input_tokens, max_tokens)
        .await
        .map_err(|error| admission_error(app, error))?;
    reservation.set_request(
        Some(context.request_id.to_string()),
        context.user_id.clone(),
    );

    Ok(Admitted {
        context,
        chat,
        chain,
        guardrails,
        reservation: Some(reservation),
        rate_status,
        input_tokens,
        _in_flight: in_flight,
    })
}

/// Finds the tenant of the key in `Authorization: Bearer` (or `x-api-key`, as
/// Anthropic clients send it).
fn authenticate(app: &App, headers: &HeaderMap) -> Result<Arc<Tenant>, ApiError> {
    if app.keys.is_empty() {
        return app.demo_tenant.clone().ok_or_else(|| {
            ApiError::new(
                ApiErrorKind::Unauthenticated,
                "no API keys are configured on this server: add [[tenants]] to the configuration, or run with --demo",
            )
        });
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, key) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
        });
    let key = bearer.or_else(|| {
        headers
            .get("x-api-key")
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
    });
    let unauthenticated = || {
        ApiError::new(
            ApiErrorKind::Unauthenticated,
            "missing or invalid API key; send it as Authorization: Bearer <key>",
        )
    };
    let key = key
        .filter(|key| !key.is_empty())
        .ok_or_else(unauthenticated)?;
    app.keys.authenticate(key).map_err(|_| unauthenticated())
}

fn admission_error(app: &App, error: AdmissionError) -> ApiError {
    let kind = error.api_error_kind();
    let message = match &error {
        AdmissionError::RateLimited(limited) => format!(
            "rate limit of {} requests per minute reached; retry after the Retry-After delay",
            limited.limit
        ),
        AdmissionError::BudgetExceeded(_) => {
            "the daily budget of this API key is spent; it resets at 00:00 UTC".to_owned()
        }
        AdmissionError::Store(store) => {
            app.log_repeated_error("admission_store_failed", store);
            "the budget store is unavailable; retry the request".to_owned()
        }
    };
    let mut api_error = ApiError::new(kind, message);
    if let Some(secs) = error.retry_after_secs() {
        api_error = api_error.retry_after(secs);
    }
    if let AdmissionError::RateLimited(limited) = &error {
        api_error = api_error.rate_limit_headers(limited.limit, limited.remaining, limited.reset);
    }
    api_error
}
