//! The Slack Provisioner connector: Slack's SCIM API (v1.1 and v2) behind the connector ABI.
//!
//! - [`settings`]: target settings, validated without network;
//! - [`descriptor`]: what the connector offers (PingFederate's options and attributes);
//! - [`attributes`]: where each attribute lives in Slack, per version;
//! - [`client`], [`pacing`]: HTTPS with retries, Slack's rate-limit budgets;
//! - [`slack_errors`]: Slack's error catalogue (both envelopes; code → error kind, retryable, advice);
//! - [`batch`], [`matching`], [`users`], [`groups`]: a batch's records (`provision`);
//! - [`check`]: the `test` operation (connection and credential diagnosis);
//! - [`search`]: the `search` operation.

pub mod attributes;
pub mod batch;
pub mod check;
pub mod client;
pub mod descriptor;
pub mod groups;
pub mod matching;
pub mod pacing;
pub mod retry_after;
pub mod search;
pub mod settings;
pub mod slack_errors;
pub mod users;

use connector_abi::payload::*;
use connector_abi::{Connector, ConnectorError, Logger};
use std::sync::Arc;

/// What one connector instance works with: the Slack client, the settings, the matching index and the
/// host's logger. Shared by the tasks of a batch.
pub struct Connection {
    pub client: client::Client,
    pub settings: settings::Settings,
    pub index: tokio::sync::Mutex<matching::Index>,
    pub log: Logger,
    /// Bumped by the host's `cancel`: every batch in flight stops (its unfinished records fail, retryable).
    pub cancel: tokio::sync::watch::Sender<u64>,
}

/// A connector instance: its own tokio runtime and its [`Connection`]; every call blocks on the runtime.
pub struct SlackConnector {
    runtime: Option<tokio::runtime::Runtime>,
    conn: Arc<Connection>,
}

impl SlackConnector {
    fn block_on<F: std::future::Future>(&self, f: F) -> Result<F::Output, ConnectorError> {
        match &self.runtime {
            Some(rt) => Ok(rt.block_on(f)),
            None => Err(ErrorInfo::new(ErrorKind::Other, "connector instance is closed").into()),
        }
    }
}

impl Connector for SlackConnector {
    fn describe() -> Descriptor {
        descriptor::descriptor()
    }

    fn open(settings: TargetSettings, log: Logger) -> Result<Self, ConnectorError> {
        let s = settings::Settings::parse(&settings.settings)
            .map_err(|e| ConnectorError::Failed(ErrorInfo::new(ErrorKind::Configuration, e.to_string())))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("slack-connector")
            .enable_all()
            .build()
            .map_err(|e| {
                ConnectorError::Failed(ErrorInfo::new(ErrorKind::Other, format!("cannot start the runtime: {e}")))
            })?;
        let client = client::Client::new(&s, log.clone())
            .map_err(|e| ConnectorError::Failed(ErrorInfo::new(ErrorKind::Configuration, e)))?;
        log.info(&format!("slack connector opened: {} (SCIM {})", s.api_base(), s.api_version.path()));
        let conn = Arc::new(Connection {
            client,
            settings: s,
            index: tokio::sync::Mutex::new(Default::default()),
            log,
            cancel: tokio::sync::watch::Sender::new(0),
        });
        Ok(SlackConnector { runtime: Some(runtime), conn })
    }

    fn test(&self, _request: TestRequest) -> Result<TestResponse, ConnectorError> {
        let conn = Arc::clone(&self.conn);
        self.block_on(async move { check::test(&conn).await })?.map_err(ConnectorError::Failed)
    }

    fn provision(&self, request: ProvisionRequest) -> Result<ProvisionResponse, ConnectorError> {
        let conn = Arc::clone(&self.conn);
        let results = self.block_on(async move { conn.provision(request).await })?;
        Ok(ProvisionResponse { v: PAYLOAD_VERSION, results })
    }

    fn search(&self, request: SearchRequest) -> Result<SearchPage, ConnectorError> {
        let conn = Arc::clone(&self.conn);
        self.block_on(async move { search::search(&conn, request).await })?.map_err(ConnectorError::Failed)
    }

    /// Every batch in flight stops at once: its unfinished records fail, retryable (ABI 1.1).
    fn cancel(&self) {
        self.conn.cancel.send_modify(|generation| *generation = generation.wrapping_add(1));
    }
}

impl Drop for SlackConnector {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(std::time::Duration::from_secs(2));
        }
    }
}

connector_abi::export_connector!(SlackConnector);
