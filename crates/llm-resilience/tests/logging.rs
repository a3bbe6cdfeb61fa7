//! The log events of retries, fallbacks, circuit changes and degradation, and
//! the fields they carry.

mod support;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use llm_resilience::ChainConfig;
use support::{Scripted, Step, chain, request, route};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::{Layer, Registry};

/// One captured event: its message and its other fields, rendered with `Debug`.
#[derive(Debug, Clone, Default)]
struct Captured {
    message: String,
    fields: BTreeMap<String, String>,
}

#[derive(Clone, Default)]
struct Capture {
    events: Arc<Mutex<Vec<Captured>>>,
}

impl Capture {
    fn find(&self, message: &str) -> Vec<Captured> {
        let events = self.events.lock().expect("capture lock");
        events
            .iter()
            .filter(|event| event.message == message)
            .cloned()
            .collect()
    }
}

impl Visit for Captured {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        let value = format!("{value:?}");
        if field.name() == "message" {
            self.message = value;
        } else {
            self.fields.insert(field.name().to_owned(), value);
        }
    }
}

impl<S: Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &Event<'_>, _context: Context<'_, S>) {
        let mut captured = Captured::default();
        event.record(&mut captured);
        self.events.lock().expect("capture lock").push(captured);
    }
}

#[tokio::test(start_paused = true)]
async fn chain_logs_retry_fallback_and_degradation() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(Registry::default().with(capture.clone()));
    let primary = Scripted::always(Step::Status(503, None));
    let secondary = Scripted::always(Step::Status(401, None));
    let mut config = ChainConfig::default();
    config.retry.max_attempts = 2;
    config.breaker.failure_threshold = 2;
    let chain = chain(
        vec![route("primary", primary), route("secondary", secondary)],
        config,
    );

    chain.complete(request()).await.expect("a degraded answer");

    let retries = capture.find("retrying");
    assert_eq!(retries.len(), 1);
    let retry = &retries[0].fields;
    assert_eq!(retry["route"], "primary");
    assert_eq!(retry["error_kind"], "\"overloaded\"");
    assert_eq!(retry["attempt"], "1");
    assert!(retry.contains_key("delay_ms"));

    let fallbacks = capture.find("falling_back");
    assert_eq!(fallbacks.len(), 1);
    assert_eq!(fallbacks[0].fields["route"], "secondary");
    assert_eq!(fallbacks[0].fields["fallback_tier"], "fallback");

    let opened = capture.find("circuit_opened");
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0].fields["route"], "primary");

    let degraded = capture.find("chain_degraded");
    assert_eq!(degraded.len(), 1);
    let degraded = &degraded[0].fields;
    assert_eq!(degraded["fallback_tier"], "\"static\"");
    assert!(degraded["incident_id"].starts_with("INC-"));
    assert_eq!(degraded["error_kind"], "\"authentication\"");
}
