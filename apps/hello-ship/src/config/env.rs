//! Environment overrides, applied on top of the file.

use super::{ConfigError, ConfigFile, ProviderKind};

/// Applies the documented environment variables to `file`. `lookup` returns a
/// variable's value, so tests need not touch the process environment.
///
/// | variable | sets |
/// |---|---|
/// | `HELLO_SHIP_LISTEN` | `server.listen` |
/// | `MAX_OUTPUT_TOKENS` | `limits.max_output_tokens` |
/// | `MAX_INPUT_TOKENS` | `limits.max_input_tokens` |
/// | `RPM_PER_TENANT` | `limits.rpm_per_tenant` |
/// | `RPM_PER_USER` | `limits.rpm_per_user` |
/// | `LLM_PROVIDER` | the provider of the default route, when no file sets routes |
/// | `OPENAI_BASE_URL` | that route's server, for `LLM_PROVIDER=openai-compatible` |
/// | `PRIMARY_MODEL` | the model of the first route of the `default` alias |
/// | `FALLBACK_MODEL` | the model of its second route, added on the primary's provider if missing |
pub(crate) fn apply_env_overrides(
    file: &mut ConfigFile,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    if let Some(listen) = lookup("HELLO_SHIP_LISTEN") {
        file.server.listen = listen;
    }
    file.limits
        .apply_env(lookup)
        .map_err(|error| ConfigError::Invalid {
            problems: vec![format!("{}: {}", error.setting(), error.message())],
        })?;

    if let Some(provider) = lookup("LLM_PROVIDER") {
        let kind = parse_provider(&provider)?;
        if file.routes.is_empty() {
            file.use_default_routes();
            let route = &mut file.routes[0];
            route.provider = kind;
            match kind {
                ProviderKind::Anthropic => {
                    route.model = "claude-3-5-haiku-latest".to_owned();
                    route.api_key_env = Some("ANTHROPIC_API_KEY".to_owned());
                    route.context_window = Some(200_000);
                }
                ProviderKind::Bedrock => {
                    route.model = "anthropic.claude-3-haiku-20240307-v1:0".to_owned();
                    route.api_key_env = None;
                    route.region = lookup("AWS_REGION").or_else(|| Some("us-east-1".to_owned()));
                }
                ProviderKind::OpenaiCompatible => {
                    // The key is optional for local servers; the URL is not.
                    route.base_url = lookup("OPENAI_BASE_URL");
                    route.api_key_env =
                        lookup("OPENAI_API_KEY").map(|_| "OPENAI_API_KEY".to_owned());
                }
                ProviderKind::Mock => {
                    route.model = "mock".to_owned();
                    route.api_key_env = None;
                }
                ProviderKind::Openai => {}
            }
        }
    }

    let primary_model = lookup("PRIMARY_MODEL");
    let fallback_model = lookup("FALLBACK_MODEL");
    if primary_model.is_some() || fallback_model.is_some() {
        if file.routes.is_empty() {
            file.use_default_routes();
        }
        let chain: Vec<String> = match file.models.get("default") {
            Some(model) => model.chain.clone(),
            None => file.routes.iter().map(|r| r.name.clone()).collect(),
        };
        if let (Some(model), Some(first)) = (primary_model, chain.first()) {
            if let Some(route) = file.routes.iter_mut().find(|r| &r.name == first) {
                route.model = model;
            }
        }
        if let Some(model) = fallback_model {
            set_fallback_model(file, &chain, model);
        }
    }
    Ok(())
}

fn set_fallback_model(file: &mut ConfigFile, chain: &[String], model: String) {
    if let Some(second) = chain.get(1) {
        if let Some(route) = file.routes.iter_mut().find(|r| &r.name == second) {
            route.model = model;
        }
        return;
    }
    let Some(primary) = chain
        .first()
        .and_then(|first| file.routes.iter().find(|r| &r.name == first))
    else {
        return;
    };
    let mut fallback = primary.clone();
    fallback.name = "fallback".to_owned();
    fallback.model = model;
    let mut new_chain = chain.to_vec();
    new_chain.push(fallback.name.clone());
    file.routes.push(fallback);
    file.models.entry("default".to_owned()).or_default().chain = new_chain;
}

fn parse_provider(value: &str) -> Result<ProviderKind, ConfigError> {
    match value.trim() {
        "openai" => Ok(ProviderKind::Openai),
        "openai-compatible" => Ok(ProviderKind::OpenaiCompatible),
        "anthropic" => Ok(ProviderKind::Anthropic),
        "bedrock" => Ok(ProviderKind::Bedrock),
        "mock" => Ok(ProviderKind::Mock),
        _ => Err(ConfigError::Env {
            variable: "LLM_PROVIDER",
            value: value.to_owned(),
            expected: "expected one of openai, openai-compatible, anthropic, bedrock, mock",
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn apply(vars: &[(&str, &str)]) -> Result<ConfigFile, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let mut file = ConfigFile::default();
        apply_env_overrides(&mut file, &|name| vars.get(name).cloned())?;
        Ok(file)
    }

    #[test]
    fn numeric_override_names_variable_on_error() {
        let error = apply(&[("MAX_OUTPUT_TOKENS", "lots")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("MAX_OUTPUT_TOKENS"), "{error}");
        assert!(error.contains("\"lots\""), "{error}");
    }

    #[test]
    fn limits_are_overridden() {
        let file = apply(&[("MAX_OUTPUT_TOKENS", "256"), ("RPM_PER_TENANT", "9")]).unwrap();
        assert_eq!(file.limits.max_output_tokens, 256);
        assert_eq!(file.limits.rpm_per_tenant, Some(9));
    }

    #[test]
    fn anthropic_provider_sets_its_key_variable() {
        let file = apply(&[("LLM_PROVIDER", "anthropic")]).unwrap();
        assert_eq!(file.routes[0].provider, ProviderKind::Anthropic);
        assert_eq!(
            file.routes[0].api_key_env.as_deref(),
            Some("ANTHROPIC_API_KEY")
        );
    }

    #[test]
    fn fallback_model_adds_second_route() {
        let file = apply(&[
            ("PRIMARY_MODEL", "gpt-4.1"),
            ("FALLBACK_MODEL", "gpt-4o-mini"),
        ])
        .unwrap();
        assert_eq!(file.routes.len(), 2);
        assert_eq!(file.routes[0].model, "gpt-4.1");
        assert_eq!(file.routes[1].model, "gpt-4o-mini");
        assert_eq!(file.models["default"].chain, ["primary", "fallback"]);
    }

    #[test]
    fn unknown_provider_is_rejected() {
        let error = apply(&[("LLM_PROVIDER", "gemini")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("LLM_PROVIDER"), "{error}");
    }
}
