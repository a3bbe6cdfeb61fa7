//! Tenants and the lookup of a bearer key.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use crate::config::{ConfigError, LimitsConfig, TenantConfig};
use crate::{Nanodollars, RateLimit};

/// A tenant's settings, resolved against the global `[limits]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    /// Tenant id as configured.
    pub id: String,
    /// Spending limit per UTC day; `None` for no limit.
    pub daily_budget: Option<Nanodollars>,
    /// The tenant's own output cap, if it has one.
    pub max_output_tokens: Option<u32>,
    /// Request rate of the whole tenant; `None` for no limit.
    pub rate: Option<RateLimit>,
    /// Request rate of each user of the tenant; `None` for no limit.
    pub rate_per_user: Option<RateLimit>,
}

/// A bearer key that matches no tenant.
///
/// It carries nothing about the key or the configured keys, so the server can
/// respond with 401 without a hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the API key is missing or not valid")]
pub struct Unauthenticated;

/// Configured tenants, looked up by the SHA-256 of their bearer key.
///
/// Only hashes are kept. A lookup hashes the presented key and compares it with
/// every configured hash in constant time, so neither the timing nor the error
/// reveals which keys exist.
///
/// ```
/// use shipped_cost::{LimitsConfig, TenantConfig, TenantKeys};
///
/// // sha256("foo")
/// let hash = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";
/// let tenants: Vec<TenantConfig> = vec![toml::from_str(&format!(
///     "id = \"acme\"\nkey_sha256 = \"{hash}\"\nrpm = 120"
/// )).unwrap()];
/// let keys = TenantKeys::from_config(&tenants, &LimitsConfig::default()).unwrap();
///
/// let tenant = keys.authenticate("foo").unwrap();
/// assert_eq!(tenant.id, "acme");
/// assert_eq!(tenant.rate.unwrap().requests_per_minute(), 120);
/// assert!(keys.authenticate("bar").is_err());
/// ```
#[derive(Clone, Default)]
pub struct TenantKeys {
    hashes: Vec<[u8; 32]>,
    tenants: Vec<Arc<Tenant>>,
}

impl fmt::Debug for TenantKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Key hashes stay out of logs as well.
        f.debug_struct("TenantKeys")
            .field(
                "tenants",
                &self.tenants.iter().map(|t| &t.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl TenantKeys {
    /// Builds the lookup from the `[[tenants]]` entries.
    ///
    /// # Errors
    ///
    /// Returns a [`ConfigError`] naming the entry (e.g. `tenants[1].key_sha256`)
    /// when an id is empty or repeated, a hash is not 64 hex digits or is used
    /// twice, a budget is negative or not finite, or a cap or rate is zero.
    pub fn from_config(
        tenants: &[TenantConfig],
        limits: &LimitsConfig,
    ) -> Result<Self, ConfigError> {
        let mut keys = Self::default();
        let mut ids = HashSet::new();
        for (index, config) in tenants.iter().enumerate() {
            let setting = |field: &str| format!("tenants[{index}].{field}");
            if config.id.trim().is_empty() {
                return Err(ConfigError::new(setting("id"), "is empty"));
            }
            if !ids.insert(config.id.as_str()) {
                return Err(ConfigError::new(
                    setting("id"),
                    format!("tenant id {:?} is used twice", config.id),
                ));
            }
            let hash = parse_sha256_hex(&config.key_sha256).ok_or_else(|| {
                ConfigError::new(
                    setting("key_sha256"),
                    "is not a SHA-256 hash: expected 64 hex digits, e.g. the output of `printf %s \"$KEY\" | sha256sum`",
                )
            })?;
            if keys.hashes.contains(&hash) {
                return Err(ConfigError::new(
                    setting("key_sha256"),
                    "is the key hash of an earlier tenant",
                ));
            }
            let daily_budget = match config.daily_budget_usd {
                None => None,
                Some(usd) => Some(Nanodollars::from_usd(usd).ok_or_else(|| {
                    ConfigError::new(
                        setting("daily_budget_usd"),
                        format!("{usd} is not an amount of dollars: expected 0 or more"),
                    )
                })?),
            };
            let rate_setting = |value: Option<u32>, field: &str| -> Result<_, ConfigError> {
                match value {
                    Some(0) => Err(ConfigError::new(setting(field), "must be at least 1")),
                    Some(rpm) => Ok(RateLimit::per_minute(rpm)),
                    None => Ok(None),
                }
            };
            if config.max_output_tokens == Some(0) {
                return Err(ConfigError::new(
                    setting("max_output_tokens"),
                    "must be at least 1",
                ));
            }
            let rate = rate_setting(config.rpm, "rpm")?
                .or_else(|| limits.rpm_per_tenant.and_then(RateLimit::per_minute));
            let rate_per_user = rate_setting(config.rpm_per_user, "rpm_per_user")?
                .or_else(|| limits.rpm_per_user.and_then(RateLimit::per_minute));
            keys.hashes.push(hash);
            keys.tenants.push(Arc::new(Tenant {
                id: config.id.clone(),
                daily_budget,
                max_output_tokens: config.max_output_tokens,
                rate,
                rate_per_user,
            }));
        }
        Ok(keys)
    }

    /// Returns true when no tenant is configured.
    pub fn is_empty(&self) -> bool {
        self.tenants.is_empty()
    }

    /// Returns the number of configured tenants.
    pub fn len(&self) -> usize {
        self.tenants.len()
    }

    /// Finds the tenant whose key hash matches the SHA-256 of `bearer_key`.
    ///
    /// The key is hashed and dropped; it is neither stored nor logged.
    ///
    /// # Errors
    ///
    /// Returns [`Unauthenticated`] when no tenant has this key.
    pub fn authenticate(&self, bearer_key: &str) -> Result<Arc<Tenant>, Unauthenticated> {
        let digest: [u8; 32] = Sha256::digest(bearer_key.as_bytes()).into();
        let mut found = subtle::Choice::from(0);
        let mut index = 0u32;
        // Every hash is compared, so the time taken does not depend on which
        // tenant, if any, matches.
        for (position, hash) in self.hashes.iter().enumerate() {
            let matches = hash.ct_eq(&digest);
            let position = u32::try_from(position).unwrap_or(u32::MAX);
            index.conditional_assign(&position, matches);
            found |= matches;
        }
        if bool::from(found) {
            self.tenants
                .get(index as usize)
                .cloned()
                .ok_or(Unauthenticated)
        } else {
            Err(Unauthenticated)
        }
    }
}

/// Parses 64 hex digits, either case, into 32 bytes.
fn parse_sha256_hex(text: &str) -> Option<[u8; 32]> {
    let text = text.trim().as_bytes();
    if text.len() != 64 {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (byte, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
        let high = hex_value(pair[0])?;
        let low = hex_value(pair[1])?;
        *byte = high << 4 | low;
    }
    Some(bytes)
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // sha256("foo") and sha256("bar").
    const FOO: &str = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";
    const BAR: &str = "fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9";

    fn tenant(id: &str, hash: &str) -> TenantConfig {
        TenantConfig {
            id: id.to_owned(),
            key_sha256: hash.to_owned(),
            daily_budget_usd: Some(50.0),
            max_output_tokens: Some(512),
            rpm: None,
            rpm_per_user: Some(10),
        }
    }

    fn keys(tenants: &[TenantConfig]) -> Result<TenantKeys, ConfigError> {
        TenantKeys::from_config(tenants, &LimitsConfig::default())
    }

    #[test]
    fn authenticate_finds_each_tenant() {
        let keys = keys(&[tenant("acme", FOO), tenant("globex", &BAR.to_uppercase())]).unwrap();
        assert_eq!(keys.authenticate("foo").unwrap().id, "acme");
        assert_eq!(keys.authenticate("bar").unwrap().id, "globex");
    }

    #[test]
    fn authenticate_rejects_unknown_and_empty_keys() {
        let keys = keys(&[tenant("acme", FOO)]).unwrap();
        assert_eq!(keys.authenticate("baz"), Err(Unauthenticated));
        assert_eq!(keys.authenticate(""), Err(Unauthenticated));
        // The hash itself is not a key.
        assert_eq!(keys.authenticate(FOO), Err(Unauthenticated));
    }

    #[test]
    fn tenant_settings_fall_back_to_limits() {
        let keys = keys(&[tenant("acme", FOO)]).unwrap();
        let acme = keys.authenticate("foo").unwrap();
        assert_eq!(acme.daily_budget, Nanodollars::from_usd(50.0));
        assert_eq!(acme.max_output_tokens, Some(512));
        assert_eq!(acme.rate.unwrap().requests_per_minute(), 600);
        assert_eq!(acme.rate_per_user.unwrap().requests_per_minute(), 10);
    }

    #[test]
    fn invalid_hash_names_the_setting() {
        let error = keys(&[tenant("acme", FOO), tenant("globex", "abc")]).unwrap_err();
        assert_eq!(error.setting(), "tenants[1].key_sha256");
        let error = keys(&[tenant("acme", &FOO.replace('c', "x"))]).unwrap_err();
        assert_eq!(error.setting(), "tenants[0].key_sha256");
    }

    #[test]
    fn repeated_id_or_hash_is_rejected() {
        let error = keys(&[tenant("acme", FOO), tenant("acme", BAR)]).unwrap_err();
        assert_eq!(error.setting(), "tenants[1].id");
        let error = keys(&[tenant("acme", FOO), tenant("globex", FOO)]).unwrap_err();
        assert_eq!(error.setting(), "tenants[1].key_sha256");
    }

    #[test]
    fn negative_budget_and_zero_rate_are_rejected() {
        let mut config = tenant("acme", FOO);
        config.daily_budget_usd = Some(-1.0);
        assert_eq!(
            keys(&[config]).unwrap_err().setting(),
            "tenants[0].daily_budget_usd"
        );
        let mut config = tenant("acme", FOO);
        config.rpm = Some(0);
        assert_eq!(keys(&[config]).unwrap_err().setting(), "tenants[0].rpm");
    }

    #[test]
    fn debug_output_hides_hashes() {
        let keys = keys(&[tenant("acme", FOO)]).unwrap();
        let printed = format!("{keys:?}");
        assert!(printed.contains("acme"));
        assert!(!printed.contains("2c26b4"));
    }

    #[test]
    fn config_rejects_unknown_tenant_field() {
        let parsed: Result<TenantConfig, _> = toml::from_str(&format!(
            "id = \"acme\"\nkey_sha256 = \"{FOO}\"\nkey = \"foo\""
        ));
        assert!(parsed.is_err());
    }
}
