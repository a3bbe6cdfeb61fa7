//! Built-in prices, USD per million tokens, standard (not batch) tier.
//!
//! Sources, checked on 2026-12-04:
//! - Anthropic: the model pricing table at
//!   <https://platform.claude.com/docs/en/about-claude/pricing>; cache writes
//!   use the 5-minute rate.
//! - OpenAI: the rates of <https://platform.openai.com/docs/pricing> as quoted by
//!   third-party summaries dated March to June 2026; cached input rates are
//!   from memory of that page.
//! - Bedrock: on-demand rates in us-east-1. Claude models cost the same as on
//!   Anthropic's API; Nova rates come from third-party summaries of the
//!   Bedrock pricing page dated 2026.
//!
//! NOTE: prices change; override them with `[prices."model"]` rather than
//! trusting these for invoicing. Other Bedrock regions may cost more.

use super::{ModelPrice, PriceTable};

/// The date the built-in prices were checked.
pub const DEFAULT_PRICES_VERSION: &str = "2026-12-04";

/// One row: model name or prefix, input, output, cached input, cache write.
type Row = (&'static str, f64, f64, f64, f64);

#[rustfmt::skip]
const ROWS: &[Row] = &[
    // OpenAI. No separate charge for cache writes, so they cost as much as input.
    ("gpt-5",               1.25,  10.00,  0.125,   1.25),
    ("gpt-5-mini",          0.25,   2.00,  0.025,   0.25),
    ("gpt-5-nano",          0.05,   0.40,  0.005,   0.05),
    ("gpt-4.1",             2.00,   8.00,  0.50,    2.00),
    ("gpt-4.1-mini",        0.40,   1.60,  0.10,    0.40),
    ("gpt-4.1-nano",        0.10,   0.40,  0.025,   0.10),
    ("gpt-4o",              2.50,  10.00,  1.25,    2.50),
    ("chatgpt-4o-latest",   5.00,  15.00,  5.00,    5.00),
    ("gpt-4o-mini",         0.15,   0.60,  0.075,   0.15),
    ("o1",                 15.00,  60.00,  7.50,   15.00),
    ("o3",                  2.00,   8.00,  0.50,    2.00),
    ("o3-mini",             1.10,   4.40,  0.55,    1.10),
    ("o4-mini",             1.10,   4.40,  0.275,   1.10),
    ("gpt-4-turbo",        10.00,  30.00, 10.00,   10.00),
    ("gpt-4",              30.00,  60.00, 30.00,   30.00),
    ("gpt-3.5-turbo",       0.50,   1.50,  0.50,    0.50),
    // Anthropic: cache hits cost 0.1x input, 5-minute cache writes 1.25x input.
    ("claude-3-haiku",      0.25,   1.25,  0.03,    0.30),
    ("claude-3-5-haiku",    0.80,   4.00,  0.08,    1.00),
    ("claude-haiku-4-5",    1.00,   5.00,  0.10,    1.25),
    ("claude-3-5-sonnet",   3.00,  15.00,  0.30,    3.75),
    ("claude-3-7-sonnet",   3.00,  15.00,  0.30,    3.75),
    ("claude-sonnet-4",     3.00,  15.00,  0.30,    3.75),
    ("claude-sonnet-4-5",   3.00,  15.00,  0.30,    3.75),
    ("claude-sonnet-4-6",   3.00,  15.00,  0.30,    3.75),
    ("claude-3-opus",      15.00,  75.00,  1.50,   18.75),
    ("claude-opus-4",      15.00,  75.00,  1.50,   18.75),
    ("claude-opus-4-1",    15.00,  75.00,  1.50,   18.75),
    ("claude-opus-4-5",     5.00,  25.00,  0.50,    6.25),
    ("claude-opus-4-6",     5.00,  25.00,  0.50,    6.25),
    // Bedrock model ids; a region prefix such as `us.` is stripped before lookup.
    ("anthropic.claude-3-haiku",     0.25,  1.25, 0.03,  0.30),
    ("anthropic.claude-3-5-haiku",   0.80,  4.00, 0.08,  1.00),
    ("anthropic.claude-haiku-4-5",   1.00,  5.00, 0.10,  1.25),
    ("anthropic.claude-3-5-sonnet",  3.00, 15.00, 0.30,  3.75),
    ("anthropic.claude-3-7-sonnet",  3.00, 15.00, 0.30,  3.75),
    ("anthropic.claude-sonnet-4",    3.00, 15.00, 0.30,  3.75),
    ("anthropic.claude-sonnet-4-5",  3.00, 15.00, 0.30,  3.75),
    ("anthropic.claude-opus-4",     15.00, 75.00, 1.50, 18.75),
    ("anthropic.claude-opus-4-1",   15.00, 75.00, 1.50, 18.75),
    ("amazon.nova-micro",            0.035, 0.14, 0.00875, 0.035),
    ("amazon.nova-lite",             0.06,  0.24, 0.015,   0.06),
    ("amazon.nova-pro",              0.80,  3.20, 0.20,    0.80),
];

pub(super) fn table() -> PriceTable {
    let mut table = PriceTable::new(DEFAULT_PRICES_VERSION);
    for &(model, input, output, cached_input, cache_write) in ROWS {
        // The rows are constants inside the accepted range, which a unit test checks.
        let price = ModelPrice::per_million(input, output)
            .and_then(|price| price.with_cached_input(cached_input))
            .and_then(|price| price.with_cache_write(cache_write));
        if let Ok(price) = price {
            table.insert(model, price);
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_is_a_valid_price() {
        assert_eq!(table().models.len(), ROWS.len());
    }
}
