//! The command line (clap): what `provisioner --help` shows.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// `provisioner`'s arguments.
#[derive(Parser)]
#[command(name = "provisioner", version, about = "Keeps SaaS accounts in step with a directory through connectors")]
pub struct Cli {
    /// Configuration file.
    #[arg(long, short, global = true, default_value = "provisioner.toml", env = "PROVISIONER_CONFIG")]
    pub config: PathBuf,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Subcommand)]
pub enum Command {
    /// Run cycles every `cycle_interval_seconds` until SIGTERM/SIGINT (the batch in flight finishes).
    Run,
    /// Run one cycle of every active channel.
    Sync {
        /// One cycle, then exit (required: `run` is the loop).
        #[arg(long)]
        once: bool,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show what a cycle would create, update, disable and delete, without writing anything.
    Plan {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Verify each active connection's credentials against its target.
    TestConnection {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Per channel: status, users, groups, dirty counts, last cycle.
    Channels {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Deprovisioning actions the guard held (and approved ones waiting for the next cycle).
    Held {
        /// Only this channel.
        channel: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Do not read the accounts' names from the target.
        #[arg(long)]
        no_names: bool,
    },
    /// Let the next cycle send exactly the deprovisioning actions held for a channel.
    Approve {
        /// The channel.
        channel: String,
        /// Only if the held set is still the one `held` showed (its digest).
        #[arg(long)]
        expect: Option<String>,
    },
    /// Drop a channel's held deprovisioning actions: those accounts stay until the source changes again.
    Reject {
        /// The channel.
        channel: String,
        /// Only if the held set is still the one `held` showed (its digest).
        #[arg(long)]
        expect: Option<String>,
    },
    /// Forget a channel's provisioning state (its next cycle re-matches everything).
    Reset {
        /// The channel.
        channel: Option<String>,
        /// Every channel.
        #[arg(long)]
        reset_all: bool,
    },
    /// The nodes sharing this state (failover and cluster modes): role, heartbeat age, leases held.
    Nodes {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Connector libraries.
    Connectors {
        /// The connectors command.
        #[command(subcommand)]
        command: ConnectorsCommand,
    },
}

/// `provisioner connectors ...`.
#[derive(Subcommand)]
pub enum ConnectorsCommand {
    /// Load a connector library and print its descriptor.
    Inspect {
        /// Path of the connector library.
        path: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}
