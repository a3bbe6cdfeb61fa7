//! `hello-ship eval` and `hello-ship smoke`: clients that check a running
//! hello-ship server with golden cases.
//!
//! Exit codes: 0 when the run passed. 1 when the pass rate is below
//! `--min-pass-rate`, smoke failed, or the drill could not enable its route
//! again. 2 for invalid arguments, an invalid case file, or an admin call that
//! failed before the run. 130 when a drill was interrupted.

mod cases;
mod client;
mod drill;
mod report;
mod run;
mod smoke;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, ValueEnum};

use self::client::Target;
use self::report::Report;

/// Arguments of `hello-ship eval`.
#[derive(Debug, Args)]
pub(crate) struct EvalArgs {
    /// Base URL of the hello-ship server, e.g. http://127.0.0.1:8080.
    #[arg(long, value_name = "URL")]
    base_url: String,

    /// Golden cases: one JSON object per line (see eval/README.md).
    #[arg(long, value_name = "FILE")]
    cases: PathBuf,

    /// Path of the JSON report; without it, only the summary is printed.
    #[arg(long, value_name = "PATH")]
    report: Option<PathBuf>,

    /// Run every case on this route alone, through X-Hello-Ship-Route; needs
    /// the admin key.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["all_routes", "drill"])]
    route: Option<String>,

    /// Run every case on each route the server lists, each request forced
    /// onto one route; needs the admin key.
    #[arg(long, conflicts_with = "drill")]
    all_routes: bool,

    /// Run a fault drill around the cases; needs the admin key.
    #[arg(long, value_enum, value_name = "DRILL")]
    drill: Option<Drill>,

    /// Lowest share of passing cases, from 0 to 1, for exit code 0.
    #[arg(long, value_name = "RATE", default_value_t = 1.0, value_parser = parse_rate)]
    min_pass_rate: f64,

    /// Cases in flight at once.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: u16,

    /// API key, sent as Authorization: Bearer. Prefer the environment
    /// variable, which other users of the machine cannot read from the
    /// process list.
    #[arg(
        long,
        value_name = "KEY",
        env = "HELLO_SHIP_API_KEY",
        hide_env_values = true
    )]
    api_key: Option<String>,

    /// Admin key for --route, --all-routes and --drill, sent as
    /// X-Hello-Ship-Admin-Key.
    #[arg(
        long,
        value_name = "KEY",
        env = "HELLO_SHIP_ADMIN_KEY",
        hide_env_values = true
    )]
    admin_key: Option<String>,

    /// Time limit of each request, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    timeout_secs: u64,
}

/// Arguments of `hello-ship smoke`.
#[derive(Debug, Args)]
pub(crate) struct SmokeArgs {
    /// Base URL of the hello-ship server, e.g. http://127.0.0.1:8080.
    #[arg(long, value_name = "URL")]
    base_url: String,

    /// API key, sent as Authorization: Bearer.
    #[arg(
        long,
        value_name = "KEY",
        env = "HELLO_SHIP_API_KEY",
        hide_env_values = true
    )]
    api_key: Option<String>,

    /// Time limit of each request, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    timeout_secs: u64,
}

/// A fault drill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Drill {
    /// Disable the primary route of the `default` alias during the run, so
    /// every answer must come from a fallback route.
    BlockPrimary,
}

fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => Err(format!("{text:?} is not a rate from 0 to 1, e.g. 0.95")),
    }
}

/// Runs `hello-ship eval`.
pub(crate) fn eval(args: EvalArgs) -> ExitCode {
    block_on(run_eval(args))
}

/// Runs `hello-ship smoke`.
pub(crate) fn smoke(args: SmokeArgs) -> ExitCode {
    block_on(async move {
        let target = match Target::new(
            &args.base_url,
            args.api_key,
            None,
            Duration::from_secs(args.timeout_secs),
        ) {
            Ok(target) => target,
            Err(error) => return usage_error(&error),
        };
        match smoke::smoke(&target).await {
            Ok(message) => {
                progress(&message);
                ExitCode::SUCCESS
            }
            Err(error) => {
                progress(&format!("smoke failed: {error:#}"));
                ExitCode::FAILURE
            }
        }
    })
}

async fn run_eval(args: EvalArgs) -> ExitCode {
    let started_at_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let cases = match cases::load(&args.cases) {
        Ok(cases) => cases,
        Err(error) => return usage_error(&error),
    };
    let target = match Target::new(
        &args.base_url,
        args.api_key,
        args.admin_key,
        Duration::from_secs(args.timeout_secs),
    ) {
        Ok(target) => target,
        Err(error) => return usage_error(&error),
    };
    if (args.route.is_some() || args.all_routes || args.drill.is_some()) && !target.has_admin_key()
    {
        return usage_error(
            &"--route, --all-routes and --drill need the admin key: pass --admin-key or set HELLO_SHIP_ADMIN_KEY",
        );
    }
    let concurrency = usize::from(args.concurrency);

    let (results, drill) = if let Some(Drill::BlockPrimary) = args.drill {
        match drill::block_primary(&target, &cases, concurrency).await {
            Ok(run) => (run.results, Some(run.report)),
            Err(error) => return usage_error(&format!("drill failed: {error:#}")),
        }
    } else {
        let routes = match route_targets(&target, args.route, args.all_routes).await {
            Ok(routes) => routes,
            Err(error) => return usage_error(&error),
        };
        (
            run::run_cases(&target, &cases, &routes, concurrency).await,
            None,
        )
    };

    let interrupted = drill.as_ref().is_some_and(|drill| drill.interrupted);
    let report = Report::new(
        target.base_url(),
        &args.cases,
        started_at_unix,
        args.min_pass_rate,
        results,
        drill,
    );
    progress(&report.summary());
    if let Some(path) = &args.report {
        if let Err(error) = report.write(path) {
            return usage_error(&error);
        }
        progress(&format!("report written to {}", path.display()));
    }
    if interrupted {
        ExitCode::from(130)
    } else if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Lists the routes to force: one, every route the server lists, or `[None]`
/// to let the server choose.
async fn route_targets(
    target: &Target,
    route: Option<String>,
    all_routes: bool,
) -> anyhow::Result<Vec<Option<String>>> {
    if route.is_none() && !all_routes {
        return Ok(vec![None]);
    }
    let list = target.admin_routes().await?;
    if let Some(route) = route {
        if !list.routes.iter().any(|known| known.name == route) {
            let names: Vec<&str> = list
                .routes
                .iter()
                .map(|known| known.name.as_str())
                .collect();
            anyhow::bail!(
                "the server has no route {route:?}; its routes are {}",
                names.join(", ")
            );
        }
        return Ok(vec![Some(route)]);
    }
    let disabled: Vec<&str> = list
        .routes
        .iter()
        .filter(|route| !route.enabled)
        .map(|route| route.name.as_str())
        .collect();
    if !disabled.is_empty() {
        progress(&format!(
            "note: route(s) {} are disabled; their cases will get degraded answers",
            disabled.join(", ")
        ));
    }
    Ok(list
        .routes
        .into_iter()
        .map(|route| Some(route.name))
        .collect())
}

fn block_on(future: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(future),
        Err(error) => {
            progress(&format!(
                "hello-ship: cannot start the async runtime: {error}"
            ));
            ExitCode::FAILURE
        }
    }
}

fn usage_error(error: &dyn std::fmt::Display) -> ExitCode {
    progress(&format!("hello-ship: {error:#}"));
    ExitCode::from(2)
}

/// Prints a line for the person running the command; stdout stays free for
/// the server's JSON logs.
#[expect(
    clippy::print_stderr,
    reason = "eval and smoke report progress to the person who ran them"
)]
fn progress(line: &str) {
    eprintln!("{line}");
}
