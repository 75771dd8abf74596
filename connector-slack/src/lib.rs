//! The Slack Provisioner connector: Slack's SCIM API (v1.1 and v2) behind the connector ABI.
//!
//! - [`settings`]: target settings, validated without network;
//! - [`descriptor`]: what the connector offers (PingFederate's options and attributes);
//! - [`attributes`]: where each attribute lives in Slack, per version;
//! - [`client`], [`pacing`], [`errors`]: HTTPS, Slack's budgets, error envelopes and advice;
//! - [`engine`], [`matching`], [`users`], [`groups`]: a batch's records;
//! - [`probe`]: `test` and `search`.

pub mod attributes;
pub mod client;
pub mod descriptor;
pub mod engine;
pub mod errors;
pub mod groups;
pub mod matching;
pub mod pacing;
pub mod probe;
pub mod settings;
pub mod users;

use connector_abi::payload::*;
use connector_abi::{Connector, ConnectorError, Logger};
use engine::Engine;
use std::sync::Arc;

/// A connector instance: its own tokio runtime and engine; every call blocks on the runtime.
pub struct SlackConnector {
    runtime: Option<tokio::runtime::Runtime>,
    engine: Arc<Engine>,
}

impl SlackConnector {
    fn block_on<F: std::future::Future>(&self, f: F) -> Result<F::Output, ConnectorError> {
        match &self.runtime {
            Some(rt) => Ok(rt.block_on(f)),
            None => Err(ErrorInfo::new(ErrorKind::Other, "connector instance is closed").into()),
        }
    }

    /// Requests this instance has sent (for benchmarks and tests).
    pub fn requests_sent(&self) -> u64 {
        self.engine.client.requests_sent()
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
        let client = client::Client::new(&s, log)
            .map_err(|e| ConnectorError::Failed(ErrorInfo::new(ErrorKind::Configuration, e)))?;
        log.info(&format!("slack connector opened: {} (SCIM {})", s.api_base(), s.api_version.path()));
        let engine = Arc::new(Engine { client, settings: s, index: tokio::sync::Mutex::new(Default::default()), log });
        Ok(SlackConnector { runtime: Some(runtime), engine })
    }

    fn test(&self, _request: TestRequest) -> Result<TestResponse, ConnectorError> {
        let engine = Arc::clone(&self.engine);
        self.block_on(async move { probe::test(&engine).await })?.map_err(ConnectorError::Failed)
    }

    fn provision(&self, request: ProvisionRequest) -> Result<ProvisionResponse, ConnectorError> {
        let engine = Arc::clone(&self.engine);
        let results = self.block_on(async move { engine.provision(request).await })?;
        Ok(ProvisionResponse { v: PAYLOAD_VERSION, results })
    }

    fn search(&self, request: SearchRequest) -> Result<SearchPage, ConnectorError> {
        let engine = Arc::clone(&self.engine);
        self.block_on(async move { probe::search(&engine, request).await })?.map_err(ConnectorError::Failed)
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
