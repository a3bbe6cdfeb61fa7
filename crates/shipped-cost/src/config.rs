//! Configuration sections read by this crate: `[limits]`, `[[tenants]]`,
//! `[prices."model"]` and `[state]`.
//!
//! The server's own configuration type embeds these as fields, so each type
//! rejects unknown keys itself.

use std::path::PathBuf;

use serde::Deserialize;

/// A setting that failed validation, with its dotted name.
///
/// ```
/// use shipped_cost::LimitsConfig;
///
/// let limits = LimitsConfig { max_output_tokens: 0, ..LimitsConfig::default() };
/// let error = limits.validate().unwrap_err();
/// assert_eq!(error.setting(), "limits.max_output_tokens");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid setting `{setting}`: {message}")]
pub struct ConfigError {
    setting: String,
    message: String,
}

impl ConfigError {
    /// Creates an error for the named setting.
    pub fn new(setting: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            setting: setting.into(),
            message: message.into(),
        }
    }

    /// The dotted name of the setting, e.g. `tenants[0].key_sha256`.
    pub fn setting(&self) -> &str {
        &self.setting
    }

    /// What is wrong with the value and what to write instead.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The `[limits]` section: caps that apply to every tenant.
///
/// ```
/// use shipped_cost::LimitsConfig;
///
/// let limits: LimitsConfig = toml::from_str("max_output_tokens = 512\nrpm_per_tenant = 100").unwrap();
/// assert_eq!(limits.max_output_tokens, 512);
/// assert_eq!(limits.max_input_tokens, 16_000);
/// assert_eq!(limits.rpm_per_user, Some(60));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Highest `max_tokens` any request gets (`MAX_OUTPUT_TOKENS`).
    pub max_output_tokens: u32,
    /// Highest input size in tokens, counted or estimated before the call.
    pub max_input_tokens: u32,
    /// Requests per minute per tenant when the tenant sets no `rpm`
    /// (`RPM_PER_TENANT`); `None` for no limit.
    pub rpm_per_tenant: Option<u32>,
    /// Requests per minute per user of a tenant when the tenant sets no
    /// `rpm_per_user`; `None` for no limit.
    pub rpm_per_user: Option<u32>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_output_tokens: 1024,
            max_input_tokens: 16_000,
            rpm_per_tenant: Some(600),
            rpm_per_user: Some(60),
        }
    }
}

impl LimitsConfig {
    /// Checks that every limit is positive.
    ///
    /// # Errors
    ///
    /// Returns a [`ConfigError`] naming the first limit that is zero.
    pub fn validate(&self) -> Result<(), ConfigError> {
        positive("limits.max_output_tokens", self.max_output_tokens)?;
        positive("limits.max_input_tokens", self.max_input_tokens)?;
        if let Some(rpm) = self.rpm_per_tenant {
            positive("limits.rpm_per_tenant", rpm)?;
        }
        if let Some(rpm) = self.rpm_per_user {
            positive("limits.rpm_per_user", rpm)?;
        }
        Ok(())
    }

    /// Applies the environment overrides `MAX_OUTPUT_TOKENS`,
    /// `MAX_INPUT_TOKENS`, `RPM_PER_TENANT` and `RPM_PER_USER`.
    ///
    /// `lookup` reads one variable, e.g. `|name| std::env::var(name).ok()`.
    ///
    /// ```
    /// use shipped_cost::LimitsConfig;
    ///
    /// let mut limits = LimitsConfig::default();
    /// limits
    ///     .apply_env(|name| (name == "RPM_PER_TENANT").then(|| "30".to_owned()))
    ///     .unwrap();
    /// assert_eq!(limits.rpm_per_tenant, Some(30));
    /// ```
    ///
    /// # Errors
    ///
    /// Returns a [`ConfigError`] naming the variable when its value is not a
    /// positive whole number.
    pub fn apply_env(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        let read = |name: &str| -> Result<Option<u32>, ConfigError> {
            let Some(value) = lookup(name) else {
                return Ok(None);
            };
            match value.trim().parse::<u32>() {
                Ok(number) if number > 0 => Ok(Some(number)),
                _ => Err(ConfigError::new(
                    name,
                    format!("{value:?} is not a positive whole number"),
                )),
            }
        };
        if let Some(value) = read("MAX_OUTPUT_TOKENS")? {
            self.max_output_tokens = value;
        }
        if let Some(value) = read("MAX_INPUT_TOKENS")? {
            self.max_input_tokens = value;
        }
        if let Some(value) = read("RPM_PER_TENANT")? {
            self.rpm_per_tenant = Some(value);
        }
        if let Some(value) = read("RPM_PER_USER")? {
            self.rpm_per_user = Some(value);
        }
        Ok(())
    }
}

/// One `[[tenants]]` entry.
///
/// ```
/// use shipped_cost::TenantConfig;
///
/// let tenant: TenantConfig = toml::from_str(r#"
///     id = "acme"
///     key_sha256 = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
///     daily_budget_usd = 50.0
///     max_output_tokens = 512
///     rpm = 120
/// "#).unwrap();
/// assert_eq!(tenant.rpm, Some(120));
/// assert_eq!(tenant.rpm_per_user, None);
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Tenant id as it appears in logs, metrics and the usage report.
    pub id: String,
    /// Lowercase or uppercase hex SHA-256 of the tenant's bearer key; never the key.
    pub key_sha256: String,
    /// Spending limit per UTC day in USD; `None` for no limit.
    #[serde(default)]
    pub daily_budget_usd: Option<f64>,
    /// Output cap below the global `limits.max_output_tokens`.
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
    /// Requests per minute for the whole tenant, replacing `limits.rpm_per_tenant`.
    #[serde(default)]
    pub rpm: Option<u32>,
    /// Requests per minute per user, replacing `limits.rpm_per_user`.
    #[serde(default)]
    pub rpm_per_user: Option<u32>,
}

/// One `[prices."model"]` table, in USD per million tokens.
///
/// Omitted prices fall back to `input` (cached input, cache write) or
/// `output` (reasoning).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceConfig {
    /// Uncached input tokens.
    pub input: f64,
    /// Output tokens.
    pub output: f64,
    /// Input tokens read from the prompt cache.
    #[serde(default)]
    pub cached_input: Option<f64>,
    /// Input tokens written to the prompt cache.
    #[serde(default)]
    pub cache_write: Option<f64>,
    /// Reasoning tokens, which are part of the output.
    #[serde(default)]
    pub reasoning: Option<f64>,
}

/// Where budgets, the usage ledger and rate-limit state are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// An SQLite file: durable, for one replica.
    #[default]
    Sqlite,
    /// A Redis server shared by several replicas.
    Redis,
    /// Process memory: lost on restart, for tests and trials.
    Memory,
}

/// What admission does while the state store cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnUnavailable {
    /// Admit the request without a budget or rate check, logging a warning.
    Open,
    /// Reject the request with a 503-class error.
    #[default]
    Closed,
}

/// The `[state]` section.
///
/// ```
/// use shipped_cost::{Backend, OnUnavailable, StateConfig};
///
/// let state: StateConfig = toml::from_str("backend = \"redis\"\nurl_env = \"REDIS_URL\"\non_unavailable = \"open\"").unwrap();
/// assert_eq!(state.backend, Backend::Redis);
/// assert_eq!(state.on_unavailable, OnUnavailable::Open);
/// state.validate().unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// The store kind.
    pub backend: Backend,
    /// SQLite file path, for `backend = "sqlite"`.
    pub path: PathBuf,
    /// Name of the environment variable that holds the Redis URL, for
    /// `backend = "redis"`; the URL may carry a password, so it is never inline.
    pub url_env: Option<String>,
    /// Prefix of every Redis key, so several deployments can share a server.
    pub key_prefix: String,
    /// What admission does while the store cannot be reached.
    pub on_unavailable: OnUnavailable,
    /// Seconds after which an unsettled reservation stops counting against the
    /// budget; it must outlast the longest request.
    pub reservation_ttl_secs: u64,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            backend: Backend::Sqlite,
            path: PathBuf::from("hello-ship.db"),
            url_env: None,
            key_prefix: "hello-ship:".to_owned(),
            on_unavailable: OnUnavailable::Closed,
            reservation_ttl_secs: 900,
        }
    }
}

impl StateConfig {
    /// Checks that the settings the chosen backend needs are present.
    ///
    /// # Errors
    ///
    /// Returns a [`ConfigError`] for an empty `path` with SQLite, a missing or
    /// empty `url_env` with Redis, or a zero `reservation_ttl_secs`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self.backend {
            Backend::Sqlite if self.path.as_os_str().is_empty() => Err(ConfigError::new(
                "state.path",
                "is empty: name the SQLite file, e.g. \"hello-ship.db\"",
            )),
            Backend::Redis if self.url_env.as_deref().is_none_or(str::is_empty) => {
                Err(ConfigError::new(
                    "state.url_env",
                    "is missing: name the environment variable that holds the Redis URL, e.g. \"REDIS_URL\"",
                ))
            }
            _ if self.reservation_ttl_secs == 0 => Err(ConfigError::new(
                "state.reservation_ttl_secs",
                "must be positive and longer than the longest request",
            )),
            _ => Ok(()),
        }
    }
}

fn positive(setting: &str, value: u32) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(ConfigError::new(setting, "must be at least 1"));
    }
    Ok(())
}
