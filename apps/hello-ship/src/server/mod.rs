//! The hyper server: accept loop, connections and graceful shutdown.

pub(crate) mod reload;
pub(crate) mod response;
mod service;
mod write_timeout;

use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use self::write_timeout::WriteTimeout;
use crate::app::App;
use crate::readiness::REFRESH_INTERVAL;

/// Time connections get after the drain to write their last bytes.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(1);

/// Slowest a client may send its request headers before the connection closes.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` until SIGTERM or SIGINT, then drains: readiness
/// turns 503, new requests get 503, in-flight requests get the grace period to
/// finish, and the function returns. SIGHUP reloads the configuration from
/// `source`.
pub(crate) async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    source: reload::ConfigSource,
) -> std::io::Result<()> {
    let local_addr = listener.local_addr()?;
    // Install the handlers before announcing the server, so a signal sent right
    // after `server_started` drains or reloads instead of killing the process.
    let shutdown = shutdown_signal()?;
    let slot = reload::AppSlot::new(app.clone());
    reload::reload_on_sighup(slot.clone(), source)?;
    tracing::info!(
        listen = %local_addr,
        demo = app.config.demo,
        routes = app.routes.len(),
        "server_started"
    );
    spawn_readiness_refresh(slot.clone());
    let connections = GracefulShutdown::new();

    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => spawn_connection(slot.clone(), stream, &connections),
                Err(error) => {
                    // Accept fails on fd exhaustion and similar; back off briefly
                    // rather than spin.
                    app.log_repeated_error("accept_failed", &error);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            signal = &mut shutdown => {
                tracing::info!(signal, in_flight = app.drain.in_flight(), "drain_started");
                break;
            }
        }
    }

    // Keep accepting while draining, so new requests get a clear 503 instead of
    // a refused connection.
    let grace = Duration::from_secs(app.config.file.server.drain_grace_secs);
    let deadline = tokio::time::Instant::now() + grace;
    let drained = {
        let app = app.clone();
        async move { app.drain.drain(grace).await }
    };
    tokio::pin!(drained);
    let left = loop {
        tokio::select! {
            left = &mut drained => break left,
            accepted = listener.accept() => {
                if let Ok((stream, _peer)) = accepted {
                    spawn_connection(slot.clone(), stream, &connections);
                }
            }
        }
    };

    // A finished request may still have bytes in flight to its client, and a
    // stream cut by the deadline still sends its closing error frame: give
    // every connection a moment to finish its response and close.
    let closed = tokio::time::timeout_at(
        deadline.max(tokio::time::Instant::now()) + SHUTDOWN_FLUSH,
        connections.shutdown(),
    )
    .await;
    tracing::info!(
        in_flight_abandoned = left,
        connections_closed = closed.is_ok(),
        "drain_finished"
    );
    Ok(())
}

fn spawn_connection(
    slot: Arc<reload::AppSlot>,
    stream: tokio::net::TcpStream,
    connections: &GracefulShutdown,
) {
    // Nagle's algorithm would hold small SSE frames back by up to 40 ms.
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(error = %error, "set_nodelay_failed");
    }
    let watcher = connections.watcher();
    let write_timeout = Duration::from_secs(slot.current().config.file.server.write_timeout_secs);
    tokio::spawn(async move {
        // hyper keeps one allocation the size of the service future for the
        // connection's whole life. Boxing the handler keeps that allocation
        // small, so an open stream or an idle keep-alive connection does not
        // hold the handler's state (about 11 KB) after its response head.
        // Each request takes the app current when it arrives, so a reload
        // applies to the next request on a kept-alive connection too.
        let service = service_fn(move |request| Box::pin(service::handle(slot.current(), request)));
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .serve_connection(
                TokioIo::new(WriteTimeout::new(stream, write_timeout)),
                service,
            );
        let connection = watcher.watch(connection);
        if let Err(error) = connection.await {
            tracing::debug!(error = %error, "connection_closed_with_error");
        }
    });
}

fn spawn_readiness_refresh(slot: Arc<reload::AppSlot>) {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(REFRESH_INTERVAL);
        loop {
            interval.tick().await;
            let app = slot.current();
            for route in &app.routes {
                route.provider.refresh();
            }
            app.readiness.refresh(&app.routes);
        }
    });
}

/// Installs SIGTERM and SIGINT handlers and returns a future that resolves
/// with the name of the first signal received.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = &'static str>> {
    use tokio::signal::unix::{SignalKind, signal};

    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    })
}
