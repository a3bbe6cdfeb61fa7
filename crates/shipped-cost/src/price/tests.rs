use std::collections::BTreeMap;

use shipped_core::Usage;

use super::*;
use crate::Nanodollars;

fn usage(input: u64, output: u64) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        ..Usage::default()
    }
}

fn nanos(model: &str, usage: &Usage) -> u64 {
    let cost = PriceTable::defaults().cost_usd(model, usage);
    assert!(cost.priced, "{model} has no default price");
    cost.nanodollars.get()
}

// Golden values below are computed by hand from the per-million prices.

#[test]
fn openai_plain_usage_golden() {
    // 26 × 0.15 + 2 × 0.60 = 5.1 micro-dollars.
    assert_eq!(nanos("gpt-4o-mini", &usage(26, 2)), 5_100);
    // 1,000 × 2.00 + 500 × 8.00 = 6,000 micro-dollars.
    assert_eq!(nanos("gpt-4.1", &usage(1_000, 500)), 6_000_000);
}

#[test]
fn openai_cached_input_golden() {
    // gpt-4o: 2,000 input of which 1,024 cached, 100 output.
    // 976 × 2.50 + 1,024 × 1.25 + 100 × 10.00 = 2,440 + 1,280 + 1,000 = 4,720 µ$.
    let usage = Usage {
        cached_input_tokens: 1_024,
        ..usage(2_000, 100)
    };
    assert_eq!(nanos("gpt-4o-2024-08-06", &usage), 4_720_000);
}

#[test]
fn openai_reasoning_inside_output_golden() {
    // o3-mini: reasoning costs as much as output, so 800 of 1,000 output tokens
    // being reasoning changes nothing: 100 × 1.10 + 1,000 × 4.40 = 4,510 µ$.
    let usage = Usage {
        reasoning_tokens: 800,
        ..usage(100, 1_000)
    };
    assert_eq!(nanos("o3-mini", &usage), 4_510_000);
}

#[test]
fn reasoning_price_applies_when_it_differs() {
    let price = ModelPrice::per_million(1.0, 4.0)
        .unwrap()
        .with_reasoning(2.0)
        .unwrap();
    let usage = Usage {
        reasoning_tokens: 300,
        ..usage(100, 1_000)
    };
    // 100 × 1 + 700 × 4 + 300 × 2 = 3,500 µ$.
    assert_eq!(price.cost(&usage).get(), 3_500_000);
}

#[test]
fn anthropic_cache_read_and_write_golden() {
    // claude-sonnet-4-5: 10,000 input = 2,000 uncached + 6,000 cache reads
    // + 2,000 cache writes; 500 output.
    // 2,000 × 3 + 6,000 × 0.30 + 2,000 × 3.75 + 500 × 15
    // = 6,000 + 1,800 + 7,500 + 7,500 = 22,800 µ$.
    let usage = Usage {
        cached_input_tokens: 6_000,
        cache_write_tokens: 2_000,
        ..usage(10_000, 500)
    };
    assert_eq!(nanos("claude-sonnet-4-5-20250929", &usage), 22_800_000);
}

#[test]
fn anthropic_haiku_golden() {
    // claude-3-5-haiku: 1,200 input with 1,000 cache reads, 50 output.
    // 200 × 0.80 + 1,000 × 0.08 + 50 × 4 = 160 + 80 + 200 = 440 µ$.
    let usage = Usage {
        cached_input_tokens: 1_000,
        ..usage(1_200, 50)
    };
    assert_eq!(nanos("claude-3-5-haiku-20241022", &usage), 440_000);
}

#[test]
fn bedrock_golden() {
    // Nova Micro: 1,000 × 0.035 + 200 × 0.14 = 35 + 28 = 63 µ$.
    assert_eq!(nanos("amazon.nova-micro-v1:0", &usage(1_000, 200)), 63_000);
    // Claude 3 Haiku through a US inference profile:
    // 2,000 × 0.25 + 300 × 1.25 = 500 + 375 = 875 µ$.
    assert_eq!(
        nanos(
            "us.anthropic.claude-3-haiku-20240307-v1:0",
            &usage(2_000, 300)
        ),
        875_000
    );
}

#[test]
fn cost_rounds_up_to_whole_nanodollars() {
    // One Nova Micro input token costs 0.035 µ$ = 35 nano-dollars exactly;
    // one cached token costs 8.75 nano-dollars and rounds up to 9.
    let usage = Usage {
        cached_input_tokens: 1,
        ..usage(1, 0)
    };
    assert_eq!(nanos("amazon.nova-micro-v1:0", &usage), 9);
}

#[test]
fn estimated_usage_marks_cost_estimated() {
    let usage = Usage {
        estimated: true,
        ..usage(10, 10)
    };
    let cost = PriceTable::defaults().cost_usd("gpt-4o", &usage);
    assert!(cost.estimated);
}

#[test]
fn unknown_model_is_unpriced_and_free() {
    let cost = PriceTable::defaults().cost_usd("served-model", &usage(26, 2));
    assert!(!cost.priced);
    assert_eq!(cost.nanodollars, Nanodollars::ZERO);
}

#[test]
fn prefix_match_prefers_longest_name() {
    let prices = PriceTable::defaults();
    let mini = prices.get("gpt-4o-mini").unwrap();
    let full = prices.get("gpt-4o").unwrap();
    assert_eq!(prices.get("gpt-4o-mini-2024-07-18"), Some(mini));
    assert_eq!(prices.get("gpt-4o-2024-11-20"), Some(full));
    assert_eq!(
        prices.get("gpt-4.1-mini-2025-04-14"),
        prices.get("gpt-4.1-mini")
    );
    assert_eq!(prices.get("o3-mini-2025-01-31"), prices.get("o3-mini"));
    assert_eq!(
        prices.get("claude-sonnet-4-20250514"),
        prices.get("claude-sonnet-4")
    );
    assert_eq!(
        prices
            .get("claude-opus-4-5-20251101")
            .unwrap()
            .input_usd_per_million(),
        5.0
    );
    assert_eq!(
        prices
            .get("claude-opus-4-20250514")
            .unwrap()
            .input_usd_per_million(),
        15.0
    );
}

#[test]
fn prefix_match_needs_a_separator() {
    let prices = PriceTable::defaults();
    // `gpt-4o` is not a dated `gpt-4`, and `o3x` is not `o3`.
    assert_ne!(prices.get("gpt-4o"), prices.get("gpt-4"));
    assert_eq!(prices.get("o3x"), None);
    assert_eq!(prices.get("gpt-4oops"), None);
}

#[test]
fn region_prefixes_are_stripped() {
    let prices = PriceTable::defaults();
    let plain = prices.get("anthropic.claude-sonnet-4-20250514-v1:0");
    assert!(plain.is_some());
    for region in ["us.", "eu.", "apac.", "global."] {
        let model = format!("{region}anthropic.claude-sonnet-4-20250514-v1:0");
        assert_eq!(prices.get(&model), plain, "{model}");
    }
    assert_eq!(
        prices.get("xx.anthropic.claude-sonnet-4-20250514-v1:0"),
        None
    );
}

#[test]
fn config_override_replaces_entry_and_version() {
    let config: BTreeMap<String, PriceConfig> = toml::from_str(
        r#"
        ["gpt-4o-mini"]
        input = 0.2
        output = 0.8
        cached_input = 0.1

        ["my-vllm"]
        input = 0.0
        output = 0.0
        "#,
    )
    .unwrap();
    let prices = PriceTable::with_overrides(&config).unwrap();
    assert_eq!(prices.version(), "2026-12-04+config");

    let mini = prices.get("gpt-4o-mini-2024-07-18").unwrap();
    assert_eq!(mini.input_usd_per_million(), 0.2);
    assert_eq!(mini.cached_input_usd_per_million(), 0.1);
    assert_eq!(mini.cache_write_usd_per_million(), 0.2);
    assert_eq!(mini.reasoning_usd_per_million(), 0.8);
    // 26 × 0.2 + 2 × 0.8 = 6.8 µ$.
    assert_eq!(
        prices
            .cost_usd("gpt-4o-mini", &usage(26, 2))
            .nanodollars
            .get(),
        6_800
    );

    let local = prices.cost_usd("my-vllm", &usage(26, 2));
    assert!(local.priced);
    assert_eq!(local.nanodollars, Nanodollars::ZERO);
}

#[test]
fn config_override_rejects_negative_price() {
    let config: BTreeMap<String, PriceConfig> =
        toml::from_str("[\"gpt-4o\"]\ninput = -1.0\noutput = 10.0\n").unwrap();
    let error = PriceTable::with_overrides(&config).unwrap_err();
    assert_eq!(error.setting(), "prices.\"gpt-4o\".input");
}

#[test]
fn config_override_rejects_unknown_field() {
    let parsed: Result<BTreeMap<String, PriceConfig>, _> =
        toml::from_str("[\"gpt-4o\"]\ninput = 1.0\noutput = 10.0\ncached = 0.5\n");
    assert!(parsed.is_err());
}

#[test]
fn max_cost_uses_highest_input_and_output_prices() {
    let price = ModelPrice::per_million(3.0, 15.0)
        .unwrap()
        .with_cache_write(3.75)
        .unwrap()
        .with_reasoning(20.0)
        .unwrap();
    // 1,000 × 3.75 + 100 × 20 = 5,750 µ$.
    assert_eq!(price.max_cost(1_000, 100).get(), 5_750_000);
}
