//! `slack-sim`: serve a local Slack SCIM API until SIGINT/SIGTERM.
//! Prints `listening on http://HOST:PORT` as its first line.

use clap::{Parser, ValueEnum};
use slack_sim::SimConfig;
use std::io::Write as _;
use std::process::ExitCode;

#[derive(Clone, Copy, ValueEnum)]
enum RateLimits {
    /// Slack's documented budgets.
    Slack,
    /// No limits.
    Off,
}

#[derive(Parser)]
#[command(name = "slack-sim", version, about = "A faithful local Slack SCIM API (v1.1 and v2)")]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// The org admin token clients must send.
    #[arg(long, env = "SLACK_SIM_TOKEN", default_value = "xoxp-sim-token", hide_env_values = true)]
    token: String,
    /// A token that answers `non_org_teams_only` (a workspace-level install on Grid).
    #[arg(long, hide_env_values = true)]
    workspace_token: Option<String>,
    /// Run budgets, locks and delays N times faster.
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Rate limits.
    #[arg(long, value_enum, default_value = "slack")]
    rate_limits: RateLimits,
    /// Fraction of SCIM requests that get a fault (500, 503, slow, dropped, truncated).
    #[arg(long, default_value_t = 0.0)]
    fault_rate: f64,
    /// Seed of the fault sequence.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Delay of a slow fault, in milliseconds.
    #[arg(long, default_value_t = 1500)]
    slow_ms: u64,
    /// How long each write holds its resource's lock (Slack milliseconds).
    #[arg(long, default_value_t = 0)]
    lock_hold_ms: u64,
    /// Delay before a DELETE's deactivation shows (Slack milliseconds).
    #[arg(long, default_value_t = 0)]
    deactivate_delay_ms: u64,
    /// v2 auth errors as documented (401 invalid_authentication, v2 envelope) instead of as observed.
    #[arg(long)]
    v2_documented_auth_errors: bool,
    /// Append one line per SCIM request to FILE: real milliseconds since start, method, endpoint, status.
    #[arg(long, value_name = "FILE")]
    trace: Option<std::path::PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.time_scale <= 0.0 || !(0.0..=1.0).contains(&args.fault_rate) {
        eprintln!("error: --time-scale must be > 0 and --fault-rate within 0..=1");
        return ExitCode::from(2);
    }
    let config = SimConfig {
        token: args.token,
        workspace_token: args.workspace_token,
        time_scale: args.time_scale,
        rate_limits: matches!(args.rate_limits, RateLimits::Slack),
        fault_rate: args.fault_rate,
        seed: args.seed,
        slow_ms: args.slow_ms,
        lock_hold_ms: args.lock_hold_ms,
        deactivate_delay_ms: args.deactivate_delay_ms,
        v2_observed_auth_errors: !args.v2_documented_auth_errors,
        trace: args.trace,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.listen).await?;
        let addr = listener.local_addr()?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "listening on http://{addr}")?;
            out.flush()?;
        }
        slack_sim::serve(listener, config, shutdown_signal()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
