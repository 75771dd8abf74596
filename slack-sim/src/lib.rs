//! `slack-sim`: a faithful local Slack SCIM API (v1.1 and v2) for tests, the demo and benchmarks.
//!
//! Built from Slack's public documentation: the SCIM API reference
//! (<https://docs.slack.dev/reference/scim-api>, v1.1 and v2), *Using the Slack SCIM API*
//! (<https://docs.slack.dev/admins/scim-api>), the SCIM rate limits
//! (<https://docs.slack.dev/reference/scim-api/rate-limits>) and the pagination changelog
//! (<https://docs.slack.dev/changelog/2019-06-have-scim-will-paginate>); where they are silent, from what
//! the live-API integration tests of Slack's SDKs (<https://github.com/slackapi/java-slack-sdk>,
//! <https://github.com/slackapi/python-slack-sdk>) observe. It reproduces Slack's representations,
//! quirks, error codes and envelopes, rate limits (org-wide and per-endpoint buckets, the per-resource
//! lock), plus deterministic fault injection. See the crate README for every choice made where Slack's
//! behaviour is uncertain.
//!
//! In-process use: `let sim = SimServer::start(SimConfig::default())?; sim.base_url()`.

pub mod errors;
pub mod faults;
pub mod model;
pub mod ratelimit;
pub mod scim;
pub mod server;
pub mod stats;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How the simulator behaves.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The org admin token (`Authorization: Bearer <token>`).
    pub token: String,
    /// A token installed on a workspace of a Grid org instead of the org (answers `non_org_teams_only`).
    pub workspace_token: Option<String>,
    /// Budgets, locks and delays run this many times faster (a one-minute window lasts 60/N seconds).
    pub time_scale: f64,
    /// Enforce Slack's rate limits.
    pub rate_limits: bool,
    /// Fraction of SCIM requests that get a fault.
    pub fault_rate: f64,
    /// Seed of the fault sequence.
    pub seed: u64,
    /// Delay of a "slow" fault (real milliseconds).
    pub slow_ms: u64,
    /// How long a write holds its resource's lock (Slack milliseconds; 0 = no lock window).
    pub lock_hold_ms: u64,
    /// Delay before a DELETE's deactivation shows (Slack milliseconds).
    pub deactivate_delay_ms: u64,
    /// On v2, answer auth errors as observed (`unsupported_version`, 400, v1 envelope) rather than as
    /// documented (`invalid_authentication`, 401, v2 envelope).
    pub v2_observed_auth_errors: bool,
    /// Appends one line per SCIM request to this file: real milliseconds since start, method,
    /// endpoint, status (for benchmarks' timelines).
    pub trace: Option<std::path::PathBuf>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            token: "xoxp-sim-token".into(),
            workspace_token: None,
            time_scale: 1.0,
            rate_limits: true,
            fault_rate: 0.0,
            seed: 1,
            slow_ms: 1500,
            lock_hold_ms: 0,
            deactivate_delay_ms: 0,
            v2_observed_auth_errors: true,
            trace: None,
        }
    }
}

impl SimConfig {
    /// A Slack-time duration in real time.
    pub fn scaled(&self, slack_ms: u64) -> Duration {
        Duration::from_secs_f64(slack_ms as f64 / 1000.0 / self.time_scale.max(0.001))
    }
}

/// Serves on `listener` until `shutdown` resolves. Needs tokio's multi-thread runtime (the store's work
/// runs in `block_in_place`), as [`SimServer::start`] and the binary give it.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: SimConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    let app = Arc::new(server::App::new(config));
    let _ = app.base.set(format!("http://{addr}"));
    axum::serve(listener, server::router(app).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}

/// A simulator running in-process on its own thread and runtime (for tests).
#[derive(Debug)]
pub struct SimServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SimServer {
    /// Starts on an ephemeral loopback port.
    pub fn start(config: SimConfig) -> std::io::Result<Self> {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let thread = std::thread::Builder::new().name("slack-sim".into()).spawn(move || {
            runtime.block_on(async move {
                match tokio::net::TcpListener::from_std(std_listener) {
                    Ok(listener) => {
                        let _ = serve(listener, config, async {
                            let _ = rx.await;
                        })
                        .await;
                    }
                    Err(e) => eprintln!("slack-sim: {e}"),
                }
            });
        })?;
        Ok(SimServer { addr, stop: Some(tx), thread: Some(thread) })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
