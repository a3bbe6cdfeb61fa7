//! Input token counts before the call, and the output cap.

use std::sync::LazyLock;

use shipped_core::{ChatMessage, ChatRequest};
use tiktoken::CoreBpe;

/// Tokens OpenAI adds around every message of a chat request.
const TOKENS_PER_MESSAGE: u64 = 3;
/// Tokens OpenAI adds to prime the assistant's reply.
const TOKENS_PER_REPLY: u64 = 3;
/// UTF-8 bytes per token in the estimate for models without a known tokenizer.
const ESTIMATE_BYTES_PER_TOKEN: u64 = 3;

// The `tiktoken` crate (4.1) is used rather than `tiktoken-rs` (0.12) because
// it needs about half the memory. Loading o200k_base and counting one message
// raised the resident memory of a small release-build program by 23 MiB with
// it and by 45 MiB with tiktoken-rs (x86-64 Linux, glibc). Both crates returned
// the same token ids for each of about 1.25 million test texts in both
// encodings: English, code, CJK, emoji, whitespace runs, digits and random mixes.
//
// NOTE: `tiktoken` also keeps a cache of about 1.2 MB in every thread that
// counts, so each Tokio worker thread that counts a request adds that much.
static O200K_BASE: LazyLock<CoreBpe> = LazyLock::new(tiktoken::encoding::o200k_base);
static CL100K_BASE: LazyLock<CoreBpe> = LazyLock::new(tiktoken::encoding::cl100k_base);

/// The size of a request's input in tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenCount {
    /// Number of input tokens.
    pub tokens: u64,
    /// Whether the number is an estimate rather than the model's own tokenizer count.
    pub estimated: bool,
}

impl TokenCount {
    /// Checks the count against the input limit.
    ///
    /// ```
    /// use shipped_cost::TokenCount;
    ///
    /// let count = TokenCount { tokens: 20_000, estimated: false };
    /// let error = count.check_limit(16_000).unwrap_err();
    /// assert_eq!(error.to_string(), "input is 20000 tokens, over the limit of 16000 tokens");
    /// ```
    ///
    /// # Errors
    ///
    /// Returns [`InputTooLarge`] with the count and the limit when the count is
    /// over `max_input_tokens`.
    pub fn check_limit(self, max_input_tokens: u32) -> Result<Self, InputTooLarge> {
        if self.tokens > u64::from(max_input_tokens) {
            return Err(InputTooLarge {
                tokens: self.tokens,
                limit: max_input_tokens,
                estimated: self.estimated,
            });
        }
        Ok(self)
    }
}

/// A request whose input is over the token limit; the server responds with 413.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("input is {tokens} tokens{}, over the limit of {limit} tokens", if *.estimated { " (estimated)" } else { "" })]
pub struct InputTooLarge {
    /// The input size in tokens.
    pub tokens: u64,
    /// The configured limit.
    pub limit: u32,
    /// Whether `tokens` is an estimate.
    pub estimated: bool,
}

/// The tokenizer of a model, or the size estimate for a model without a known one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tokenizer {
    /// `o200k_base`: GPT-4o, GPT-4.1, GPT-4.5, GPT-5 and the o-series.
    O200kBase,
    /// `cl100k_base`: GPT-4, GPT-4 Turbo and GPT-3.5 Turbo.
    Cl100kBase,
    /// No known tokenizer: the count is an estimate from the text size.
    Estimate,
}

impl Tokenizer {
    /// Picks the tokenizer for a model name; a provider prefix such as
    /// `openai/` is ignored.
    ///
    /// ```
    /// use shipped_cost::Tokenizer;
    ///
    /// assert_eq!(Tokenizer::for_model("gpt-4o-mini-2024-07-18"), Tokenizer::O200kBase);
    /// assert_eq!(Tokenizer::for_model("gpt-3.5-turbo"), Tokenizer::Cl100kBase);
    /// assert_eq!(Tokenizer::for_model("claude-sonnet-4-5"), Tokenizer::Estimate);
    /// ```
    pub fn for_model(model: &str) -> Self {
        let name = model.rsplit('/').next().unwrap_or(model);
        let family = |prefix: &str| {
            name.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
        };
        if name.starts_with("gpt-4o")
            || name.starts_with("gpt-4.1")
            || name.starts_with("gpt-4.5")
            || name.starts_with("gpt-5")
            || name.starts_with("chatgpt-4o")
            || name.starts_with("gpt-oss")
            || ["o1", "o3", "o4"].into_iter().any(family)
        {
            Self::O200kBase
        } else if family("gpt-4")
            || name.starts_with("gpt-3.5")
            || name.starts_with("gpt-35")
            || name.starts_with("text-embedding-3")
            || name.starts_with("text-embedding-ada-002")
        {
            Self::Cl100kBase
        } else {
            Self::Estimate
        }
    }

    /// Loads the BPE of every known tokenizer now, so the first request does not
    /// wait while the bundled vocabulary files are parsed.
    ///
    /// ```
    /// shipped_cost::Tokenizer::preload_all();
    /// ```
    pub fn preload_all() {
        for tokenizer in [Self::O200kBase, Self::Cl100kBase] {
            let _ = tokenizer.bpe();
        }
    }

    /// Returns the shared BPE, loaded on first use from the vocabulary compiled
    /// into the `tiktoken` crate.
    fn bpe(self) -> Option<&'static CoreBpe> {
        match self {
            Self::O200kBase => Some(&O200K_BASE),
            Self::Cl100kBase => Some(&CL100K_BASE),
            Self::Estimate => None,
        }
    }

    /// Counts the tokens of one text; special-token strings count as plain text.
    ///
    /// ```
    /// use shipped_cost::Tokenizer;
    ///
    /// assert_eq!(Tokenizer::O200kBase.count_text("hello world"), 2);
    /// ```
    pub fn count_text(self, text: &str) -> u64 {
        match self.bpe() {
            Some(bpe) => bpe.count(text) as u64,
            None => estimate_text(text),
        }
    }
}

/// The estimate for text without a known tokenizer: one token per three UTF-8
/// bytes, rounded up.
///
/// English averages about four characters per token, so this overestimates
/// on purpose: the budget reservation must not fall short, and the settled
/// cost uses the provider's own count. Each CJK character takes three bytes
/// and is about one token, so the estimate is high enough there too.
fn estimate_text(text: &str) -> u64 {
    (text.len() as u64).div_ceil(ESTIMATE_BYTES_PER_TOKEN)
}

/// Counts or estimates the input tokens of a chat request to `model`.
///
/// OpenAI models are counted with their tokenizer plus the message framing
/// OpenAI documents: 3 tokens per message and 3 to prime the reply. Tool
/// definitions are counted as their JSON text, which makes the count an
/// estimate because OpenAI formats them differently. Other models get the
/// estimate of one token per three bytes plus the same framing, marked
/// `estimated`.
///
/// ```
/// use shipped_core::{ChatMessage, ChatRequest};
/// use shipped_cost::count_input_tokens;
///
/// let request = ChatRequest::new(vec![ChatMessage::user("hello world")]);
/// let count = count_input_tokens("gpt-4o", &request);
/// // 3 (reply) + 3 (message) + 1 ("user") + 2 ("hello world")
/// assert_eq!(count.tokens, 9);
/// assert!(!count.estimated);
/// ```
pub fn count_input_tokens(model: &str, request: &ChatRequest) -> TokenCount {
    let tokenizer = Tokenizer::for_model(model);
    let mut tokens = TOKENS_PER_REPLY;
    for message in &request.messages {
        tokens += count_message(tokenizer, message);
    }
    let mut estimated = tokenizer == Tokenizer::Estimate;
    if !request.tools.is_empty() {
        estimated = true;
        for tool in &request.tools {
            tokens += tokenizer.count_text(&tool.to_string());
        }
    }
    TokenCount { tokens, estimated }
}

fn count_message(tokenizer: Tokenizer, message: &ChatMessage) -> u64 {
    let mut tokens = TOKENS_PER_MESSAGE
        + tokenizer.count_text(message.role.as_str())
        + tokenizer.count_text(&message.content);
    for call in &message.tool_calls {
        tokens += tokenizer.count_text(&call.name) + tokenizer.count_text(&call.arguments);
    }
    if let Some(id) = &message.tool_call_id {
        tokens += tokenizer.count_text(id);
    }
    tokens
}

/// The output cap of a request: the smallest of what the request asks for,
/// the tenant's cap and the global cap.
///
/// A request may set a lower `max_tokens` than the caps, never a higher one.
/// A request without `max_tokens` (or with 0) gets the smaller cap.
///
/// ```
/// use shipped_cost::effective_max_tokens;
///
/// assert_eq!(effective_max_tokens(Some(64), Some(512), 1024), 64);
/// assert_eq!(effective_max_tokens(Some(4096), Some(512), 1024), 512);
/// assert_eq!(effective_max_tokens(None, None, 1024), 1024);
/// ```
pub fn effective_max_tokens(
    requested: Option<u32>,
    tenant_cap: Option<u32>,
    global_cap: u32,
) -> u32 {
    let cap = tenant_cap.map_or(global_cap, |tenant| tenant.min(global_cap));
    match requested {
        Some(requested) if requested > 0 => requested.min(cap),
        _ => cap,
    }
}

#[cfg(test)]
mod tests {
    use shipped_core::{Role, ToolCall};

    use super::*;

    #[test]
    fn o200k_known_token_ids() {
        let bpe = Tokenizer::O200kBase.bpe().unwrap();
        assert_eq!(bpe.encode("hello world"), vec![24912, 2375]);
    }

    #[test]
    fn cl100k_known_token_ids() {
        let bpe = Tokenizer::Cl100kBase.bpe().unwrap();
        assert_eq!(bpe.encode("hello world"), vec![15339, 1917]);
        assert_eq!(
            bpe.encode("tiktoken is great!"),
            vec![83, 1609, 5963, 374, 2294, 0]
        );
    }

    #[test]
    fn counts_match_tiktoken_rs() {
        // (text, o200k_base count, cl100k_base count). The counts are
        // `encode_ordinary(text).len()` from tiktoken-rs 0.12.1, a port of
        // OpenAI's tiktoken and the crate this module used before.
        let cases = [
            // Cyrillic and Japanese, where o200k_base is denser.
            ("Привет, как дела? 今日はいい天気ですね。", 13, 20),
            // A zero-width-joiner sequence, a flag and a skin tone.
            ("👩\u{200d}💻 deployed 🚀🇫🇷 👍🏽", 15, 22),
            // Indentation, a run of newlines and trailing spaces.
            ("fn main() {\n    let x = 1;\n\n\n}\n  ", 13, 13),
            // Digits split into groups of at most three.
            ("12345678901234567890 3.14159", 12, 12),
            // Contractions in any letter case.
            ("DON'T panic, I'M fine; you'LL see", 12, 12),
            // o200k_base has one token for ".\n/".
            ("end of sentence.\n/path", 5, 5),
            // A special token's text, which counts as plain text.
            ("<|endoftext|>", 7, 7),
            // A combining accent, a no-break space and an ideographic space.
            ("naïve cafe\u{301} \u{a0}\u{3000}x", 8, 8),
        ];
        for (text, o200k, cl100k) in cases {
            assert_eq!(
                Tokenizer::O200kBase.count_text(text),
                o200k,
                "o200k {text:?}"
            );
            assert_eq!(
                Tokenizer::Cl100kBase.count_text(text),
                cl100k,
                "cl100k {text:?}"
            );
        }
    }

    #[test]
    fn encodings_differ_on_non_english_text() {
        let text = "Привет, как дела? 今日はいい天気ですね。";
        let o200k = Tokenizer::O200kBase.count_text(text);
        let cl100k = Tokenizer::Cl100kBase.count_text(text);
        assert!(
            o200k < cl100k,
            "o200k {o200k} should be denser than cl100k {cl100k}"
        );
    }

    #[test]
    fn special_token_text_counts_as_plain_text() {
        let count = Tokenizer::Cl100kBase.count_text("<|endoftext|>");
        assert!(count > 1, "special token must not be encoded as one token");
    }

    #[test]
    fn model_families_pick_tokenizers() {
        for model in [
            "gpt-4o",
            "gpt-4.1-mini",
            "o1",
            "o3-mini",
            "o4-mini-2025-04-16",
            "gpt-5-nano",
            "openai/gpt-4o",
        ] {
            assert_eq!(Tokenizer::for_model(model), Tokenizer::O200kBase, "{model}");
        }
        for model in [
            "gpt-4",
            "gpt-4-turbo",
            "gpt-4-0613",
            "gpt-3.5-turbo",
            "gpt-35-turbo",
        ] {
            assert_eq!(
                Tokenizer::for_model(model),
                Tokenizer::Cl100kBase,
                "{model}"
            );
        }
        for model in [
            "o1x",
            "claude-3-5-haiku",
            "amazon.nova-micro-v1:0",
            "served-model",
        ] {
            assert_eq!(Tokenizer::for_model(model), Tokenizer::Estimate, "{model}");
        }
    }

    #[test]
    fn message_framing_is_counted() {
        let request = ChatRequest::new(vec![
            ChatMessage::system("hello world"),
            ChatMessage::user("hello world"),
        ]);
        // 3 + (3 + 1 + 2) × 2
        assert_eq!(count_input_tokens("gpt-4o", &request).tokens, 15);
        assert_eq!(count_input_tokens("gpt-4", &request).tokens, 15);
    }

    #[test]
    fn tool_calls_and_tools_are_counted() {
        let mut call = ChatMessage::new(Role::Assistant, "");
        call.tool_calls.push(ToolCall {
            id: "call_1".to_owned(),
            name: "get_weather".to_owned(),
            arguments: "{\"city\":\"Paris\"}".to_owned(),
        });
        let plain = ChatRequest::new(vec![ChatMessage::user("hi")]);
        let mut with_call = plain.clone();
        with_call.messages.push(call);
        let plain_count = count_input_tokens("gpt-4o", &plain);
        let call_count = count_input_tokens("gpt-4o", &with_call);
        assert!(call_count.tokens > plain_count.tokens + 3 + 5);
        assert!(!call_count.estimated);

        let mut with_tools = plain.clone();
        with_tools
            .tools
            .push(serde_json::json!({"type": "function", "function": {"name": "get_weather"}}));
        let tools_count = count_input_tokens("gpt-4o", &with_tools);
        assert!(tools_count.tokens > plain_count.tokens);
        assert!(tools_count.estimated);
    }

    #[test]
    fn unknown_model_estimate_is_marked() {
        let request = ChatRequest::new(vec![ChatMessage::user("a".repeat(300))]);
        let count = count_input_tokens("claude-sonnet-4-5", &request);
        // 3 + 3 + ceil(4 / 3) + 300 / 3
        assert_eq!(count.tokens, 3 + 3 + 2 + 100);
        assert!(count.estimated);
    }

    #[test]
    fn input_limit_reports_count_and_limit() {
        let count = TokenCount {
            tokens: 101,
            estimated: true,
        };
        let error = count.check_limit(100).unwrap_err();
        assert_eq!(error.tokens, 101);
        assert_eq!(error.limit, 100);
        assert_eq!(
            error.to_string(),
            "input is 101 tokens (estimated), over the limit of 100 tokens"
        );
        assert_eq!(count.check_limit(101), Ok(count));
    }

    #[test]
    fn output_cap_is_the_smallest() {
        assert_eq!(effective_max_tokens(Some(64), Some(512), 1024), 64);
        assert_eq!(effective_max_tokens(Some(600), Some(512), 1024), 512);
        assert_eq!(effective_max_tokens(Some(1500), Some(2048), 1024), 1024);
        assert_eq!(effective_max_tokens(None, Some(512), 1024), 512);
        assert_eq!(effective_max_tokens(Some(0), None, 1024), 1024);
        assert_eq!(effective_max_tokens(None, None, 1024), 1024);
    }
}
