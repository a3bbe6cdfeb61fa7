//! The TOML file's sections, with their defaults and per-section checks.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// The whole file. Every section is optional; unknown keys are errors so that a
/// typo never silently falls back to a default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ConfigFile {
    pub(crate) server: ServerSection,
    pub(crate) limits: LimitsSection,
    pub(crate) routes: Vec<RouteSection>,
    pub(crate) models: BTreeMap<String, ModelSection>,
    pub(crate) degraded: DegradedSection,
}

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ServerSection {
    pub(crate) listen: String,
    /// Largest accepted request body, in bytes.
    pub(crate) max_body_bytes: u64,
    /// Largest accepted message, in characters.
    pub(crate) max_message_chars: usize,
    /// Silence on a stream after which a heartbeat comment is sent, in seconds.
    pub(crate) heartbeat_secs: u64,
    /// Time in-flight requests get to finish after SIGTERM, in seconds.
    pub(crate) drain_grace_secs: u64,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            max_body_bytes: 1024 * 1024,
            max_message_chars: 8000,
            heartbeat_secs: 15,
            drain_grace_secs: 30,
        }
    }
}

impl ServerSection {
    pub(crate) fn check(&self, problems: &mut Vec<String>) {
        if self.max_body_bytes == 0 {
            problems.push("server.max_body_bytes: must be at least 1".into());
        }
        if self.max_message_chars == 0 {
            problems.push("server.max_message_chars: must be at least 1".into());
        }
        if self.heartbeat_secs == 0 {
            problems.push("server.heartbeat_secs: must be at least 1 second".into());
        }
    }
}

/// `[limits]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct LimitsSection {
    /// Output-token cap for every request (`MAX_OUTPUT_TOKENS`).
    pub(crate) max_output_tokens: u32,
    /// Input-token limit for every request.
    pub(crate) max_input_tokens: u32,
    /// Requests per minute per tenant (`RPM_PER_TENANT`).
    pub(crate) rpm_per_tenant: u32,
    /// Requests per minute per end user.
    pub(crate) rpm_per_user: u32,
}

impl Default for LimitsSection {
    fn default() -> Self {
        Self {
            max_output_tokens: 1024,
            max_input_tokens: 16_000,
            rpm_per_tenant: 600,
            rpm_per_user: 60,
        }
    }
}

impl LimitsSection {
    pub(crate) fn check(&self, problems: &mut Vec<String>) {
        if self.max_output_tokens == 0 {
            problems.push("limits.max_output_tokens: must be at least 1".into());
        }
        if self.max_input_tokens == 0 {
            problems.push("limits.max_input_tokens: must be at least 1".into());
        }
    }
}

/// Provider client of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum ProviderKind {
    Openai,
    OpenaiCompatible,
    Anthropic,
    Bedrock,
    Mock,
}

impl ProviderKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Openai => "openai",
            Self::OpenaiCompatible => "openai-compatible",
            Self::Anthropic => "anthropic",
            Self::Bedrock => "bedrock",
            Self::Mock => "mock",
        }
    }
}

/// One `[[routes]]` entry: a provider and model the chain can call.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RouteSection {
    pub(crate) name: String,
    pub(crate) provider: ProviderKind,
    pub(crate) model: String,
    #[serde(default)]
    pub(crate) base_url: Option<String>,
    /// Environment variable that contains the API key.
    #[serde(default)]
    pub(crate) api_key_env: Option<String>,
    /// File that contains the API key, e.g. a mounted Kubernetes secret.
    #[serde(default)]
    pub(crate) api_key_file: Option<PathBuf>,
    /// AWS region, for Bedrock.
    #[serde(default)]
    pub(crate) region: Option<String>,
    /// Context window in tokens, used to pick a larger route on overflow.
    #[serde(default)]
    pub(crate) context_window: Option<u32>,
    /// Behaviour of a `mock` route.
    #[serde(default)]
    pub(crate) mock: MockSection,
}

/// `[routes.mock]`: how a mock route answers.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct MockSection {
    /// Fixed answer; without it the mock echoes the question.
    pub(crate) answer: Option<String>,
    /// Delay before the first token, in milliseconds.
    pub(crate) ttft_ms: u64,
    /// Delay between tokens, in milliseconds.
    pub(crate) token_delay_ms: u64,
    /// Whether `mock:` directives in a message may inject faults.
    pub(crate) directives: bool,
}

/// `[models.<alias>]`: the chain of routes a client's `model` alias uses.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModelSection {
    pub(crate) chain: Vec<String>,
    // TODO: enforce the fallback request cap and continuation mode in the chain.
    #[expect(dead_code, reason = "parsed and validated, not yet enforced")]
    #[serde(default)]
    pub(crate) fallback_rpm: Option<u32>,
    #[expect(dead_code, reason = "parsed and validated, not yet enforced")]
    #[serde(default)]
    pub(crate) continue_on_fallback: bool,
}

/// `[degraded]`: the answer given when every route failed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct DegradedSection {
    pub(crate) enabled: bool,
    pub(crate) message: String,
}

impl Default for DegradedSection {
    fn default() -> Self {
        Self {
            enabled: true,
            message: "The assistant is unavailable right now. Please try again in a few minutes."
                .to_owned(),
        }
    }
}

impl ConfigFile {
    /// Replaces the routes with the built-in demo provider, which needs no key.
    pub(crate) fn use_demo_routes(&mut self) {
        self.routes = vec![RouteSection {
            name: "demo".to_owned(),
            provider: ProviderKind::Mock,
            model: "hello-ship-demo".to_owned(),
            base_url: None,
            api_key_env: None,
            api_key_file: None,
            region: None,
            context_window: None,
            mock: MockSection {
                answer: None,
                ttft_ms: 150,
                token_delay_ms: 25,
                directives: true,
            },
        }];
        self.models = BTreeMap::from([(
            "default".to_owned(),
            ModelSection {
                chain: vec!["demo".to_owned()],
                ..ModelSection::default()
            },
        )]);
    }

    /// Configures OpenAI's gpt-4o-mini with `OPENAI_API_KEY`, the route used when
    /// neither a file nor `--demo` gives one.
    pub(crate) fn use_default_routes(&mut self) {
        self.routes = vec![RouteSection {
            name: "primary".to_owned(),
            provider: ProviderKind::Openai,
            model: "gpt-4o-mini".to_owned(),
            base_url: None,
            api_key_env: Some("OPENAI_API_KEY".to_owned()),
            api_key_file: None,
            region: None,
            context_window: Some(128_000),
            mock: MockSection::default(),
        }];
    }

    /// Checks routes and model aliases, and gives `default` the routes in file
    /// order when no `[models.default]` is set.
    pub(crate) fn check_routes(&mut self, problems: &mut Vec<String>) {
        let mut names: Vec<&str> = Vec::new();
        for (index, route) in self.routes.iter().enumerate() {
            if route.name.trim().is_empty() {
                problems.push(format!("routes[{index}].name: must not be empty"));
            } else if names.contains(&route.name.as_str()) {
                problems.push(format!(
                    "routes[{index}].name: {:?} is used by an earlier route; names must be unique",
                    route.name
                ));
            }
            names.push(&route.name);
            if route.model.trim().is_empty() {
                problems.push(format!("routes[{index}].model: must not be empty"));
            }
            let needs_key = matches!(
                route.provider,
                ProviderKind::Openai | ProviderKind::Anthropic
            );
            if needs_key && route.api_key_env.is_none() && route.api_key_file.is_none() {
                problems.push(format!(
                    "routes[{index}]: a {} route needs api_key_env or api_key_file",
                    route.provider.as_str()
                ));
            }
            if route.api_key_env.is_some() && route.api_key_file.is_some() {
                problems.push(format!(
                    "routes[{index}]: set api_key_env or api_key_file, not both"
                ));
            }
            if route.provider == ProviderKind::OpenaiCompatible && route.base_url.is_none() {
                problems.push(format!(
                    "routes[{index}].base_url: an openai-compatible route needs the server's URL, e.g. http://127.0.0.1:8000/v1"
                ));
            }
            if route.provider == ProviderKind::Bedrock && route.region.is_none() {
                problems.push(format!(
                    "routes[{index}].region: a bedrock route needs its AWS region, e.g. us-east-1"
                ));
            }
        }

        if !self.models.contains_key("default") && !self.routes.is_empty() {
            let chain = self.routes.iter().map(|r| r.name.clone()).collect();
            self.models.insert(
                "default".to_owned(),
                ModelSection {
                    chain,
                    ..ModelSection::default()
                },
            );
        }
        for (alias, model) in &self.models {
            if model.chain.is_empty() {
                problems.push(format!(
                    "models.{alias}.chain: must name at least one route"
                ));
            }
            for route in &model.chain {
                if !self.routes.iter().any(|r| &r.name == route) {
                    problems.push(format!(
                        "models.{alias}.chain: no route is named {route:?}; add a [[routes]] entry with that name"
                    ));
                }
            }
        }
    }
}
