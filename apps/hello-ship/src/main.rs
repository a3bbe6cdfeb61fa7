//! The hello-ship server and command-line tool.

mod app;
mod cli;
mod config;
mod drain;
mod eval;
#[cfg(feature = "otlp")]
mod otlp;
mod pipeline;
mod readiness;
mod routes;
mod routes_table;
mod server;
mod usage;

use std::process::ExitCode;

use clap::Parser;
use shipped_obs::{BackgroundGuard, BackgroundWriter, LogSink};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::cli::{Cli, Command, ServeArgs};
use crate::config::Config;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Dropping the guard at the end of main writes out the queued lines,
    // however long standard output takes.
    let _log_writer = init_logging();

    let code = match cli.command {
        Some(Command::CheckConfig { file }) => check_config(&file),
        Some(Command::Usage {
            config,
            days,
            model,
        }) => report_usage(config.as_deref(), days, model.as_deref()),
        Some(Command::Eval(args)) => eval::eval(args),
        Some(Command::Smoke(args)) => eval::smoke(args),
        Some(Command::Serve(args)) => serve(args),
        None => serve(cli.serve),
    };
    // The server has drained by now: export the spans still queued.
    #[cfg(feature = "otlp")]
    otlp::shutdown();
    code
}

/// Log lines queued for the logging thread; at 2,000 requests per second and
/// two lines each, about two seconds of lines.
const LOG_QUEUE_LINES: usize = 8_192;

fn init_logging() -> Option<BackgroundGuard> {
    let filter =
        EnvFilter::try_from_env("HELLO_SHIP_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Writing the request_started line took about 30 µs of a stream's start
    // in the load benchmark, so a thread of its own writes the lines. Without
    // that thread, lines are written where they are logged.
    let (sink, guard) = match BackgroundWriter::spawn(std::io::stdout(), LOG_QUEUE_LINES) {
        Ok((writer, guard)) => (StdoutSink::Background(writer), Some(guard)),
        Err(_) => (StdoutSink::Direct(shipped_obs::Stdout), None),
    };
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(shipped_obs::JsonLayer::new(sink));
    #[cfg(feature = "otlp")]
    let (registry, otlp_status) = {
        let (layer, status) = otlp::layer_from_env();
        (registry.with(layer), status)
    };
    registry.init();
    #[cfg(feature = "otlp")]
    otlp_status.log();

    // A panic is logged as one JSON line with its location; the message is left
    // out because it may hold request data.
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(location, "panic");
    }));
    guard
}

/// Standard output, written by the logging thread when it could be started.
enum StdoutSink {
    Background(BackgroundWriter),
    Direct(shipped_obs::Stdout),
}

impl LogSink for StdoutSink {
    fn write_line(&self, line: &[u8]) {
        match self {
            Self::Background(writer) => writer.write_line(line),
            Self::Direct(stdout) => stdout.write_line(line),
        }
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    let source = server::reload::ConfigSource {
        path: args.config.clone(),
        listen_flag: args.listen.clone(),
        demo: args.demo,
    };
    let config = match Config::load(args.config.as_deref(), args.listen.as_deref(), args.demo) {
        Ok(config) => config,
        Err(error) => {
            tracing::error!(error = %error, "config_invalid");
            report_error(&error);
            return ExitCode::from(2);
        }
    };

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(error = %error, "runtime_start_failed");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(config.listen).await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::error!(listen = %config.listen, error = %error, "bind_failed");
                report_error(&anyhow::anyhow!(
                    "cannot listen on {}: {error}; pick another address with --listen",
                    config.listen
                ));
                return ExitCode::FAILURE;
            }
        };
        let app = match app::App::new(config).await {
            Ok(app) => app,
            Err(error) => {
                tracing::error!(error = format!("{error:#}"), "startup_failed");
                report_error(&format!("{error:#}"));
                return ExitCode::FAILURE;
            }
        };
        match server::serve(app, listener, source).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                tracing::error!(error = %error, "server_failed");
                ExitCode::FAILURE
            }
        }
    })
}

fn check_config(file: &std::path::Path) -> ExitCode {
    match Config::load(Some(file), None, false) {
        Ok(config) => {
            let aliases: Vec<&str> = config.file.models.keys().map(String::as_str).collect();
            report_line(&format!(
                "{} is valid: {} route(s), model aliases: {}",
                file.display(),
                config.file.routes.len(),
                aliases.join(", ")
            ));
            ExitCode::SUCCESS
        }
        Err(error) => {
            report_error(&error);
            ExitCode::from(2)
        }
    }
}

fn report_usage(config: Option<&std::path::Path>, days: u32, model: Option<&str>) -> ExitCode {
    let config = match Config::load(config, None, false) {
        Ok(config) => config,
        Err(error) => {
            report_error(&error);
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            report_error(&error);
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(usage::report(&config, days, model)) {
        Ok(text) => {
            report_line(text.trim_end());
            ExitCode::SUCCESS
        }
        Err(error) => {
            report_error(&format!("{error:#}"));
            ExitCode::FAILURE
        }
    }
}

#[expect(
    clippy::print_stdout,
    reason = "check-config and usage report to the person who ran them"
)]
fn report_line(text: &str) {
    println!("{text}");
}

#[expect(
    clippy::print_stderr,
    reason = "start-up errors go to the person who ran the command"
)]
fn report_error(error: &dyn std::fmt::Display) {
    eprintln!("hello-ship: {error}");
}
