//! `GET /v1/models`: the configured model aliases, in OpenAI's list shape or,
//! for Anthropic clients, in Anthropic's.

use http::{HeaderMap, Response, StatusCode};
use serde::Serialize;
use shipped_core::RequestId;

use super::error_response;
use crate::app::App;
use crate::routes::compat::authenticate;
use crate::server::response::{Body, json};

#[derive(Debug, Serialize)]
struct ModelList<'a> {
    object: &'static str,
    data: Vec<OpenAiModel<'a>>,
}

#[derive(Debug, Serialize)]
struct OpenAiModel<'a> {
    id: &'a str,
    object: &'static str,
    /// Always 0, because an alias has no creation date.
    created: u64,
    owned_by: &'static str,
}

#[derive(Debug, Serialize)]
struct AnthropicModelList<'a> {
    data: Vec<AnthropicModel<'a>>,
    has_more: bool,
    first_id: Option<&'a str>,
    last_id: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct AnthropicModel<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    display_name: &'a str,
    /// The Unix epoch, because an alias has no creation date.
    created_at: &'static str,
}

/// `GET /v1/models`: the configured model aliases, authenticated like chat.
/// A request with an `anthropic-version` header gets Anthropic's list shape,
/// since both SDKs call this path.
pub(crate) async fn list_models(
    app: &App,
    headers: &HeaderMap,
    request_id: &RequestId,
) -> Response<Body> {
    let anthropic = headers.contains_key("anthropic-version");
    if let Err(error) = authenticate(app, headers) {
        return if anthropic {
            crate::routes::anthropic::error_response(error, request_id).await
        } else {
            error_response(error, request_id).await
        };
    }
    let aliases = app.alias_names();
    if anthropic {
        let list = AnthropicModelList {
            data: aliases
                .iter()
                .map(|alias| AnthropicModel {
                    kind: "model",
                    id: alias,
                    display_name: alias,
                    created_at: "1970-01-01T00:00:00Z",
                })
                .collect(),
            has_more: false,
            first_id: aliases.first().copied(),
            last_id: aliases.last().copied(),
        };
        return json(StatusCode::OK, &list);
    }
    let list = ModelList {
        object: "list",
        data: aliases
            .iter()
            .map(|alias| OpenAiModel {
                id: alias,
                object: "model",
                created: 0,
                owned_by: "hello-ship",
            })
            .collect(),
    };
    json(StatusCode::OK, &list)
}
