//! The TOML file's sections, with their defaults and per-section checks.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use shipped_cost::{LimitsConfig, PriceConfig, StateConfig, TenantConfig};
use shipped_guard::{GuardrailsConfig, GuardrailsOverride};

/// The whole file. Every section is optional; unknown keys are errors so that a
/// typo never silently falls back to a default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ConfigFile {
    pub(crate) server: ServerSection,
    pub(crate) limits: LimitsConfig,
    pub(crate) timeouts: TimeoutsSection,
    pub(crate) retry: RetrySection,
    pub(crate) breaker: BreakerSection,
    pub(crate) routes: Vec<RouteSection>,
    pub(crate) models: BTreeMap<String, ModelSection>,
    pub(crate) degraded: DegradedSection,
    pub(crate) tenants: Vec<TenantConfig>,
    /// USD per million tokens, by model id; merged over the built-in table.
    pub(crate) prices: BTreeMap<String, PriceConfig>,
    /// Where budgets and rate limits live; `None` means the default for the
    /// mode (memory for `--demo`, an SQLite file otherwise).
    pub(crate) state: Option<StateConfig>,
    pub(crate) guardrails: GuardrailsConfig,
    /// Per-tenant guardrail settings, by tenant id, replacing global fields.
    pub(crate) tenant_guardrails: BTreeMap<String, GuardrailsOverride>,
    pub(crate) admin: AdminSection,
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
    /// Time a client may accept no bytes of a response before the connection
    /// closes and its upstream call is dropped, in seconds.
    pub(crate) write_timeout_secs: u64,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            max_body_bytes: 1024 * 1024,
            max_message_chars: 8000,
            heartbeat_secs: 15,
            drain_grace_secs: 30,
            write_timeout_secs: 30,
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
        if self.write_timeout_secs == 0 {
            problems.push("server.write_timeout_secs: must be at least 1 second".into());
        }
    }
}

/// `[retry]`: retries of one route and the retry budget.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RetrySection {
    /// Calls to one route per request, the first included.
    pub(crate) max_attempts: u32,
    pub(crate) base_delay_ms: u64,
    pub(crate) max_delay_ms: u64,
    /// Longest `Retry-After` worth waiting for; a longer one moves to the next route.
    pub(crate) retry_after_cap_secs: u64,
    /// Share of traffic that retries may add, e.g. 0.2 for 20 %.
    pub(crate) budget_ratio: f64,
    /// Time after which no new attempt starts, over all attempts and routes.
    pub(crate) deadline_secs: u64,
}

impl Default for RetrySection {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay_ms: 500,
            max_delay_ms: 8000,
            retry_after_cap_secs: 20,
            budget_ratio: 0.2,
            deadline_secs: 60,
        }
    }
}

/// `[breaker]`: when a failing route is skipped.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct BreakerSection {
    /// Consecutive failures that open the circuit; 0 turns breaking off.
    pub(crate) failure_threshold: u32,
    /// How long an open circuit skips its route before one probe.
    pub(crate) cool_down_secs: u64,
}

impl Default for BreakerSection {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            cool_down_secs: 30,
        }
    }
}

/// `[timeouts]`, and a route's `timeouts` override: deadlines per stage of a
/// provider call, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct TimeoutsSection {
    pub(crate) connect_ms: u64,
    pub(crate) first_token_ms: u64,
    pub(crate) idle_ms: u64,
    pub(crate) total_ms: u64,
}

impl Default for TimeoutsSection {
    fn default() -> Self {
        Self {
            connect_ms: 5_000,
            first_token_ms: 30_000,
            idle_ms: 30_000,
            total_ms: 300_000,
        }
    }
}

impl TimeoutsSection {
    pub(crate) fn to_timeouts(self) -> Result<llm_providers::Timeouts, llm_providers::ConfigError> {
        use std::time::Duration;
        llm_providers::Timeouts::try_new(
            Duration::from_millis(self.connect_ms),
            Duration::from_millis(self.first_token_ms),
            Duration::from_millis(self.idle_ms),
            Duration::from_millis(self.total_ms),
        )
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
    /// Stage deadlines for this route; `[timeouts]` when absent.
    #[serde(default)]
    pub(crate) timeouts: Option<TimeoutsSection>,
    /// Whether an openai or openai-compatible route speaks HTTP/2 from the
    /// first byte, so that every call shares one connection.
    #[serde(default)]
    pub(crate) http2_prior_knowledge: bool,
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
    /// Requests per minute each route after the first may take; 300 when absent.
    #[serde(default)]
    pub(crate) fallback_rpm: Option<u32>,
    /// Whether a stream cut after tokens were sent asks the next route to
    /// continue the partial answer.
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

/// `[admin]`: the key of the admin API (`/admin/*` and forced routes).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct AdminSection {
    /// SHA-256 of the admin key, as 64 hex digits; without it the admin API
    /// rejects every request.
    pub(crate) key_sha256: Option<String>,
}

impl AdminSection {
    /// Parses `key_sha256` into its 32 bytes; `Ok(None)` when it is not set.
    pub(crate) fn key_digest(&self) -> Result<Option<[u8; 32]>, String> {
        let Some(text) = &self.key_sha256 else {
            return Ok(None);
        };
        parse_sha256_hex(text.trim()).map(Some).ok_or_else(|| {
            "admin.key_sha256: is not a SHA-256 hash: expected 64 hex digits, e.g. the output of `printf %s \"$KEY\" | sha256sum`".to_owned()
        })
    }
}

fn parse_sha256_hex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    let mut digest = [0_u8; 32];
    for (index, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[index * 2..index * 2 + 2], 16).ok()?;
    }
    Some(digest)
}

impl ConfigFile {
    /// Replaces the routes with the built-in demo provider, which needs no key.
    /// Circuit breaking is off, so a fault directive in one message cannot
    /// take the demo route out of service for later ones.
    pub(crate) fn use_demo_routes(&mut self) {
        self.breaker.failure_threshold = 0;
        self.routes = vec![RouteSection {
            name: "demo".to_owned(),
            provider: ProviderKind::Mock,
            model: "hello-ship-demo".to_owned(),
            base_url: None,
            api_key_env: None,
            api_key_file: None,
            region: None,
            context_window: None,
            http2_prior_knowledge: false,
            timeouts: None,
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
            http2_prior_knowledge: false,
            timeouts: None,
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
                    "routes[{index}]: an {} route needs api_key_env or api_key_file",
                    route.provider.as_str()
                ));
            }
            if route
                .api_key_env
                .as_deref()
                .is_some_and(|v| v.trim().is_empty())
            {
                problems.push(format!(
                    "routes[{index}].api_key_env: is empty; name the environment variable that contains the key"
                ));
            }
            if let Some(base_url) = &route.base_url {
                let valid = base_url.parse::<http::Uri>().is_ok_and(|uri| {
                    matches!(uri.scheme_str(), Some("http" | "https")) && uri.authority().is_some()
                });
                if !valid {
                    problems.push(format!(
                        "routes[{index}].base_url: {base_url:?} is not an http or https URL, e.g. http://127.0.0.1:8000/v1"
                    ));
                }
            }
            if route.api_key_env.is_some() && route.api_key_file.is_some() {
                problems.push(format!(
                    "routes[{index}]: set api_key_env or api_key_file, not both"
                ));
            }
            if route.provider == ProviderKind::OpenaiCompatible && route.base_url.is_none() {
                problems.push(format!(
                    "routes[{index}].base_url: an openai-compatible route needs the server's URL, e.g. http://127.0.0.1:8000/v1 (OPENAI_BASE_URL for the default route)"
                ));
            }
            let timeouts = route.timeouts.unwrap_or(self.timeouts);
            if let Err(error) = timeouts.to_timeouts() {
                problems.push(format!("routes[{index}].timeouts: {error}"));
            }
            let speaks_openai = matches!(
                route.provider,
                ProviderKind::Openai | ProviderKind::OpenaiCompatible
            );
            if route.http2_prior_knowledge && !speaks_openai {
                problems.push(format!(
                    "routes[{index}].http2_prior_knowledge: only openai and openai-compatible routes support it; remove it from this {} route",
                    route.provider.as_str()
                ));
            }
            if route.provider == ProviderKind::Bedrock && route.region.is_none() {
                problems.push(format!(
                    "routes[{index}].region: a bedrock route needs its AWS region, e.g. us-east-1"
                ));
            }
        }

        if let Err(error) = self.timeouts.to_timeouts() {
            problems.push(format!("timeouts: {error}"));
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
