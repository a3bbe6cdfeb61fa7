//! Cost of one call from its usage and the price table.

use shipped_core::Usage;

use crate::{ModelPrice, Nanodollars, PriceTable};

/// The cost of one call.
///
/// `usd` is for display and logs; budgets add [`nanodollars`](Self::nanodollars).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    /// The cost in US dollars.
    pub usd: f64,
    /// The exact cost, rounded up to whole nano-dollars.
    pub nanodollars: Nanodollars,
    /// Whether the token counts were estimated rather than reported by the provider.
    pub estimated: bool,
    /// Whether the model has a price; an unpriced model costs zero.
    pub priced: bool,
}

impl Cost {
    fn new(nanodollars: Nanodollars, estimated: bool, priced: bool) -> Self {
        Self {
            usd: nanodollars.usd(),
            nanodollars,
            estimated,
            priced,
        }
    }
}

impl PriceTable {
    /// Computes the cost of a call to `model` with the given usage.
    ///
    /// Uncached input is charged at the input price, cache reads at the
    /// cached-input price and cache writes at the cache-write price. Output is
    /// charged at the output price, except reasoning tokens, which are part of
    /// the output and are charged at the reasoning price. A model the table does
    /// not know costs zero and the result says `priced: false`.
    ///
    /// ```
    /// use shipped_core::Usage;
    /// use shipped_cost::PriceTable;
    ///
    /// let usage = Usage { input_tokens: 26, output_tokens: 2, ..Usage::default() };
    /// let cost = PriceTable::defaults().cost_usd("gpt-4o-mini", &usage);
    /// // 26 × $0.15/M + 2 × $0.60/M
    /// assert_eq!(cost.nanodollars.get(), 5_100);
    /// assert!(cost.priced);
    /// assert!(!cost.estimated);
    /// ```
    pub fn cost_usd(&self, model: &str, usage: &Usage) -> Cost {
        match self.get(model) {
            Some(price) => Cost::new(price.cost(usage), usage.estimated, true),
            None => Cost::new(Nanodollars::ZERO, usage.estimated, false),
        }
    }
}

impl ModelPrice {
    /// The cost of the usage at these prices, rounded up to whole nano-dollars.
    pub fn cost(&self, usage: &Usage) -> Nanodollars {
        // A provider may report more cached tokens than input tokens in total;
        // such counts are taken as they are and uncached input stops at zero.
        let uncached_input = usage
            .input_tokens
            .saturating_sub(usage.cached_input_tokens)
            .saturating_sub(usage.cache_write_tokens);
        let reasoning = usage.reasoning_tokens.min(usage.output_tokens);
        let plain_output = usage.output_tokens - reasoning;

        // Tokens times micro-dollars per million tokens gives pico-dollars.
        let picodollars = u128::from(uncached_input) * u128::from(self.input)
            + u128::from(usage.cached_input_tokens) * u128::from(self.cached_input)
            + u128::from(usage.cache_write_tokens) * u128::from(self.cache_write)
            + u128::from(plain_output) * u128::from(self.output)
            + u128::from(reasoning) * u128::from(self.reasoning);
        nanodollars_from_pico(picodollars)
    }

    /// The highest cost a call can have with `input_tokens` of input and at most
    /// `max_output_tokens` of output.
    ///
    /// Input is priced at the higher of the input and cache-write prices, and
    /// output at the higher of the output and reasoning prices.
    ///
    /// ```
    /// use shipped_cost::ModelPrice;
    ///
    /// let price = ModelPrice::per_million(0.15, 0.60).unwrap();
    /// // 10 × $0.15/M + 64 × $0.60/M
    /// assert_eq!(price.max_cost(10, 64).get(), 39_900);
    /// ```
    pub fn max_cost(&self, input_tokens: u64, max_output_tokens: u64) -> Nanodollars {
        let input_price = self.input.max(self.cache_write);
        let output_price = self.output.max(self.reasoning);
        let picodollars = u128::from(input_tokens) * u128::from(input_price)
            + u128::from(max_output_tokens) * u128::from(output_price);
        nanodollars_from_pico(picodollars)
    }
}

/// Converts pico-dollars to nano-dollars, rounding up so budgets never undercount.
fn nanodollars_from_pico(picodollars: u128) -> Nanodollars {
    let nanos = picodollars.div_ceil(1_000);
    Nanodollars::new(u64::try_from(nanos).unwrap_or(u64::MAX))
}
