//! OTLP/HTTP export of request spans, compiled with the `otlp` feature.
//!
//! Export is on only when `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set. Without either, no exporter is built
//! and nothing connects anywhere.

use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::trace::{TraceId, TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing::span::{Id, Record};
use tracing_opentelemetry::OtelData;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

const TRACES_ENDPOINT_VAR: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
const ENDPOINT_VAR: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
const DEFAULT_SERVICE_NAME: &str = "hello-ship";

/// Timeout of one export request: the OTLP specification's default, fixed
/// here, so `OTEL_EXPORTER_OTLP_TIMEOUT` is not read.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The provider whose batch processor [`shutdown`] flushes.
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Outcome of reading the OTLP settings, logged by [`Status::log`] once the
/// subscriber is installed.
#[derive(Debug)]
pub(crate) enum Status {
    /// No endpoint variable is set.
    Off,
    /// Spans are exported to `endpoint`.
    Exporting {
        endpoint: String,
        service_name: String,
    },
    /// The settings are invalid, so nothing is exported.
    Failed { error: String },
}

impl Status {
    /// Logs `otlp_export_started` or `otlp_export_failed`, and nothing when
    /// export is off.
    pub(crate) fn log(&self) {
        match self {
            Self::Off => {}
            Self::Exporting {
                endpoint,
                service_name,
            } => tracing::info!(endpoint, service_name, "otlp_export_started"),
            Self::Failed { error } => tracing::error!(error, "otlp_export_failed"),
        }
    }
}

/// Builds the export layer from the `OTEL_*` environment variables. The layer
/// is `None` when export is off or its settings are invalid.
pub(crate) fn layer_from_env<S>() -> (Option<impl Layer<S>>, Status)
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    let endpoint = match endpoint_from_env() {
        Ok(Some(endpoint)) => endpoint,
        Ok(None) => return (None, Status::Off),
        Err(error) => return (None, Status::Failed { error }),
    };
    let service_name = std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|name| !name.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned());
    let provider = match build_provider(&endpoint, &service_name) {
        Ok(provider) => provider,
        Err(error) => return (None, Status::Failed { error }),
    };

    let tracer = provider.tracer("hello-ship");
    let _ = PROVIDER.set(provider);
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .and_then(RequestTraceId)
        // Only the workspace's own spans and events: the spans of the
        // exporter's HTTP client (hyper, h2, reqwest) would otherwise be
        // exported in turn.
        .with_filter(filter_fn(|metadata| {
            let target = metadata.target();
            ["hello_ship", "llm_", "shipped_"]
                .iter()
                .any(|prefix| target.starts_with(prefix))
        }));
    let status = Status::Exporting {
        endpoint: without_userinfo(&endpoint),
        service_name,
    };
    (Some(layer), status)
}

/// Exports the spans still queued and stops the exporter. Called once, after
/// the server has drained and before the process exits.
pub(crate) fn shutdown() {
    if let Some(provider) = PROVIDER.get() {
        if let Err(error) = provider.shutdown() {
            tracing::warn!(error = %error, "otlp_shutdown_failed");
        }
    }
}

/// Reads the traces endpoint: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as given,
/// else `OTEL_EXPORTER_OTLP_ENDPOINT` with `/v1/traces` appended, as the OTLP
/// specification defines. Returns `Ok(None)` when neither is set, so there is
/// no default endpoint.
fn endpoint_from_env() -> Result<Option<http::Uri>, String> {
    let non_empty = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|value| !value.trim().is_empty())
    };
    let (name, url) = if let Some(url) = non_empty(TRACES_ENDPOINT_VAR) {
        (TRACES_ENDPOINT_VAR, url)
    } else if let Some(base) = non_empty(ENDPOINT_VAR) {
        let url = format!("{}/v1/traces", base.trim().trim_end_matches('/'));
        (ENDPOINT_VAR, url)
    } else {
        return Ok(None);
    };

    let url = url.trim();
    let invalid = |reason: &str| format!("{name} is invalid ({reason}): set an http or https URL");
    let uri: http::Uri = url.parse().map_err(|error| invalid(&format!("{error}")))?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.host().is_some() => Ok(Some(uri)),
        _ => Err(invalid("no http or https scheme and host")),
    }
}

fn build_provider(endpoint: &http::Uri, service_name: &str) -> Result<SdkTracerProvider, String> {
    // Proxy variables are ignored, as by the client of `hello-ship eval`, so
    // spans go to the configured endpoint and nowhere else.
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|error| format!("building the OTLP HTTP client failed: {error}"))?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(endpoint.to_string())
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|error| format!("building the OTLP span exporter failed: {error}"))?;
    let resource = Resource::builder()
        .with_service_name(service_name.to_owned())
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// Formats `uri` for the log without any `user:password@`.
fn without_userinfo(uri: &http::Uri) -> String {
    let host = uri.host().unwrap_or_default();
    let port = uri
        .port()
        .map(|port| format!(":{port}"))
        .unwrap_or_default();
    let path = uri.path_and_query().map_or("", |path| path.as_str());
    format!(
        "{}://{host}{port}{path}",
        uri.scheme_str().unwrap_or_default()
    )
}

/// Gives each `request` span the trace id recorded in its `trace_id` field,
/// the caller's when it sent a valid `traceparent`, so the exported span
/// belongs to the caller's trace.
///
/// NOTE: the exported span is a root span of that trace. The caller's parent
/// span id and the parent id sent to providers are not recorded on the
/// request span, so neither is linked.
struct RequestTraceId;

impl<S> Layer<S> for RequestTraceId
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let mut visitor = TraceIdVisitor(None);
        values.record(&mut visitor);
        let Some(trace_id) = visitor.0 else {
            return;
        };
        let Some(span) = ctx.span(id) else {
            return;
        };
        if span.name() != "request" {
            return;
        }
        // tracing-opentelemetry 0.31 builds the span when the tracing span
        // closes, so a trace id set on the builder before then is exported.
        if let Some(data) = span.extensions_mut().get_mut::<OtelData>() {
            data.builder.trace_id = Some(trace_id);
        }
    }
}

/// Reads a valid `trace_id` field of 32 hex digits.
struct TraceIdVisitor(Option<TraceId>);

impl Visit for TraceIdVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "trace_id" {
            self.0 = TraceId::from_hex(value)
                .ok()
                .filter(|id| value.len() == 32 && *id != TraceId::INVALID);
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
}
