use std::fmt;

/// W3C Trace Context for one request: the trace it belongs to and the
/// `traceparent` value hello-ship sends to providers.
///
/// [`TraceContext::continue_or_start`] keeps a caller's trace id and gives the
/// outgoing call a new parent id, or starts a new sampled trace when the caller
/// sent no valid `traceparent`.
///
/// ```
/// use shipped_core::TraceContext;
///
/// let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// let trace = TraceContext::continue_or_start(Some(incoming));
/// assert_eq!(trace.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert!(trace.traceparent().starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
/// assert_ne!(trace.traceparent(), incoming);
///
/// let fresh = TraceContext::continue_or_start(Some("garbage"));
/// assert_eq!(fresh.trace_id().len(), 32);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct TraceContext {
    traceparent: String,
}

impl TraceContext {
    /// Continues the trace of a valid `incoming` header, or starts a new one.
    pub fn continue_or_start(incoming: Option<&str>) -> Self {
        let parsed = incoming.and_then(parse);
        let (trace_id, flags) = match parsed {
            Some((trace_id, flags)) => (trace_id.to_owned(), flags.to_owned()),
            None => (random_hex::<16>(), "01".to_owned()),
        };
        let parent_id = random_hex::<8>();
        Self {
            traceparent: format!("00-{trace_id}-{parent_id}-{flags}"),
        }
    }

    /// The 32-hex-digit trace id.
    pub fn trace_id(&self) -> &str {
        &self.traceparent[3..35]
    }

    /// The header value to send to providers.
    pub fn traceparent(&self) -> &str {
        &self.traceparent
    }
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceContext({})", self.traceparent)
    }
}

/// Returns the trace id and flags of a valid version-00 `traceparent`:
/// `00-<32 hex>-<16 hex>-<2 hex>`, lowercase, with non-zero ids.
fn parse(value: &str) -> Option<(&str, &str)> {
    let mut parts = value.trim().split('-');
    let version = parts.next()?;
    let trace_id = parts.next()?;
    let parent_id = parts.next()?;
    let flags = parts.next()?;
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let valid = parts.next().is_none()
        && version == "00"
        && hex(trace_id, 32)
        && trace_id.bytes().any(|b| b != b'0')
        && hex(parent_id, 16)
        && parent_id.bytes().any(|b| b != b'0')
        && hex(flags, 2);
    valid.then_some((trace_id, flags))
}

fn random_hex<const N: usize>() -> String {
    let mut bytes = [0u8; N];
    crate::ids::fill_random(&mut bytes);
    // An all-zero id is invalid in W3C Trace Context.
    if bytes.iter().all(|b| *b == 0) {
        bytes[N - 1] = 1;
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_headers_start_new_trace() {
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            let trace = TraceContext::continue_or_start(Some(bad));
            assert_ne!(
                trace.trace_id(),
                "4bf92f3577b34da6a3ce929d0e0e4736",
                "{bad}"
            );
            assert!(parse(trace.traceparent()).is_some(), "{bad}");
        }
    }

    #[test]
    fn flags_are_kept() {
        let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
        let trace = TraceContext::continue_or_start(Some(incoming));
        assert!(trace.traceparent().ends_with("-00"));
    }
}
