//! A deterministic provider for demos and fault drills.
//!
//! [`MockProvider`] answers from a [`MockScript`]: a fixed text or, by default, a
//! readable echo of the question, released token by token after a time to first
//! token, with an optional injected fault. Nothing about it is random, so a test
//! can assert exact text, usage and timing on tokio's paused clock.
//!
//! With [`MockScript::directives`] on, the last user message may override the
//! script for one request, which lets a person drive fault drills from a chat box:
//!
//! | directive in the message | effect |
//! |---|---|
//! | `mock:status=503` | fail before the first token with that HTTP status |
//! | `mock:fail_after=3` | send 3 tokens, then fail as overloaded |
//! | `mock:stall_after=2` | send 2 tokens, then never send another byte |
//! | `mock:token_delay_ms=50` | wait 50 ms between tokens |
//! | `mock:ttft_ms=2000` | wait 2 s before the first token |

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::stream;
use shipped_core::{ChatRequest, Completion, FinishReason, UpstreamErrorKind, Usage};

use crate::{BoxFuture, ChatStream, Provider, ProviderError, ProviderRequest, StreamEvent};

/// What the mock answers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum MockAnswer {
    /// Quote the last user message back in a sentence that names the demo.
    #[default]
    Echo,
    /// Always this text.
    Text(String),
}

/// A failure the mock injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MockFault {
    /// Reject the call before any token, like an HTTP error response.
    Status {
        /// The HTTP status, e.g. 429 or 503.
        status: u16,
        /// Seconds to announce in `Retry-After`.
        retry_after_secs: Option<u64>,
    },
    /// Send `tokens` tokens, then fail with `kind`.
    FailAfter {
        /// Tokens sent before the failure.
        tokens: usize,
        /// The failure's kind.
        kind: UpstreamErrorKind,
    },
    /// Send `tokens` tokens, then go silent without closing the stream.
    StallAfter {
        /// Tokens sent before the stall.
        tokens: usize,
    },
}

/// How the mock behaves. Build one with the setters, starting from the default:
/// an echo with no delays and no fault.
///
/// ```
/// use std::time::Duration;
/// use llm_providers::mock::{MockFault, MockScript};
///
/// let script = MockScript::default()
///     .answer("One. Two. Three.")
///     .time_to_first_token(Duration::from_millis(200))
///     .token_delay(Duration::from_millis(20))
///     .fault(MockFault::StallAfter { tokens: 2 });
/// assert_eq!(script.tokens_for("ignored").len(), 3);
/// ```
#[derive(Debug, Clone, Default)]
pub struct MockScript {
    answer: MockAnswer,
    time_to_first_token: Duration,
    token_delay: Duration,
    fault: Option<MockFault>,
    directives: bool,
    model: Option<String>,
}

impl MockScript {
    /// Answers with this text instead of the echo.
    #[must_use]
    pub fn answer(mut self, text: impl Into<String>) -> Self {
        self.answer = MockAnswer::Text(text.into());
        self
    }

    /// Waits this long before the first token (and before a complete answer).
    #[must_use]
    pub fn time_to_first_token(mut self, delay: Duration) -> Self {
        self.time_to_first_token = delay;
        self
    }

    /// Waits this long between tokens.
    #[must_use]
    pub fn token_delay(mut self, delay: Duration) -> Self {
        self.token_delay = delay;
        self
    }

    /// Injects a fault into every call.
    #[must_use]
    pub fn fault(mut self, fault: MockFault) -> Self {
        self.fault = Some(fault);
        self
    }

    /// Lets `mock:` directives in the last user message override the script.
    #[must_use]
    pub fn directives(mut self, enabled: bool) -> Self {
        self.directives = enabled;
        self
    }

    /// Reports this model id in completions instead of the requested one.
    #[must_use]
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Splits the answer to `question` into the tokens the mock sends: each word
    /// with the whitespace before it.
    pub fn tokens_for(&self, question: &str) -> Vec<String> {
        let text = match &self.answer {
            MockAnswer::Text(text) => text.clone(),
            MockAnswer::Echo => echo(question),
        };
        split_tokens(&text)
    }

    fn for_request(&self, chat: &ChatRequest) -> MockScript {
        let mut script = self.clone();
        if !self.directives {
            return script;
        }
        let Some(text) = chat.last_user_text() else {
            return script;
        };
        for word in text.split_whitespace() {
            let Some((name, value)) = word.strip_prefix("mock:").and_then(|d| d.split_once('='))
            else {
                continue;
            };
            let Ok(number) = value.parse::<u64>() else {
                continue;
            };
            let count = usize::try_from(number).unwrap_or(usize::MAX);
            match name {
                "status" => {
                    let status = u16::try_from(number).unwrap_or(500);
                    script.fault = Some(MockFault::Status {
                        status,
                        retry_after_secs: None,
                    });
                }
                "fail_after" => {
                    script.fault = Some(MockFault::FailAfter {
                        tokens: count,
                        kind: UpstreamErrorKind::Overloaded,
                    });
                }
                "stall_after" => script.fault = Some(MockFault::StallAfter { tokens: count }),
                "token_delay_ms" => script.token_delay = Duration::from_millis(number),
                "ttft_ms" => script.time_to_first_token = Duration::from_millis(number),
                _ => {}
            }
        }
        script
    }
}

/// The scriptable provider. Cloning shares the call counter.
///
/// ```
/// use llm_providers::mock::{MockProvider, MockScript};
///
/// let provider = MockProvider::new(MockScript::default());
/// assert_eq!(provider.calls(), 0);
/// ```
#[derive(Debug, Clone)]
pub struct MockProvider {
    script: MockScript,
    calls: Arc<AtomicUsize>,
}

impl MockProvider {
    /// Creates a mock that follows `script`.
    pub fn new(script: MockScript) -> Self {
        Self {
            script,
            calls: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Number of calls made so far, complete and streaming.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }
}

impl Provider for MockProvider {
    fn kind(&self) -> &'static str {
        "mock"
    }

    fn complete<'a>(
        &'a self,
        request: &'a ProviderRequest,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let script = self.script.for_request(&request.chat);
        Box::pin(async move {
            tokio::time::sleep(script.time_to_first_token).await;
            let plan = Plan::new(&script, request);
            if let Some(MockFault::Status {
                status,
                retry_after_secs,
            }) = script.fault
            {
                return Err(status_error(status, retry_after_secs));
            }
            let sent = match script.fault {
                Some(MockFault::FailAfter { tokens, kind }) if tokens < plan.tokens.len() => {
                    return Err(ProviderError::new(kind));
                }
                Some(MockFault::StallAfter { tokens }) if tokens < plan.tokens.len() => {
                    std::future::pending::<()>().await;
                    tokens
                }
                _ => plan.tokens.len(),
            };
            let text: String = plan.tokens[..sent].concat();
            Ok(Completion {
                text,
                tool_calls: Vec::new(),
                usage: plan.usage(sent),
                finish_reason: plan.finish_reason,
                model: plan.model,
            })
        })
    }

    fn stream<'a>(
        &'a self,
        request: &'a ProviderRequest,
    ) -> BoxFuture<'a, Result<ChatStream, ProviderError>> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let script = self.script.for_request(&request.chat);
        Box::pin(async move {
            if let Some(MockFault::Status {
                status,
                retry_after_secs,
            }) = script.fault
            {
                return Err(status_error(status, retry_after_secs));
            }
            let plan = Plan::new(&script, request);
            let state = StreamState {
                plan,
                script,
                next: 0,
                step: Step::Tokens,
            };
            let stream: ChatStream = Box::pin(stream::unfold(state, StreamState::advance));
            Ok(stream)
        })
    }
}

/// The answer of one call, decided before any token is sent.
struct Plan {
    tokens: Vec<String>,
    input_tokens: u64,
    finish_reason: FinishReason,
    model: String,
}

impl Plan {
    fn new(script: &MockScript, request: &ProviderRequest) -> Self {
        let question = request.chat.last_user_text().unwrap_or_default();
        let mut tokens = script.tokens_for(question);
        let mut finish_reason = FinishReason::Stop;
        if let Some(cap) = request.chat.max_tokens {
            let cap = usize::try_from(cap).unwrap_or(usize::MAX);
            if tokens.len() > cap {
                tokens.truncate(cap);
                finish_reason = FinishReason::Length;
            }
        }
        // NOTE: the mock has no tokenizer; four characters per token is the usual
        // rule of thumb for English text.
        let chars = request.chat.total_chars() as u64;
        Self {
            tokens,
            input_tokens: chars.div_ceil(4).max(1),
            finish_reason,
            model: script
                .model
                .clone()
                .unwrap_or_else(|| request.model.clone()),
        }
    }

    fn usage(&self, output_tokens: usize) -> Usage {
        Usage {
            input_tokens: self.input_tokens,
            output_tokens: output_tokens as u64,
            ..Usage::default()
        }
    }
}

enum Step {
    Tokens,
    Finish,
    Done,
}

struct StreamState {
    plan: Plan,
    script: MockScript,
    next: usize,
    step: Step,
}

impl StreamState {
    async fn advance(mut self) -> Option<(Result<StreamEvent, ProviderError>, Self)> {
        match self.step {
            Step::Tokens => {
                let delay = if self.next == 0 {
                    self.script.time_to_first_token
                } else {
                    self.script.token_delay
                };
                tokio::time::sleep(delay).await;
                match self.script.fault {
                    Some(MockFault::FailAfter { tokens, kind }) if self.next == tokens => {
                        self.step = Step::Done;
                        return Some((Err(ProviderError::new(kind)), self));
                    }
                    Some(MockFault::StallAfter { tokens }) if self.next == tokens => {
                        std::future::pending::<()>().await;
                    }
                    _ => {}
                }
                let Some(token) = self.plan.tokens.get(self.next).cloned() else {
                    let usage = self.plan.usage(self.next);
                    self.step = Step::Finish;
                    return Some((Ok(StreamEvent::Usage(usage)), self));
                };
                self.next += 1;
                Some((Ok(StreamEvent::Text(token)), self))
            }
            Step::Finish => {
                self.step = Step::Done;
                Some((Ok(StreamEvent::Finish(self.plan.finish_reason)), self))
            }
            Step::Done => None,
        }
    }
}

fn status_error(status: u16, retry_after_secs: Option<u64>) -> ProviderError {
    let error = ProviderError::from_status(status);
    match retry_after_secs {
        Some(secs) => error.with_retry_after(Duration::from_secs(secs)),
        None => error,
    }
}

fn echo(question: &str) -> String {
    let question = question.trim();
    if question.is_empty() {
        return "Hello from the hello-ship demo provider. Ask me something.".to_owned();
    }
    format!(
        "You asked: \"{question}\". This answer comes from the hello-ship demo provider. \
         It echoes your message instead of calling a model. \
         Configure a route with a real provider to get model answers."
    )
}

fn split_tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    for ch in text.chars() {
        if ch.is_whitespace() && in_word {
            tokens.push(std::mem::take(&mut current));
            in_word = false;
        } else if !ch.is_whitespace() {
            in_word = true;
        }
        current.push(ch);
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;
    use shipped_core::ChatMessage;

    use super::*;

    fn request(text: &str) -> ProviderRequest {
        ProviderRequest::new(
            "mock-model",
            ChatRequest::new(vec![ChatMessage::user(text)]),
        )
    }

    async fn collect(provider: &MockProvider, request: &ProviderRequest) -> Vec<StreamEvent> {
        let mut stream = provider.stream(request).await.unwrap();
        let mut events = Vec::new();
        while let Some(event) = stream.next().await {
            match event {
                Ok(event) => events.push(event),
                Err(error) => panic!("unexpected error {error}"),
            }
        }
        events
    }

    #[test]
    fn tokens_keep_leading_whitespace() {
        assert_eq!(split_tokens("Hi  there.\nBye"), ["Hi", "  there.", "\nBye"]);
        assert_eq!(split_tokens(""), Vec::<String>::new());
    }

    #[tokio::test(start_paused = true)]
    async fn stream_ends_with_usage_then_finish() {
        let provider = MockProvider::new(MockScript::default().answer("a b c"));
        let events = collect(&provider, &request("hello")).await;
        assert_eq!(events.len(), 5);
        assert_eq!(events[0], StreamEvent::Text("a".into()));
        let StreamEvent::Usage(usage) = &events[3] else {
            panic!("expected usage, got {:?}", events[3]);
        };
        assert_eq!(usage.output_tokens, 3);
        assert_eq!(usage.input_tokens, 2);
        assert_eq!(events[4], StreamEvent::Finish(FinishReason::Stop));
    }

    #[tokio::test(start_paused = true)]
    async fn max_tokens_cuts_with_length() {
        let provider = MockProvider::new(MockScript::default().answer("a b c d"));
        let mut req = request("x");
        req.chat.max_tokens = Some(2);
        let events = collect(&provider, &req).await;
        assert_eq!(
            events.last(),
            Some(&StreamEvent::Finish(FinishReason::Length))
        );
        let text_events = events
            .iter()
            .filter(|e| matches!(e, StreamEvent::Text(_)))
            .count();
        assert_eq!(text_events, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn fail_after_sends_tokens_then_error() {
        let script = MockScript::default()
            .answer("a b c")
            .fault(MockFault::FailAfter {
                tokens: 1,
                kind: UpstreamErrorKind::Overloaded,
            });
        let provider = MockProvider::new(script);
        let req = request("x");
        let mut stream = provider.stream(&req).await.unwrap();
        assert!(matches!(
            stream.next().await,
            Some(Ok(StreamEvent::Text(_)))
        ));
        let error = stream.next().await.unwrap().unwrap_err();
        assert_eq!(error.kind(), UpstreamErrorKind::Overloaded);
        assert!(stream.next().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn directives_apply_only_when_enabled() {
        let off = MockProvider::new(MockScript::default());
        assert!(off.stream(&request("mock:status=503")).await.is_ok());

        let on = MockProvider::new(MockScript::default().directives(true));
        let error = on.stream(&request("mock:status=503")).await.err().unwrap();
        assert_eq!(error.status(), Some(503));
        assert_eq!(on.calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn echo_quotes_the_question() {
        let provider = MockProvider::new(MockScript::default());
        let completion = provider.complete(&request("What is 2+2?")).await.unwrap();
        assert!(completion.text.contains("\"What is 2+2?\""));
        assert_eq!(completion.finish_reason, FinishReason::Stop);
        assert_eq!(completion.model, "mock-model");
    }
}
