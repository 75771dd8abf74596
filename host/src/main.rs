//! `provisioner`: the provisioning host's command line.
//!
//! Exit codes: 0 success; 1 the command ran but something failed (records or a cycle failed, a
//! connection test failed); 2 usage or configuration error; 3 a connector could not be loaded.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use provisioner::audit::Audit;
use provisioner::commands;
use provisioner::config::{self, Loaded};
use provisioner::engine::{NoProgress, Progress};
use provisioner::state::State;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "provisioner", version, about = "Keeps SaaS accounts in step with a directory through connectors")]
struct Cli {
    /// Configuration file.
    #[arg(long, short, global = true, default_value = "provisioner.toml", env = "PROVISIONER_CONFIG")]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
    /// Forget a channel's provisioning state (its next cycle re-matches everything).
    Reset {
        /// The channel.
        channel: Option<String>,
        /// Every channel.
        #[arg(long)]
        reset_all: bool,
    },
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
        /// Path of the connector library.
        path: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

enum Failure {
    Usage(anyhow::Error),
    Load(anyhow::Error),
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        use provisioner::connections::ConnectionError;
        let conn = e.chain().find_map(|c| c.downcast_ref::<ConnectionError>());
        if matches!(conn, Some(ConnectionError::Load(_))) {
            Failure::Load(e)
        } else if matches!(conn, Some(ConnectionError::Config(_))) {
            Failure::Usage(e)
        } else if e.chain().any(|c| c.downcast_ref::<connector_abi::LoadError>().is_some()) {
            Failure::Load(e)
        } else if e.chain().any(|c| c.downcast_ref::<config::ConfigError>().is_some()) {
            Failure::Usage(e)
        } else {
            Failure::Failed(e)
        }
    }
}

fn init_logging(format: Option<&str>) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PROVISIONER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if format == Some("json") {
        let _ = builder.json().try_init();
    } else {
        let _ = builder.try_init();
    }
}

fn load(path: &std::path::Path) -> Result<Loaded, Failure> {
    let l = config::load(path).map_err(|e| Failure::Usage(anyhow::Error::new(e)))?;
    init_logging(l.config.engine.log_format.as_deref());
    Ok(l)
}

fn open_state(l: &Loaded) -> Result<(State, Audit), Failure> {
    let state =
        State::open(&l.config.engine.state_db).context("opening the state database").map_err(Failure::Failed)?;
    let audit = Audit::open(&l.config.engine.audit_log)
        .with_context(|| format!("opening the audit log {}", l.config.engine.audit_log.display()))
        .map_err(Failure::Failed)?;
    Ok((state, audit))
}

/// indicatif bars on a terminal, nothing otherwise (the summary lines still print).
struct Bars(std::sync::Mutex<Option<indicatif::ProgressBar>>);

impl Progress for Bars {
    fn start(&self, channel: &str, phase: &str, total: u64) {
        let pb = indicatif::ProgressBar::new(total);
        pb.set_style(
            indicatif::ProgressStyle::with_template("{prefix:>20} {bar:40} {pos}/{len} {per_sec}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        pb.set_prefix(format!("{channel} {phase}"));
        if let Ok(mut g) = self.0.lock() {
            *g = Some(pb);
        }
    }
    fn advance(&self, n: u64) {
        if let Ok(g) = self.0.lock() {
            if let Some(pb) = g.as_ref() {
                pb.inc(n);
            }
        }
    }
    fn finish(&self) {
        if let Ok(mut g) = self.0.lock() {
            if let Some(pb) = g.take() {
                pb.finish_and_clear();
            }
        }
    }
}

fn stop_flag() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        let _ = signal_hook::flag::register(sig, Arc::clone(&stop));
    }
    stop
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Connectors { command: ConnectorsCommand::Inspect { path, json } } => {
            let lib = connector_abi::ConnectorLibrary::load(&path).map_err(|e| Failure::Load(e.into()))?;
            let out = if json {
                commands::inspect::render_json(&lib).context("encoding the descriptor")?
            } else {
                commands::inspect::render_table(&lib)
            };
            println!("{}", out.trim_end());
            Ok(())
        }
        Command::Sync { once, json } => {
            if !once {
                return Err(Failure::Usage(anyhow::anyhow!("`sync` needs --once (use `run` for the loop)")));
            }
            let l = load(&cli.config)?;
            let (mut state, audit) = open_state(&l)?;
            let rts = commands::sync::runtimes(&l)?;
            let stop = stop_flag();
            let bars = Bars(std::sync::Mutex::new(None));
            let progress: &dyn Progress = if std::io::stderr().is_terminal() { &bars } else { &NoProgress };
            let reports = commands::sync::cycle_all(&rts, &mut state, &audit, &l, false, &stop, progress);
            if json {
                println!("{}", serde_json::to_string_pretty(&reports).context("encoding the summary")?);
            } else {
                print!("{}", commands::sync::summary(&reports));
            }
            if reports.iter().any(|r| r.error.is_some() || r.figures.failed > 0) {
                return Err(Failure::Failed(anyhow::anyhow!(
                    "some records or channels failed (see the summary and the audit log)"
                )));
            }
            Ok(())
        }
        Command::Run => {
            let l = load(&cli.config)?;
            let (mut state, audit) = open_state(&l)?;
            let rts = commands::sync::runtimes(&l)?;
            let stop = stop_flag();
            let interval = Duration::from_secs(l.config.engine.cycle_interval_seconds);
            tracing::info!(channels = rts.len(), interval_s = interval.as_secs(), "provisioner running");
            while !stop.load(Ordering::SeqCst) {
                let reports = commands::sync::cycle_all(&rts, &mut state, &audit, &l, false, &stop, &NoProgress);
                print!("{}", commands::sync::summary(&reports));
                let until = std::time::Instant::now() + interval;
                while std::time::Instant::now() < until && !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            tracing::info!("stopped");
            Ok(())
        }
        Command::Plan { json } => {
            let l = load(&cli.config)?;
            let (mut state, audit) = open_state(&l)?;
            let rts = commands::sync::runtimes(&l)?;
            let stop = AtomicBool::new(false);
            let reports = commands::sync::cycle_all(&rts, &mut state, &audit, &l, true, &stop, &NoProgress);
            if json {
                println!("{}", serde_json::to_string_pretty(&reports).context("encoding the plan")?);
            } else {
                print!("{}", commands::sync::render_plan(&reports));
            }
            if reports.iter().any(|r| r.error.is_some()) {
                return Err(Failure::Failed(anyhow::anyhow!("some channels could not be planned")));
            }
            Ok(())
        }
        Command::TestConnection { json } => {
            let l = load(&cli.config)?;
            let mut results = Vec::new();
            let mut failed = false;
            for (i, conn) in l.config.connections.iter().enumerate().filter(|(_, c)| c.active) {
                let r = provisioner::connections::open(&l, i)
                    .map_err(anyhow::Error::new)
                    .and_then(|o| o.instance.test().map_err(|e| anyhow::anyhow!(e.to_error_info().message)));
                match r {
                    Ok(t) => results.push(serde_json::json!({"connection": conn.name, "ok": true, "message": t.message, "details": t.details})),
                    Err(e) => {
                        failed = true;
                        results.push(serde_json::json!({"connection": conn.name, "ok": false, "message": format!("{e:#}")}));
                    }
                }
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&results).context("encoding")?);
            } else {
                for r in &results {
                    println!(
                        "{}: {} {}",
                        r["connection"].as_str().unwrap_or(""),
                        if r["ok"] == true { "OK" } else { "FAILED" },
                        r["message"].as_str().unwrap_or("")
                    );
                }
            }
            if failed {
                return Err(Failure::Failed(anyhow::anyhow!("a connection test failed")));
            }
            Ok(())
        }
        Command::Channels { json } => {
            let l = load(&cli.config)?;
            let (state, _) = open_state(&l)?;
            let v = commands::channels::collect(&l, &state).context("reading the state")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v).context("encoding")?);
            } else {
                print!("{}", commands::channels::render(&v));
            }
            Ok(())
        }
        Command::Reset { channel, reset_all } => {
            let l = load(&cli.config)?;
            let (state, _) = open_state(&l)?;
            let all: Vec<String> =
                l.config.connections.iter().flat_map(|c| c.channels.iter().map(|ch| ch.name.clone())).collect();
            let targets = match (channel, reset_all) {
                (_, true) => all,
                (Some(c), false) if all.contains(&c) => vec![c],
                (Some(c), false) => {
                    return Err(Failure::Usage(anyhow::anyhow!("no channel `{c}` in {}", cli.config.display())))
                }
                (None, false) => return Err(Failure::Usage(anyhow::anyhow!("name a channel, or give --reset-all"))),
            };
            for c in &targets {
                state.reset(c).with_context(|| format!("resetting `{c}`"))?;
                println!("reset {c}");
            }
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
        Err(Failure::Load(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(3)
        }
        Err(Failure::Failed(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
