//! The `test` operation: a connection and credential diagnosis. Checks that Slack answers at the base
//! URL, that the token is accepted and that the API version works, saying plainly what is wrong.

use crate::pacing::Endpoint;
use crate::Connection;
use connector_abi::payload::*;
use reqwest::Method;
use serde_json::{json, Value};

/// Verifies that Slack answers, that the token is accepted and that the API version works.
pub async fn test(conn: &Connection) -> Result<TestResponse, ErrorInfo> {
    let s = &conn.settings;
    let c = &conn.client;
    c.send(Method::GET, "/ServiceProviderConfigs", None, Endpoint::Discovery, true).await.map_err(|f| {
        let mut e = f.to_error_info();
        e.message = format!("cannot reach Slack's SCIM API at {}: {}", s.api_base(), e.message);
        e
    })?;
    let a = c.send(Method::GET, "/Users?count=1", None, Endpoint::List, true).await.map_err(|f| f.to_error_info())?;
    let total = a.body.get("totalResults").and_then(Value::as_u64).unwrap_or(0);
    let mut details = Attributes::new();
    details.insert("api_version".into(), json!(s.api_version.path()));
    details.insert("base_url".into(), json!(s.api_base()));
    details.insert("users_total".into(), json!(total));
    // For hosts that check they freed every buffer the connector handed out (the Java host does).
    details.insert("abi_live_buffers".into(), json!(connector_abi::sdk::live_buffers()));
    Ok(TestResponse {
        v: PAYLOAD_VERSION,
        message: format!(
            "connected to Slack SCIM {} at {}: token accepted, {total} users visible",
            s.api_version.path(),
            s.api_base()
        ),
        details,
    })
}
