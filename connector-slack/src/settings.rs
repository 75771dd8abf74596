//! Target settings: parsed and validated without touching the network.

use connector_abi::payload::Attributes;
use serde_json::Value;
use std::time::Duration;
use url::Url;

/// Slack's production SCIM base (the version path is appended).
pub const DEFAULT_BASE_URL: &str = "https://api.slack.com/scim";

/// Why settings were refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SettingsError {
    /// A required setting is absent.
    #[error("setting `{0}` is required")]
    Missing(&'static str),
    /// A setting has the wrong type or value.
    #[error("setting `{name}` is invalid: {why}")]
    Invalid {
        /// The setting.
        name: &'static str,
        /// What is wrong (never the value of a confidential setting).
        why: String,
    },
}

/// SCIM API version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    /// SCIM 1.1.
    V1,
    /// SCIM 2.0.
    V2,
}

impl ApiVersion {
    /// `v1` / `v2`.
    pub fn path(self) -> &'static str {
        match self {
            ApiVersion::V1 => "v1",
            ApiVersion::V2 => "v2",
        }
    }
}

/// The matching key for existing Slack users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniqueIdentifier {
    /// `userName`.
    UserName,
    /// The primary email.
    PrimaryEmail,
}

impl UniqueIdentifier {
    /// The mapped attribute that carries the key.
    pub fn attribute(self) -> &'static str {
        match self {
            UniqueIdentifier::UserName => "userName",
            UniqueIdentifier::PrimaryEmail => "primaryEmail",
        }
    }
}

/// What deprovisioning does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveUserAction {
    /// PATCH `active: false`.
    Disable,
    /// `DELETE /Users/{id}` (Slack deactivates; it cannot erase users).
    Delete,
}

/// Group membership handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipHandling {
    /// Never remove a member the connector did not add.
    Merge,
    /// Slack's members become exactly the source's.
    Overwrite,
}

/// Validated settings.
#[derive(Clone)]
pub struct Settings {
    pub token: String,
    pub api_version: ApiVersion,
    /// Base without the version segment, no trailing slash.
    pub base_url: String,
    pub unique_identifier: UniqueIdentifier,
    pub user_create: bool,
    pub user_update: bool,
    pub user_disable: bool,
    pub remove_user_action: RemoveUserAction,
    pub provision_disabled_users: bool,
    pub group_provisioning: bool,
    pub membership: MembershipHandling,
    pub rate_limit_share: f64,
    pub rate_limit_time_scale: f64,
    pub max_concurrency: usize,
    pub request_timeout: Duration,
    pub max_retries: u32,
    /// The longest single wait a `Retry-After` (or backoff) may impose.
    pub max_retry_wait: Duration,
    /// The largest answer body read; larger answers fail without being buffered.
    pub max_response_bytes: usize,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("token", &"<redacted>")
            .field("api_version", &self.api_version)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

fn get_bool(s: &Attributes, name: &'static str, default: bool) -> Result<bool, SettingsError> {
    match s.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(v)) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(v)) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(_) => Err(SettingsError::Invalid { name, why: "expected true or false".into() }),
    }
}

fn get_num(s: &Attributes, name: &'static str, default: f64, min: f64, max: f64) -> Result<f64, SettingsError> {
    let v = match s.get(name) {
        None | Some(Value::Null) => return Ok(default),
        Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
        Some(Value::String(t)) => t.trim().parse().unwrap_or(f64::NAN),
        Some(_) => f64::NAN,
    };
    if v.is_nan() || v < min || v > max {
        return Err(SettingsError::Invalid { name, why: format!("expected a number from {min} to {max}") });
    }
    Ok(v)
}

fn get_choice<'a>(
    s: &'a Attributes,
    name: &'static str,
    default: &'a str,
    allowed: &[&str],
) -> Result<String, SettingsError> {
    let v = match s.get(name) {
        None | Some(Value::Null) => default,
        Some(Value::String(t)) => t.as_str(),
        Some(_) => return Err(SettingsError::Invalid { name, why: format!("expected one of {}", allowed.join(", ")) }),
    };
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(v.trim()))
        .map(|a| (*a).to_owned())
        .ok_or_else(|| SettingsError::Invalid { name, why: format!("`{v}` is not one of {}", allowed.join(", ")) })
}

/// Whether `host` is a loopback name or address.
pub fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(a) => a.is_loopback(),
        url::Host::Ipv6(a) => a.is_loopback(),
    }
}

impl Settings {
    /// Parses and validates target settings.
    pub fn parse(s: &Attributes) -> Result<Self, SettingsError> {
        let token = match s.get("accessToken") {
            Some(Value::String(t)) if !t.trim().is_empty() => t.trim().to_owned(),
            Some(Value::String(_)) | None | Some(Value::Null) => return Err(SettingsError::Missing("accessToken")),
            Some(_) => return Err(SettingsError::Invalid { name: "accessToken", why: "expected a string".into() }),
        };
        if token.chars().any(|c| c.is_control() || c == ' ') {
            return Err(SettingsError::Invalid {
                name: "accessToken",
                why: "contains spaces or control characters".into(),
            });
        }
        let api_version = match get_choice(s, "apiVersion", "v1", &["v1", "v2"])?.as_str() {
            "v2" => ApiVersion::V2,
            _ => ApiVersion::V1,
        };
        let raw_base = match s.get("baseUrl") {
            None | Some(Value::Null) => DEFAULT_BASE_URL.to_owned(),
            Some(Value::String(b)) => b.trim().to_owned(),
            Some(_) => return Err(SettingsError::Invalid { name: "baseUrl", why: "expected a URL".into() }),
        };
        let url = Url::parse(&raw_base).map_err(|e| SettingsError::Invalid { name: "baseUrl", why: e.to_string() })?;
        let host = url.host().ok_or_else(|| SettingsError::Invalid { name: "baseUrl", why: "no host".into() })?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&host) => {}
            "http" => {
                return Err(SettingsError::Invalid {
                    name: "baseUrl",
                    why: "plain http is refused except on loopback; use https".into(),
                })
            }
            other => {
                return Err(SettingsError::Invalid { name: "baseUrl", why: format!("unsupported scheme `{other}`") })
            }
        }
        if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
            return Err(SettingsError::Invalid {
                name: "baseUrl",
                why: "must not carry credentials or a query".into(),
            });
        }
        let mut base_url = url.as_str().trim_end_matches('/').to_owned();
        for suffix in ["/v1", "/v2"] {
            if let Some(b) = base_url.strip_suffix(suffix) {
                base_url = b.to_owned();
            }
        }
        let unique_identifier =
            match get_choice(s, "uniqueUserIdentifier", "primaryEmail", &["userName", "primaryEmail"])?.as_str() {
                "userName" => UniqueIdentifier::UserName,
                _ => UniqueIdentifier::PrimaryEmail,
            };
        let remove_user_action = match get_choice(s, "removeUserAction", "Disable", &["Disable", "Delete"])?.as_str() {
            "Delete" => RemoveUserAction::Delete,
            _ => RemoveUserAction::Disable,
        };
        let membership = match get_choice(s, "groupMembershipHandling", "Merge", &["Merge", "Overwrite"])?.as_str() {
            "Overwrite" => MembershipHandling::Overwrite,
            _ => MembershipHandling::Merge,
        };
        let user_create = get_bool(s, "userCreate", true)?;
        let provision_disabled_users = get_bool(s, "provisionDisabledUsers", false)?;
        if provision_disabled_users && (!user_create || remove_user_action != RemoveUserAction::Disable) {
            return Err(SettingsError::Invalid {
                name: "provisionDisabledUsers",
                why: "needs userCreate on and removeUserAction Disable".into(),
            });
        }
        Ok(Settings {
            token,
            api_version,
            base_url,
            unique_identifier,
            user_create,
            user_update: get_bool(s, "userUpdate", true)?,
            user_disable: get_bool(s, "userDisable", true)?,
            remove_user_action,
            provision_disabled_users,
            group_provisioning: get_bool(s, "groupProvisioning", true)?,
            membership,
            rate_limit_share: get_num(s, "rateLimitShare", 1.0, 0.05, 1.0)?,
            rate_limit_time_scale: get_num(s, "rateLimitTimeScale", 1.0, 0.001, 10_000.0)?,
            max_concurrency: get_num(s, "maxConcurrency", 4.0, 1.0, 64.0)? as usize,
            request_timeout: Duration::from_secs_f64(get_num(s, "requestTimeoutSeconds", 30.0, 0.1, 600.0)?),
            max_retries: get_num(s, "maxRetries", 6.0, 0.0, 50.0)? as u32,
            max_retry_wait: Duration::from_secs_f64(get_num(s, "maxRetryWaitSeconds", 300.0, 0.0, 86_400.0)?),
            max_response_bytes: get_num(s, "maxResponseBytes", 33_554_432.0, 1_024.0, 1_073_741_824.0)? as usize,
        })
    }

    /// `https://…/scim/v1`.
    pub fn api_base(&self) -> String {
        format!("{}/{}", self.base_url, self.api_version.path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Settings, SettingsError> {
        Settings::parse(v.as_object().unwrap())
    }

    #[test]
    fn defaults_and_validation() {
        let s = parse(json!({"accessToken": "xoxp-1"})).unwrap();
        assert_eq!(s.api_base(), "https://api.slack.com/scim/v1");
        assert_eq!(s.unique_identifier, UniqueIdentifier::PrimaryEmail);
        assert!(s.user_create && s.user_update && s.user_disable && !s.provision_disabled_users);
        assert_eq!((s.remove_user_action, s.membership), (RemoveUserAction::Disable, MembershipHandling::Merge));
        assert!(!format!("{s:?}").contains("xoxp-1"), "the token is redacted in Debug");
        assert_eq!(parse(json!({})).unwrap_err(), SettingsError::Missing("accessToken"));
        assert!(parse(json!({"accessToken": "t", "baseUrl": "http://example.com/scim"}))
            .unwrap_err()
            .to_string()
            .contains("plain http"));
        assert!(parse(json!({"accessToken": "t", "baseUrl": "http://127.0.0.1:9/scim/v2/"})).is_ok());
        assert!(parse(json!({"accessToken": "t", "baseUrl": "http://localhost:9"})).is_ok());
        assert!(parse(json!({"accessToken": "t", "baseUrl": "ftp://x"})).is_err());
        assert!(parse(json!({"accessToken": "t", "apiVersion": "v3"})).is_err());
        assert!(parse(json!({"accessToken": "t", "rateLimitShare": 2})).is_err());
        assert!(parse(json!({"accessToken": "t", "userCreate": "maybe"})).is_err());
        assert!(
            parse(json!({"accessToken": "t", "provisionDisabledUsers": true, "removeUserAction": "Delete"})).is_err()
        );
        let s = parse(json!({"accessToken": "t", "apiVersion": "V2", "uniqueUserIdentifier": "username", "groupMembershipHandling": "overwrite"})).unwrap();
        assert_eq!(
            (s.api_version, s.unique_identifier, s.membership),
            (ApiVersion::V2, UniqueIdentifier::UserName, MembershipHandling::Overwrite)
        );
    }
}
