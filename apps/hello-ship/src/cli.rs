//! Command-line interface.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// hello-ship: an LLM chat service that is observable, cost-controlled,
/// gracefully degrading and evaluatable.
#[derive(Debug, Parser)]
#[command(name = "hello-ship", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,

    #[command(flatten)]
    pub(crate) serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the HTTP server (the default when no command is given).
    Serve(ServeArgs),
    /// Validate a configuration file and print every problem with its setting.
    CheckConfig {
        /// The TOML file to check.
        file: PathBuf,
    },
    /// Report spend per tenant per day from the state store, with a monthly
    /// projection for budget planning.
    Usage {
        /// The configuration the server runs with; its `[state]` section names the store.
        #[arg(long, env = "HELLO_SHIP_CONFIG", value_name = "FILE")]
        config: Option<PathBuf>,
        /// Number of UTC days to report, today included.
        #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=366))]
        days: u32,
        /// Model whose prices the projection uses [default: the first route of `default`].
        #[arg(long)]
        model: Option<String>,
    },
    /// Run golden cases against a running server and write a JSON report.
    Eval(crate::eval::EvalArgs),
    /// Check a freshly deployed server: /ready, then one /chat request.
    Smoke(crate::eval::SmokeArgs),
}

#[derive(Debug, Clone, Args)]
pub(crate) struct ServeArgs {
    /// TOML configuration file; without it, built-in defaults apply.
    #[arg(long, env = "HELLO_SHIP_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// Address to listen on [default: 127.0.0.1:8080; env: HELLO_SHIP_LISTEN].
    #[arg(long, value_name = "ADDR")]
    pub(crate) listen: Option<String>,

    /// Serve from the built-in demo provider, which echoes questions and needs
    /// no API key. Replaces the configured routes.
    #[arg(long)]
    pub(crate) demo: bool,
}
