//! Prices per model and the lookup by model name.

mod defaults;

use std::collections::BTreeMap;

use crate::config::{ConfigError, PriceConfig};

pub use defaults::DEFAULT_PRICES_VERSION;

/// Prices of one model, in USD per million tokens for each token class.
///
/// Prices are held as whole micro-dollars per million tokens, which is the same
/// number as pico-dollars (10⁻¹² USD) per token, so cost arithmetic is exact.
///
/// ```
/// use shipped_cost::ModelPrice;
///
/// let price = ModelPrice::per_million(0.15, 0.60).unwrap().with_cached_input(0.075).unwrap();
/// assert_eq!(price.input_usd_per_million(), 0.15);
/// assert_eq!(price.cached_input_usd_per_million(), 0.075);
/// // Without their own price, cache writes cost as much as input and reasoning as output.
/// assert_eq!(price.cache_write_usd_per_million(), 0.15);
/// assert_eq!(price.reasoning_usd_per_million(), 0.60);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelPrice {
    pub(crate) input: u64,
    pub(crate) output: u64,
    pub(crate) cached_input: u64,
    pub(crate) cache_write: u64,
    pub(crate) reasoning: u64,
}

/// Highest accepted price: 100,000 USD per million tokens, far above any model's.
const MAX_USD_PER_MILLION: f64 = 100_000.0;

/// Converts USD per million tokens to micro-dollars per million tokens.
fn micros_per_million(usd_per_million: f64) -> Option<u64> {
    if !usd_per_million.is_finite() || !(0.0..=MAX_USD_PER_MILLION).contains(&usd_per_million) {
        return None;
    }
    // In range 0..=1e11, so the cast cannot overflow.
    Some((usd_per_million * 1e6).round() as u64)
}

impl ModelPrice {
    /// Creates a price from input and output prices in USD per million tokens.
    ///
    /// Cached input and cache writes start at the input price and reasoning at
    /// the output price; the `with_*` methods set their own prices.
    ///
    /// # Errors
    ///
    /// Returns [`InvalidPrice`] when a price is negative, not finite or over
    /// 100,000 USD per million tokens.
    pub fn per_million(input: f64, output: f64) -> Result<Self, InvalidPrice> {
        let input = micros_per_million(input).ok_or(InvalidPrice { value: input })?;
        let output = micros_per_million(output).ok_or(InvalidPrice { value: output })?;
        Ok(Self {
            input,
            output,
            cached_input: input,
            cache_write: input,
            reasoning: output,
        })
    }

    /// Sets the price of input tokens read from the prompt cache.
    ///
    /// # Errors
    ///
    /// Returns [`InvalidPrice`] for the same values as [`per_million`](Self::per_million).
    pub fn with_cached_input(mut self, usd_per_million: f64) -> Result<Self, InvalidPrice> {
        self.cached_input = checked(usd_per_million)?;
        Ok(self)
    }

    /// Sets the price of input tokens written to the prompt cache.
    ///
    /// # Errors
    ///
    /// Returns [`InvalidPrice`] for the same values as [`per_million`](Self::per_million).
    pub fn with_cache_write(mut self, usd_per_million: f64) -> Result<Self, InvalidPrice> {
        self.cache_write = checked(usd_per_million)?;
        Ok(self)
    }

    /// Sets the price of reasoning tokens, which are part of the output.
    ///
    /// # Errors
    ///
    /// Returns [`InvalidPrice`] for the same values as [`per_million`](Self::per_million).
    pub fn with_reasoning(mut self, usd_per_million: f64) -> Result<Self, InvalidPrice> {
        self.reasoning = checked(usd_per_million)?;
        Ok(self)
    }

    /// Price of uncached input tokens, USD per million.
    pub fn input_usd_per_million(&self) -> f64 {
        to_usd(self.input)
    }

    /// Price of output tokens, USD per million.
    pub fn output_usd_per_million(&self) -> f64 {
        to_usd(self.output)
    }

    /// Price of input tokens read from the prompt cache, USD per million.
    pub fn cached_input_usd_per_million(&self) -> f64 {
        to_usd(self.cached_input)
    }

    /// Price of input tokens written to the prompt cache, USD per million.
    pub fn cache_write_usd_per_million(&self) -> f64 {
        to_usd(self.cache_write)
    }

    /// Price of reasoning tokens, USD per million.
    pub fn reasoning_usd_per_million(&self) -> f64 {
        to_usd(self.reasoning)
    }

    /// Builds the price from a `[prices."model"]` table.
    fn from_config(model: &str, config: &PriceConfig) -> Result<Self, ConfigError> {
        let setting = |field: &str| format!("prices.\"{model}\".{field}");
        let field = |name: &str, value: f64| {
            micros_per_million(value).ok_or_else(|| {
                ConfigError::new(
                    setting(name),
                    format!("{value} is not a price: expected USD per million tokens between 0 and {MAX_USD_PER_MILLION}"),
                )
            })
        };
        let input = field("input", config.input)?;
        let output = field("output", config.output)?;
        let optional = |name: &str, value: Option<f64>, default: u64| match value {
            Some(value) => field(name, value),
            None => Ok(default),
        };
        Ok(Self {
            input,
            output,
            cached_input: optional("cached_input", config.cached_input, input)?,
            cache_write: optional("cache_write", config.cache_write, input)?,
            reasoning: optional("reasoning", config.reasoning, output)?,
        })
    }
}

fn checked(usd_per_million: f64) -> Result<u64, InvalidPrice> {
    micros_per_million(usd_per_million).ok_or(InvalidPrice {
        value: usd_per_million,
    })
}

fn to_usd(micros_per_million: u64) -> f64 {
    micros_per_million as f64 / 1e6
}

/// A price that is negative, not finite or implausibly high.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("invalid price {value}: expected USD per million tokens between 0 and 100000")]
pub struct InvalidPrice {
    /// The rejected value.
    pub value: f64,
}

/// A versioned table of model prices.
///
/// The `version` names the date the prices were checked, so a ledger row or a
/// log line can say which prices its cost came from. Model names are matched
/// exactly first, then by the longest known prefix that ends at a `-`, `:` or
/// `@`, so dated snapshots such as `gpt-4o-mini-2024-07-18` find
/// `gpt-4o-mini`. A Bedrock cross-region inference profile prefix (`us.`,
/// `eu.`, `apac.`, `global.` and the like) is ignored.
///
/// ```
/// use shipped_cost::PriceTable;
///
/// let prices = PriceTable::defaults();
/// let snapshot = prices.get("gpt-4o-mini-2024-07-18").unwrap();
/// assert_eq!(snapshot, prices.get("gpt-4o-mini").unwrap());
/// assert!(prices.get("us.anthropic.claude-3-haiku-20240307-v1:0").is_some());
/// assert!(prices.get("my-local-model").is_none());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PriceTable {
    version: String,
    models: BTreeMap<String, ModelPrice>,
}

/// Bedrock inference profile prefixes put in front of a model id.
const REGION_PREFIXES: &[&str] = &[
    "us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca.",
];

impl PriceTable {
    /// Creates an empty table with the given version.
    pub fn new(version: impl Into<String>) -> Self {
        Self {
            version: version.into(),
            models: BTreeMap::new(),
        }
    }

    /// The built-in prices for common OpenAI, Anthropic and Bedrock models.
    pub fn defaults() -> Self {
        defaults::table()
    }

    /// The built-in prices, with the configured `[prices."model"]` tables on top.
    ///
    /// A configured model replaces the built-in entry of the same name as a
    /// whole; a price it leaves out falls back to its own input or output
    /// price, never to the built-in value. The version becomes
    /// `"<built-in version>+config"` when there is at least one override.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use shipped_cost::{PriceConfig, PriceTable};
    ///
    /// let config: BTreeMap<String, PriceConfig> =
    ///     toml::from_str("[\"gpt-4o-mini\"]\ninput = 0.2\noutput = 0.8\n").unwrap();
    /// let prices = PriceTable::with_overrides(&config).unwrap();
    /// assert_eq!(prices.get("gpt-4o-mini").unwrap().input_usd_per_million(), 0.2);
    /// assert!(prices.version().ends_with("+config"));
    /// ```
    ///
    /// # Errors
    ///
    /// Returns a [`ConfigError`] naming the setting (e.g.
    /// `prices."gpt-4o-mini".input`) when a price is negative, not finite or
    /// implausibly high, or when the model name is empty.
    pub fn with_overrides(config: &BTreeMap<String, PriceConfig>) -> Result<Self, ConfigError> {
        let mut table = Self::defaults();
        for (model, price) in config {
            if model.trim().is_empty() {
                return Err(ConfigError::new("prices", "a model name is empty"));
            }
            table.insert(model.clone(), ModelPrice::from_config(model, price)?);
        }
        if !config.is_empty() {
            table.version = format!("{}+config", table.version);
        }
        Ok(table)
    }

    /// Adds or replaces the price of a model name or name prefix.
    pub fn insert(&mut self, model: impl Into<String>, price: ModelPrice) {
        self.models.insert(model.into(), price);
    }

    /// The date the prices were checked, e.g. `2026-12-04`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Finds the price of a model: exact name, then the longest known prefix.
    pub fn get(&self, model: &str) -> Option<&ModelPrice> {
        self.lookup(model).or_else(|| {
            let unprefixed = REGION_PREFIXES
                .iter()
                .find_map(|prefix| model.strip_prefix(prefix))?;
            self.lookup(unprefixed)
        })
    }

    fn lookup(&self, model: &str) -> Option<&ModelPrice> {
        if let Some(price) = self.models.get(model) {
            return Some(price);
        }
        self.models
            .iter()
            .filter(|(known, _)| is_versioned_name_of(model, known))
            .max_by_key(|(known, _)| known.len())
            .map(|(_, price)| price)
    }
}

/// Whether `model` is `known` followed by a version suffix such as `-2024-07-18`.
fn is_versioned_name_of(model: &str, known: &str) -> bool {
    model
        .strip_prefix(known)
        .and_then(|rest| rest.chars().next())
        .is_some_and(|next| matches!(next, '-' | ':' | '@'))
}

#[cfg(test)]
mod tests;
