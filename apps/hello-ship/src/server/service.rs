//! Per-request dispatch: request ids, routing, panic containment.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use http::{HeaderValue, Method, Request, Response, header};
use hyper::body::Incoming;
use shipped_core::{ApiErrorKind, RequestId};

use super::response::{ApiError, Body};
use crate::app::App;
use crate::routes;

/// Handles one request. Never fails: every outcome, a panic included, becomes a
/// response carrying `X-Request-Id`.
pub(crate) async fn handle(
    app: Arc<App>,
    request: Request<Incoming>,
) -> Result<Response<Body>, std::convert::Infallible> {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| RequestId::parse(value).ok())
        .unwrap_or_else(RequestId::generate);

    let routed = route(app.clone(), request, request_id.clone());
    let mut response = contain_panics(routed, &request_id).await;

    if let Ok(value) = HeaderValue::from_str(request_id.as_str()) {
        response.headers_mut().insert("x-request-id", value);
    }
    if app.drain.is_draining() {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    Ok(response)
}

/// Runs a handler; a panic inside it becomes a plain 500 without a stack trace,
/// and the connection and process carry on.
async fn contain_panics(
    handler: impl std::future::Future<Output = Response<Body>>,
    request_id: &RequestId,
) -> Response<Body> {
    match AssertUnwindSafe(handler).catch_unwind().await {
        Ok(response) => response,
        Err(_) => {
            // The panic hook has already logged where it happened.
            tracing::error!(request_id = %request_id, "request_panicked");
            ApiError::new(
                ApiErrorKind::Internal,
                "internal error; the request id identifies it in the server log",
            )
            .into_response(request_id)
        }
    }
}

async fn route(app: Arc<App>, request: Request<Incoming>, request_id: RequestId) -> Response<Body> {
    let path = request.uri().path();
    let method = request.method();
    match (method, path) {
        (&Method::GET | &Method::HEAD, "/health") => routes::health::health(),
        (&Method::GET | &Method::HEAD, "/ready") => routes::health::ready(&app),
        (&Method::GET | &Method::HEAD, "/metrics") => routes::metrics::metrics(&app),
        (&Method::GET | &Method::HEAD, "/") => routes::page::index(request.headers()),
        (&Method::GET | &Method::HEAD, "/app.js") => routes::page::app_js(request.headers()),
        (&Method::GET | &Method::HEAD, "/style.css") => routes::page::style_css(request.headers()),
        (&Method::POST, "/chat") => routes::chat::chat(app, request, request_id).await,
        (&Method::POST, "/chat/stream") => {
            routes::stream::chat_stream(app, request, request_id).await
        }
        (&Method::POST, "/v1/chat/completions") => {
            routes::openai::chat_completions(app, request, request_id).await
        }
        (&Method::POST, "/v1/messages") => {
            routes::anthropic::messages(app, request, request_id).await
        }
        (&Method::GET | &Method::HEAD, "/v1/models") => {
            routes::openai::list_models(&app, request.headers(), &request_id).await
        }
        (_, "/health" | "/ready" | "/metrics" | "/" | "/app.js" | "/style.css") => {
            method_not_allowed(method, path, "GET, HEAD", &request_id)
        }
        (_, "/chat" | "/chat/stream" | "/v1/chat/completions" | "/v1/messages") => {
            method_not_allowed(method, path, "POST", &request_id)
        }
        (_, "/v1/models") => method_not_allowed(method, path, "GET, HEAD", &request_id),
        (_, admin) if admin.starts_with("/admin/") => {
            routes::admin::handle(&app, &request, &request_id)
        }
        _ => ApiError::new(
            ApiErrorKind::NotFound,
            format!(
                "no route for {method} {path}; the API has /, /health, /ready, /metrics, /chat, /chat/stream, /v1/chat/completions, /v1/messages and /v1/models"
            ),
        )
        .into_response(&request_id),
    }
}

fn method_not_allowed(
    method: &Method,
    path: &str,
    allowed: &'static str,
    request_id: &RequestId,
) -> Response<Body> {
    ApiError::new(
        ApiErrorKind::MethodNotAllowed,
        format!("{method} is not allowed on {path}; use {allowed}"),
    )
    .allow(allowed)
    .into_response(request_id)
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    #[tokio::test]
    async fn panic_becomes_500_without_detail() {
        let request_id = RequestId::generate();
        let panicking = async {
            if request_id.as_str().starts_with("req_") {
                panic!("secret detail");
            }
            ApiError::invalid("not reached").into_response(&request_id)
        };
        let response = contain_panics(panicking, &request_id).await;

        assert_eq!(response.status(), 500);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(text.contains("internal_error"), "{text}");
        assert!(text.contains(request_id.as_str()), "{text}");
        assert!(!text.contains("secret detail"), "{text}");
        assert!(!text.contains("panicked"), "{text}");
    }
}
