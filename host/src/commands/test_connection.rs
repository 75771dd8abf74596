//! `provisioner test-connection`: verify each active connection's credentials against its target
//! (PingFederate verifies the token when a channel is activated).

use super::{CommandError, Context};
use crate::connections;
use anyhow::Context as _;

/// One connection's answer.
#[derive(Debug, serde::Serialize)]
pub struct TestResult {
    /// The connection.
    pub connection: String,
    /// Whether the target accepted the credentials.
    pub ok: bool,
    /// The connector's (or the loader's) message.
    pub message: String,
    /// What the connector learnt (plan, organisation, ...), when it succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<connector_abi::payload::Attributes>,
}

/// `provisioner test-connection [--json]`.
pub fn run(ctx: &Context, json: bool) -> Result<(), CommandError> {
    let compiled = ctx.load()?;
    let l = &compiled.loaded;
    let mut results = Vec::new();
    for (i, conn) in l.config.connections.iter().enumerate().filter(|(_, c)| c.active) {
        let r = connections::open(l, i)
            .map_err(anyhow::Error::new)
            .and_then(|o| o.instance.test().map_err(|e| anyhow::anyhow!(e.to_error_info().message)));
        results.push(match r {
            Ok(t) => {
                TestResult { connection: conn.name.clone(), ok: true, message: t.message, details: Some(t.details) }
            }
            Err(e) => TestResult { connection: conn.name.clone(), ok: false, message: format!("{e:#}"), details: None },
        });
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&results).context("encoding")?);
    } else {
        for r in &results {
            println!("{}: {} {}", r.connection, if r.ok { "OK" } else { "FAILED" }, r.message);
        }
    }
    if results.iter().any(|r| !r.ok) {
        return Err(CommandError::Failed(anyhow::anyhow!("a connection test failed")));
    }
    Ok(())
}
