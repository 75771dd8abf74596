//! `provisioner`: the provisioning host's command line. Parses the arguments, sets up logging,
//! dispatches to [`provisioner::commands`] and maps their typed error to the exit codes:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | the command ran but something failed (records or a cycle failed, a connection test failed) |
//! | 2 | usage or configuration error |
//! | 3 | a connector could not be loaded |
//! | 4 | another process is writing the state (`run`, `sync`, `reset`) |

use clap::Parser as _;
use provisioner::cli::{Cli, Command, ConnectorsCommand};
use provisioner::commands::{self, Context};
use std::process::ExitCode;

/// Logs go to stderr, filtered by `PROVISIONER_LOG` (default `info`), as text or JSON lines
/// (`[engine] log_format`). Called once the configuration is loaded. The PostgreSQL client's own
/// debug logs (which print statements' parameters: state rows) stay off whatever the level.
fn init_logging(format: Option<&str>) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PROVISIONER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
        .add_directive(quiet("tokio_postgres"))
        .add_directive(quiet("postgres"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // `try_init` fails only when a subscriber is already set (then that one stays).
    let _ = if format == Some("json") { builder.json().try_init() } else { builder.try_init() };
}

/// `target=warn`.
fn quiet(target: &str) -> tracing_subscriber::filter::Directive {
    // A crate name followed by a level always parses.
    #[allow(clippy::expect_used)]
    format!("{target}=warn").parse().expect("a valid directive")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ctx = Context { config: cli.config, init_logging };
    let result = match cli.command {
        Command::Run => commands::run::run(&ctx),
        Command::Sync { once, json } => commands::sync::run(&ctx, once, json),
        Command::Plan { json } => commands::plan::run(&ctx, json),
        Command::TestConnection { json } => commands::test_connection::run(&ctx, json),
        Command::Channels { json } => commands::channels::run(&ctx, json),
        Command::Nodes { json } => commands::nodes::run(&ctx, json),
        Command::Held { channel, json, no_names } => commands::held::run(&ctx, channel, json, no_names),
        Command::Approve { channel, expect } => commands::held::decide(&ctx, &channel, true, expect.as_deref()),
        Command::Reject { channel, expect } => commands::held::decide(&ctx, &channel, false, expect.as_deref()),
        Command::Reset { channel, reset_all } => commands::reset::run(&ctx, channel, reset_all),
        Command::Connectors { command: ConnectorsCommand::Inspect { path, json } } => {
            commands::inspect::run(&path, json)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
