//! `provisioner`: the provisioning host's command line.
//!
//! Exit codes: 0 success; 1 the command ran but failed (e.g. records failed, test-connection failed);
//! 2 usage or configuration error; 3 a connector could not be loaded.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use provisioner::commands;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "provisioner", version, about = "Keeps SaaS accounts in step with a directory through connectors")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Connector libraries.
    Connectors {
        #[command(subcommand)]
        command: ConnectorsCommand,
    },
}

#[derive(Subcommand)]
enum ConnectorsCommand {
    /// Load a connector library and print its descriptor.
    Inspect {
        /// Path of the connector library (e.g. target/release/libconnector_slack.so).
        path: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Connectors { command: ConnectorsCommand::Inspect { path, json } } => {
            let lib = match connector_abi::ConnectorLibrary::load(&path) {
                Ok(lib) => lib,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(3);
                }
            };
            let out = if json {
                match commands::inspect::render_json(&lib).context("encoding the descriptor") {
                    Ok(s) => s,
                    Err(e) => {
                        eprintln!("error: {e:#}");
                        return ExitCode::from(1);
                    }
                }
            } else {
                commands::inspect::render_table(&lib)
            };
            println!("{}", out.trim_end());
            ExitCode::SUCCESS
        }
    }
}
