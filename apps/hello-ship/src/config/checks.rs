//! Checks of the sections that the library crates define.

use shipped_cost::{PriceTable, TenantKeys};

use super::ConfigFile;

impl ConfigFile {
    /// Checks tenants, prices and the state store. Each tenant is checked on
    /// its own so that every bad entry is reported, not only the first.
    pub(crate) fn check_cost(&self, problems: &mut Vec<String>) {
        let mut seen_ids: Vec<&str> = Vec::new();
        for (index, tenant) in self.tenants.iter().enumerate() {
            if let Err(error) = TenantKeys::from_config(std::slice::from_ref(tenant), &self.limits)
            {
                let setting =
                    error
                        .setting()
                        .replacen("tenants[0]", &format!("tenants[{index}]"), 1);
                problems.push(format!("{setting}: {}", error.message()));
            }
            if seen_ids.contains(&tenant.id.as_str()) {
                problems.push(format!(
                    "tenants[{index}].id: {:?} is used by an earlier tenant; ids must be unique",
                    tenant.id
                ));
            }
            seen_ids.push(&tenant.id);
        }
        if self.tenants.len() > 1 {
            if let Err(error) = TenantKeys::from_config(&self.tenants, &self.limits) {
                let message = format!("{}: {}", error.setting(), error.message());
                if !problems.iter().any(|p| p.starts_with(error.setting())) {
                    problems.push(message);
                }
            }
        }
        if let Err(error) = PriceTable::with_overrides(&self.prices) {
            problems.push(format!("{}: {}", error.setting(), error.message()));
        }
        if let Some(state) = &self.state {
            if let Err(error) = state.validate() {
                problems.push(format!("{}: {}", error.setting(), error.message()));
            }
        }
    }

    /// Checks that the admin key hash is 64 hex digits.
    pub(crate) fn check_admin(&self, problems: &mut Vec<String>) {
        if let Err(problem) = self.admin.key_digest() {
            problems.push(problem);
        }
    }

    /// Compiles the global guardrails and every tenant's override. Each deny
    /// pattern is compiled on its own so that every bad one is reported.
    pub(crate) fn check_guardrails(&self, problems: &mut Vec<String>) {
        let patterns = &self.guardrails.input_deny_patterns;
        let mut pattern_problems = 0;
        for (index, pattern) in patterns.iter().enumerate() {
            let single = shipped_guard::GuardrailsConfig {
                input_deny_patterns: vec![pattern.clone()],
                ..shipped_guard::GuardrailsConfig::default()
            };
            if let Err(error) = single.build() {
                let text = error.to_string().replacen(
                    "input_deny_patterns[0]",
                    &format!("input_deny_patterns[{index}]"),
                    1,
                );
                problems.push(text);
                pattern_problems += 1;
            }
        }
        let without_patterns = shipped_guard::GuardrailsConfig {
            input_deny_patterns: Vec::new(),
            ..self.guardrails.clone()
        };
        if let Err(error) = without_patterns.build() {
            problems.push(error.to_string());
        } else if pattern_problems == 0 {
            if let Err(error) = self.guardrails.build() {
                problems.push(error.to_string());
            }
        }
        for (tenant, settings) in &self.tenant_guardrails {
            if !self.tenants.iter().any(|t| &t.id == tenant) {
                problems.push(format!(
                    "tenant_guardrails.{tenant}: no [[tenants]] entry has this id"
                ));
            }
            if let Err(error) = self.guardrails.with_override(settings).build() {
                problems.push(format!("tenant_guardrails.{tenant}: {error}"));
            }
        }
    }
}

/// Longest duration any setting may take: one day. Longer values are almost
/// certainly typos, and unbounded ones overflow the clock arithmetic.
const MAX_DURATION_SECS: u64 = 86_400;

impl ConfigFile {
    /// Checks that every duration setting is within one day, and the retry
    /// settings the way the resilience layer will use them.
    pub(crate) fn check_durations(&self, problems: &mut Vec<String>) {
        let server = &self.server;
        let retry = &self.retry;
        let seconds = [
            ("server.heartbeat_secs", server.heartbeat_secs),
            ("server.drain_grace_secs", server.drain_grace_secs),
            ("server.write_timeout_secs", server.write_timeout_secs),
            ("retry.retry_after_cap_secs", retry.retry_after_cap_secs),
            ("retry.deadline_secs", retry.deadline_secs),
            ("breaker.cool_down_secs", self.breaker.cool_down_secs),
        ];
        let mut milliseconds = vec![
            ("retry.base_delay_ms".to_owned(), retry.base_delay_ms),
            ("retry.max_delay_ms".to_owned(), retry.max_delay_ms),
        ];
        let mut timeouts = vec![("timeouts".to_owned(), self.timeouts)];
        for (index, route) in self.routes.iter().enumerate() {
            if let Some(route_timeouts) = route.timeouts {
                timeouts.push((format!("routes[{index}].timeouts"), route_timeouts));
            }
        }
        for (section, t) in timeouts {
            milliseconds.push((format!("{section}.connect_ms"), t.connect_ms));
            milliseconds.push((format!("{section}.first_token_ms"), t.first_token_ms));
            milliseconds.push((format!("{section}.idle_ms"), t.idle_ms));
            milliseconds.push((format!("{section}.total_ms"), t.total_ms));
        }
        for (setting, value) in seconds {
            if value > MAX_DURATION_SECS {
                problems.push(format!(
                    "{setting}: {value} is more than one day; use at most {MAX_DURATION_SECS}"
                ));
            }
        }
        for (setting, value) in milliseconds {
            if value > MAX_DURATION_SECS * 1000 {
                problems.push(format!(
                    "{setting}: {value} is more than one day; use at most {}",
                    MAX_DURATION_SECS * 1000
                ));
            }
        }

        if retry.max_attempts == 0 {
            problems.push("retry.max_attempts: must be at least 1 (1 means no retry)".into());
        }
        if retry.base_delay_ms > retry.max_delay_ms {
            problems.push(format!(
                "retry.base_delay_ms: {} is above retry.max_delay_ms ({}); the base must not exceed the maximum",
                retry.base_delay_ms, retry.max_delay_ms
            ));
        }
        if retry.deadline_secs == 0 {
            problems.push("retry.deadline_secs: must be at least 1".into());
        }
        if !retry.budget_ratio.is_finite() || !(0.0..=1.0).contains(&retry.budget_ratio) {
            problems.push(format!(
                "retry.budget_ratio: {} is not a share; use a value from 0 to 1, e.g. 0.2",
                retry.budget_ratio
            ));
        }
        if self.breaker.failure_threshold > 0 && self.breaker.cool_down_secs == 0 {
            problems.push(
                "breaker.cool_down_secs: must be at least 1 while failure_threshold is above 0"
                    .into(),
            );
        }
        if self.server.write_timeout_secs == 0 {
            problems.push("server.write_timeout_secs: must be at least 1".into());
        }
    }
}
