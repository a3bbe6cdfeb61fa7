//! Builds the provider client behind each configured route, and rebuilds it
//! when the route's key file changes, so keys rotate without a restart.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures_util::StreamExt;
use llm_providers::anthropic::AnthropicProvider;
use llm_providers::bedrock::{AwsCredentials, BedrockProvider};
use llm_providers::mock::{MockProvider, MockScript};
use llm_providers::openai::OpenAiProvider;
use llm_providers::{BoxFuture, ChatStream, Provider, ProviderError, ProviderRequest, Timeouts};
use secrecy::SecretString;
use shipped_core::{Completion, UpstreamErrorKind};
use shipped_obs::Metrics;

use crate::config::{Config, ProviderKind, RouteSection};

/// A configured route: its name, the provider's model id and the client.
#[derive(Debug)]
pub(crate) struct RouteHandle {
    pub(crate) name: String,
    pub(crate) model: String,
    pub(crate) context_window: Option<u32>,
    pub(crate) timeouts: Timeouts,
    pub(crate) provider: Arc<ReloadingProvider>,
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
                Ok(meta) if !meta.is_file() => Some(format!(
                    "API key file {} is not a regular file",
                    path.display()
                )),
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

    /// Reads the key, trimming the newline that files usually end with.
    fn read_key(&self) -> Option<String> {
        let key = match self {
            Self::Env(variable) => std::env::var(variable).ok()?,
            Self::File(path) => std::fs::read_to_string(path).ok()?,
            Self::None | Self::AwsEnv => return None,
        };
        let key = key.trim().to_owned();
        (!key.is_empty()).then_some(key)
    }
}

pub(crate) fn build_routes(config: &Config, metrics: &Arc<Metrics>) -> Vec<RouteHandle> {
    config
        .file
        .routes
        .iter()
        .map(|route| {
            let section = route.timeouts.unwrap_or(config.file.timeouts);
            // Validation has already rejected bad timeouts; the default is a
            // fallback that keeps this function total.
            let timeouts = section.to_timeouts().unwrap_or_default();
            let credential = Credential::for_route(route);
            let provider = Arc::new(ReloadingProvider::new(
                route.clone(),
                timeouts,
                credential.clone(),
                metrics.clone(),
            ));
            RouteHandle {
                name: route.name.clone(),
                model: route.model.clone(),
                context_window: route.context_window,
                timeouts,
                provider,
                credential,
            }
        })
        .collect()
}

/// A route's client, rebuilt when its key changes.
///
/// Calls go to the client current at the time of the call; a call in flight
/// keeps the client it started with.
#[derive(Debug)]
pub(crate) struct ReloadingProvider {
    route: RouteSection,
    timeouts: Timeouts,
    credential: Credential,
    current: RwLock<Arc<dyn Provider>>,
    /// The key the current client was built with, to detect rotation.
    loaded_key: Mutex<Option<String>>,
    /// Cleared by the admin API to take the route out of service; see
    /// [`ReloadingProvider::set_enabled`].
    enabled: AtomicBool,
    /// Counts every failed call, by route and error kind.
    metrics: Arc<Metrics>,
}

impl ReloadingProvider {
    fn new(
        route: RouteSection,
        timeouts: Timeouts,
        credential: Credential,
        metrics: Arc<Metrics>,
    ) -> Self {
        let key = credential.read_key();
        let client = build_client(&route, timeouts, key.clone());
        Self {
            route,
            timeouts,
            credential,
            current: RwLock::new(client),
            loaded_key: Mutex::new(key),
            enabled: AtomicBool::new(true),
            metrics,
        }
    }

    fn record_failure(&self, error: &ProviderError) {
        self.metrics
            .record_upstream_error(&self.route.name, error.kind().as_str());
    }

    /// Takes the route out of service or puts it back. A disabled route fails
    /// each call at once as overloaded, without touching the network, so
    /// chains fall back to their next route.
    ///
    /// NOTE: these failures count toward the route's circuit breaker in each
    /// chain, so a route can stay skipped for the breaker's cool-down after it
    /// is enabled again. The switch lives in this process only: each replica
    /// has its own, and a restart enables every route.
    pub(crate) fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::Relaxed);
    }

    pub(crate) fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    fn disabled_error() -> ProviderError {
        ProviderError::new(UpstreamErrorKind::Overloaded)
    }

    fn client(&self) -> Arc<dyn Provider> {
        match self.current.read() {
            Ok(client) => Arc::clone(&client),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Re-reads the key and rebuilds the client if it changed. Cheap enough to
    /// call every few seconds: one small file read for file-backed keys.
    pub(crate) fn refresh(&self) {
        if matches!(self.credential, Credential::None | Credential::AwsEnv) {
            return;
        }
        let key = self.credential.read_key();
        let Ok(mut loaded) = self.loaded_key.lock() else {
            return;
        };
        if *loaded == key {
            return;
        }
        let client = build_client(&self.route, self.timeouts, key.clone());
        if let Ok(mut current) = self.current.write() {
            *current = client;
        }
        *loaded = key;
        tracing::info!(route = %self.route.name, "route_key_reloaded");
    }
}

impl Provider for ReloadingProvider {
    fn kind(&self) -> &'static str {
        self.route.provider.as_str()
    }

    fn complete<'a>(
        &'a self,
        request: &'a ProviderRequest,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        if !self.is_enabled() {
            return Box::pin(async { Err(Self::disabled_error()) });
        }
        let client = self.client();
        Box::pin(async move {
            let result = client.complete(request).await;
            if let Err(error) = &result {
                self.record_failure(error);
            }
            result
        })
    }

    fn stream<'a>(
        &'a self,
        request: &'a ProviderRequest,
    ) -> BoxFuture<'a, Result<ChatStream, ProviderError>> {
        if !self.is_enabled() {
            return Box::pin(async { Err(Self::disabled_error()) });
        }
        let client = self.client();
        Box::pin(async move {
            let stream = match client.stream(request).await {
                Ok(stream) => stream,
                Err(error) => {
                    self.record_failure(&error);
                    return Err(error);
                }
            };
            // Failures inside the stream count too, e.g. an error event after
            // HTTP 200 or a cut connection.
            let metrics = self.metrics.clone();
            let route = self.route.name.clone();
            let counted: ChatStream = Box::pin(stream.inspect(move |item| {
                if let Err(error) = item {
                    metrics.record_upstream_error(&route, error.kind().as_str());
                }
            }));
            Ok(counted)
        })
    }
}

fn build_client(
    route: &RouteSection,
    timeouts: Timeouts,
    key: Option<String>,
) -> Arc<dyn Provider> {
    let built: Result<Arc<dyn Provider>, llm_providers::ConfigError> = match route.provider {
        ProviderKind::Mock => Ok(Arc::new(MockProvider::new(mock_script(route)))),
        ProviderKind::Openai | ProviderKind::OpenaiCompatible => {
            let mut builder = if route.provider == ProviderKind::Openai {
                OpenAiProvider::builder()
            } else {
                OpenAiProvider::compatible_builder()
            };
            if let Some(base_url) = &route.base_url {
                builder = builder.base_url(base_url.clone());
            }
            if let Some(key) = key {
                builder = builder.api_key(SecretString::from(key));
            }
            if route.http2_prior_knowledge {
                builder = builder.http2_prior_knowledge();
            }
            builder
                .timeouts(timeouts)
                .build()
                .map(|p| Arc::new(p) as Arc<dyn Provider>)
        }
        ProviderKind::Anthropic => {
            let mut builder = AnthropicProvider::builder().timeouts(timeouts);
            if let Some(base_url) = &route.base_url {
                builder = builder.base_url(base_url.clone());
            }
            if let Some(key) = key {
                builder = builder.api_key(SecretString::from(key));
            }
            builder.build().map(|p| Arc::new(p) as Arc<dyn Provider>)
        }
        ProviderKind::Bedrock => AwsCredentials::from_env().and_then(|credentials| {
            let mut builder = BedrockProvider::builder()
                .region(route.region.clone().unwrap_or_default())
                .credentials(credentials)
                .timeouts(timeouts);
            if let Some(base_url) = &route.base_url {
                builder = builder.base_url(base_url.clone());
            }
            builder.build().map(|p| Arc::new(p) as Arc<dyn Provider>)
        }),
    };
    match built {
        Ok(client) => client,
        Err(error) => {
            // A route that cannot be built (most often: no key yet) fails each
            // call at once, so the chain moves on, and /ready names the cause.
            tracing::warn!(route = %route.name, error = %error, "route_unavailable");
            Arc::new(UnavailableProvider {
                kind: route.provider.as_str(),
            })
        }
    }
}

fn mock_script(route: &RouteSection) -> MockScript {
    let mock = &route.mock;
    let mut script = MockScript::default()
        .time_to_first_token(Duration::from_millis(mock.ttft_ms))
        .token_delay(Duration::from_millis(mock.token_delay_ms))
        .directives(mock.directives);
    if let Some(answer) = &mock.answer {
        script = script.answer(answer.clone());
    }
    script
}

/// The client of a route whose configuration is incomplete: every call fails
/// as an authentication error without touching the network.
#[derive(Debug)]
struct UnavailableProvider {
    kind: &'static str,
}

impl Provider for UnavailableProvider {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn complete<'a>(
        &'a self,
        _request: &'a ProviderRequest,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        Box::pin(async { Err(ProviderError::new(UpstreamErrorKind::Authentication)) })
    }

    fn stream<'a>(
        &'a self,
        _request: &'a ProviderRequest,
    ) -> BoxFuture<'a, Result<ChatStream, ProviderError>> {
        Box::pin(async { Err(ProviderError::new(UpstreamErrorKind::Authentication)) })
    }
}
