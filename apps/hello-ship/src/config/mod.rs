//! Configuration: one TOML file, environment overrides, and validation at start.
//!
//! Loading order: built-in defaults, then the file (`--config` or
//! `HELLO_SHIP_CONFIG`), then environment overrides, then command-line flags.
//! [`Config::validate`] reports every problem at once, each naming its setting.

mod checks;
mod env;
mod file;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub(crate) use env::apply_env_overrides;
pub(crate) use file::{ConfigFile, ProviderKind, RouteSection, TimeoutsSection};

/// A configuration problem, named by its setting.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid value {value:?} in {variable}: {expected}")]
    Env {
        variable: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("invalid configuration:\n{}", .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid { problems: Vec<String> },
}

/// The validated configuration the server runs with.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) file: ConfigFile,
    pub(crate) listen: SocketAddr,
    pub(crate) demo: bool,
}

impl Config {
    /// Reads `path` (or the built-in defaults when `None`), applies environment
    /// overrides and the command-line flags, and validates the result.
    pub(crate) fn load(
        path: Option<&Path>,
        listen_flag: Option<&str>,
        demo: bool,
    ) -> Result<Self, ConfigError> {
        let mut file = match path {
            Some(path) => read_file(path)?,
            None => ConfigFile::default(),
        };
        let environment = |name: &str| std::env::var(name).ok();
        apply_env_overrides(&mut file, &environment)?;
        if let Some(listen) = listen_flag {
            file.server.listen = listen.to_owned();
        }
        if demo {
            file.use_demo_routes();
        }
        if file.routes.is_empty() {
            file.use_default_routes();
        }
        Self::validate(file, demo)
    }

    /// Checks every setting and returns all problems together.
    pub(crate) fn validate(mut file: ConfigFile, demo: bool) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();

        let listen = match file.server.listen.parse::<SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                problems.push(format!(
                    "server.listen: {:?} is not an address such as 127.0.0.1:8080",
                    file.server.listen
                ));
                None
            }
        };
        file.server.check(&mut problems);
        if let Err(error) = file.limits.validate() {
            problems.push(format!("{}: {}", error.setting(), error.message()));
        }
        file.check_routes(&mut problems);
        file.check_durations(&mut problems);
        file.check_cost(&mut problems);
        file.check_guardrails(&mut problems);
        file.check_admin(&mut problems);
        if file.degraded.enabled && file.degraded.message.trim().is_empty() {
            problems
                .push("degraded.message: must not be empty while degraded.enabled is true".into());
        }

        match (listen, problems.is_empty()) {
            (Some(listen), true) => Ok(Self { file, listen, demo }),
            _ => Err(ConfigError::Invalid { problems }),
        }
    }
}

fn read_file(path: &Path) -> Result<ConfigFile, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|error| ConfigError::Parse {
        path: path.to_owned(),
        message: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: "test.toml".into(),
            message: e.to_string(),
        })?;
        Config::validate(file, false)
    }

    #[test]
    fn bad_tenant_and_price_are_named() {
        let text = r#"
            [[tenants]]
            id = "acme"
            key_sha256 = "not-hex"
            [prices."gpt-x"]
            input = -1.0
            output = 1.0
            [guardrails]
            input_deny_patterns = ["(unclosed"]
        "#;
        let error = parse(text).unwrap_err().to_string();
        assert!(error.contains("tenants[0]"), "{error}");
        assert!(error.contains("prices"), "{error}");
        assert!(error.contains("(unclosed"), "{error}");
    }

    #[test]
    fn unknown_key_is_rejected() {
        let error = parse("[server]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n").unwrap_err();
        assert!(error.to_string().contains("lisen"), "{error}");
    }

    #[test]
    fn every_problem_is_reported() {
        let text = r#"
            [server]
            listen = "nowhere"
            heartbeat_secs = 0
            [limits]
            max_output_tokens = 0
            [[routes]]
            name = "a"
            provider = "mock"
            model = "m"
            [models.default]
            chain = ["a", "missing"]
        "#;
        let error = parse(text).unwrap_err().to_string();
        assert!(error.contains("server.listen"), "{error}");
        assert!(error.contains("server.heartbeat_secs"), "{error}");
        assert!(error.contains("limits.max_output_tokens"), "{error}");
        assert!(error.contains("models.default.chain"), "{error}");
        assert!(error.contains("\"missing\""), "{error}");
    }

    #[test]
    fn duplicate_route_names_are_rejected() {
        let text = r#"
            [[routes]]
            name = "a"
            provider = "mock"
            model = "m"
            [[routes]]
            name = "a"
            provider = "mock"
            model = "n"
        "#;
        let error = parse(text).unwrap_err().to_string();
        assert!(error.contains("routes[1].name"), "{error}");
    }

    #[test]
    fn default_alias_follows_route_order() {
        let text = r#"
            [[routes]]
            name = "first"
            provider = "mock"
            model = "m"
            [[routes]]
            name = "second"
            provider = "mock"
            model = "n"
        "#;
        let config = parse(text).unwrap();
        assert_eq!(config.file.models["default"].chain, ["first", "second"]);
    }
}
