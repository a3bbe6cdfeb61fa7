//! Builds the providers behind each configured route.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use llm_providers::Provider;
use llm_providers::mock::{MockProvider, MockScript};

use crate::config::{Config, ProviderKind, RouteSection};

/// A configured route: its name, the provider's model id and the client.
#[derive(Debug)]
pub(crate) struct RouteHandle {
    pub(crate) name: String,
    pub(crate) model: String,
    pub(crate) provider: Arc<dyn Provider>,
    pub(crate) credential: Credential,
}

/// Source of a route's credentials, checked by `/ready`.
#[derive(Debug, Clone)]
pub(crate) enum Credential {
    None,
    Env(String),
    File(PathBuf),
    AwsEnv,
}

impl Credential {
    fn for_route(route: &RouteSection) -> Self {
        match (&route.api_key_env, &route.api_key_file, route.provider) {
            (Some(variable), _, _) => Self::Env(variable.clone()),
            (None, Some(path), _) => Self::File(path.clone()),
            (None, None, ProviderKind::Bedrock) => Self::AwsEnv,
            (None, None, _) => Self::None,
        }
    }

    /// Explains why the credential is unusable, naming the setting but never its
    /// value; `None` when it is usable.
    pub(crate) fn missing_reason(&self) -> Option<String> {
        let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
        match self {
            Self::None => None,
            Self::Env(variable) if set(variable) => None,
            Self::Env(variable) => Some(format!("missing API key: set {variable}")),
            Self::File(path) => match std::fs::metadata(path) {
                Ok(meta) if meta.len() > 0 => None,
                Ok(_) => Some(format!("API key file {} is empty", path.display())),
                Err(_) => Some(format!("API key file {} cannot be read", path.display())),
            },
            Self::AwsEnv if set("AWS_ACCESS_KEY_ID") && set("AWS_SECRET_ACCESS_KEY") => None,
            Self::AwsEnv => Some(
                "missing AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into(),
            ),
        }
    }
}

pub(crate) fn build_routes(config: &Config) -> Vec<RouteHandle> {
    config
        .file
        .routes
        .iter()
        .map(|route| RouteHandle {
            name: route.name.clone(),
            model: route.model.clone(),
            provider: build_provider(route),
            credential: Credential::for_route(route),
        })
        .collect()
}

fn build_provider(route: &RouteSection) -> Arc<dyn Provider> {
    match route.provider {
        ProviderKind::Mock => {
            let mock = &route.mock;
            let mut script = MockScript::default()
                .time_to_first_token(Duration::from_millis(mock.ttft_ms))
                .token_delay(Duration::from_millis(mock.token_delay_ms))
                .directives(mock.directives);
            if let Some(answer) = &mock.answer {
                script = script.answer(answer.clone());
            }
            Arc::new(MockProvider::new(script))
        }
        // TODO: build the OpenAI, Anthropic and Bedrock clients; until then these
        // routes fail every call and the chain moves on to its next route.
        ProviderKind::Openai
        | ProviderKind::OpenaiCompatible
        | ProviderKind::Anthropic
        | ProviderKind::Bedrock => Arc::new(MockProvider::new(MockScript::default().fault(
            llm_providers::mock::MockFault::Status {
                status: 401,
                retry_after_secs: None,
            },
        ))),
    }
}
