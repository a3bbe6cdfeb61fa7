//! Checks of the sections that the library crates define.

use shipped_cost::{PriceTable, TenantKeys};

use super::ConfigFile;

impl ConfigFile {
    /// Checks tenants, prices and the state store.
    pub(crate) fn check_cost(&self, problems: &mut Vec<String>) {
        if let Err(error) = TenantKeys::from_config(&self.tenants, &self.limits) {
            problems.push(format!("{}: {}", error.setting(), error.message()));
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

    /// Compiles the global guardrails and every tenant's override.
    pub(crate) fn check_guardrails(&self, problems: &mut Vec<String>) {
        if let Err(error) = self.guardrails.build() {
            problems.push(format!("guardrails: {error}"));
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
