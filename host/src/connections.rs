//! Connections: load the connector library, build its target settings from the configuration (secrets
//! from environment variables or files), check them against the connector's descriptor, open instances.

use crate::config::{read_secret, Connection, Loaded};
use connector_abi::payload::{FieldType, TargetSettings};
use connector_abi::{ConnectorLibrary, Instance};
use serde_json::Value;
use std::sync::Arc;

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// The configuration is wrong for this connector.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The library could not be loaded.
    #[error(transparent)]
    Load(#[from] connector_abi::LoadError),
    /// The connector refused the settings.
    #[error("connection `{connection}`: the connector refused its settings: {message}")]
    Open {
        /// The connection.
        connection: String,
        /// The connector's message.
        message: String,
    },
}

fn toml_to_json(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map(Value::Number).unwrap_or(Value::Null),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(t.iter().map(|(k, v)| (k.clone(), toml_to_json(v))).collect()),
    }
}

/// Builds and checks a connection's target settings against the connector's descriptor.
pub fn target_settings(
    loaded: &Loaded,
    index: usize,
    conn: &Connection,
    lib: &ConnectorLibrary,
) -> Result<TargetSettings, ConnectionError> {
    let d = lib.descriptor();
    let key = |k: &str| format!("connections[{index}].{k}");
    let mut settings = serde_json::Map::new();
    for (name, v) in &conn.settings {
        let Some(field) = d.configuration.iter().find(|f| &f.name == name) else {
            let known: Vec<&str> = d.configuration.iter().map(|f| f.name.as_str()).collect();
            return Err(loaded
                .error(
                    key(&format!("settings.{name}")),
                    name,
                    format!("`{}` has no setting `{name}` (it has: {})", d.name, known.join(", ")),
                )
                .into());
        };
        if field.confidential {
            return Err(loaded
                .error(key(&format!("settings.{name}")), name, format!("`{name}` is confidential: give it under [connections.secrets] from `env` or `file`, never inline"))
                .into());
        }
        let value = toml_to_json(v);
        let ok = match field.field_type {
            FieldType::Boolean => value.is_boolean(),
            FieldType::Integer => value.is_i64() || value.is_u64(),
            FieldType::Number => value.is_number(),
            FieldType::Select => {
                value.as_str().is_some_and(|s| field.allowed_values.iter().any(|a| a.eq_ignore_ascii_case(s)))
            }
            FieldType::String | FieldType::Url => value.is_string(),
            FieldType::Unknown => true,
        };
        if !ok {
            let want = match field.field_type {
                FieldType::Select => format!("one of {}", field.allowed_values.join(", ")),
                t => format!(
                    "a {}",
                    serde_json::to_value(t).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
                ),
            };
            return Err(loaded.error(key(&format!("settings.{name}")), name, format!("expected {want}")).into());
        }
        settings.insert(name.clone(), value);
    }
    for (name, r) in &conn.secrets {
        if !d.configuration.iter().any(|f| &f.name == name) {
            return Err(loaded
                .error(key(&format!("secrets.{name}")), name, format!("`{}` has no setting `{name}`", d.name))
                .into());
        }
        let strict = loaded.config.engine.strict_permissions;
        let value = read_secret(name, r, strict).map_err(|m| loaded.error(key(&format!("secrets.{name}")), name, m))?;
        settings.insert(name.clone(), Value::String(value));
    }
    for f in d.configuration.iter().filter(|f| f.required) {
        if !settings.contains_key(&f.name) {
            let where_ = if f.confidential { "[connections.secrets]" } else { "[connections.settings]" };
            return Err(loaded
                .error(key("settings"), &conn.name, format!("`{}` needs `{}` (in {where_})", d.name, f.name))
                .into());
        }
    }
    Ok(TargetSettings { v: 1, settings })
}

/// An open connection.
pub struct OpenConnection {
    /// The library.
    pub library: Arc<ConnectorLibrary>,
    /// One instance shared by the connection's channels.
    pub instance: Arc<Instance>,
}

/// Loads the connector and opens an instance.
pub fn open(loaded: &Loaded, index: usize) -> Result<OpenConnection, ConnectionError> {
    let conn = &loaded.config.connections[index];
    let library = ConnectorLibrary::load(&conn.connector)?;
    let settings = target_settings(loaded, index, conn, &library)?;
    let instance = library
        .open_with_log(&settings, &conn.name, None)
        .map_err(|e| ConnectionError::Open { connection: conn.name.clone(), message: e.to_error_info().message })?;
    Ok(OpenConnection { library, instance: Arc::new(instance) })
}

/// The record attribute a connection's connector matches existing accounts by: the value of the
/// setting whose descriptor role is `unique_user_identifier` (or that field's default). `None` when
/// the connector declares no such setting.
pub fn unique_identifier(conn: &Connection, lib: &ConnectorLibrary) -> Option<String> {
    let field = lib
        .descriptor()
        .configuration
        .iter()
        .find(|f| f.role.as_deref() == Some(connector_abi::payload::ROLE_UNIQUE_USER_IDENTIFIER))?;
    match conn.settings.get(&field.name) {
        Some(toml::Value::String(v)) => Some(v.clone()),
        _ => field.default.as_ref().and_then(Value::as_str).map(str::to_owned),
    }
}

/// A fingerprint of a connection's non-secret settings (and its connector path): when it changes,
/// records the connector skipped (an option was off) are decided again.
pub fn settings_fingerprint(conn: &Connection) -> String {
    let json = toml_to_json(&toml::Value::Table(conn.settings.clone()));
    let text = format!("{}\n{}", conn.connector.display(), json);
    crate::engine::diff::short_hash(text.as_bytes())
}
