//! An LDAP source's settings (`[connections.channels.source]` with `type = "ldap"`): the server, the
//! bind, TLS, paging and change detection. Pure data and checks: no network.

use super::SecretRef;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// How changed entries are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ChangeDetection {
    /// Read everything every cycle.
    #[default]
    None,
    /// `modifyTimestamp` not older than the last check, written with negation: `(!(modifyTimestamp<=T-1))`.
    Timestamp,
    /// `modifyTimestamp` at or after the last check, without negation (for servers such as Oracle DS).
    TimestampNoNegation,
    /// Active Directory's `uSNChanged` greater than the last one seen.
    Usn,
}

fn default_page() -> u32 {
    500
}
fn default_timeout() -> u64 {
    30
}

/// An LDAP source's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    /// `ldap://host:port` or `ldaps://host:port`.
    pub url: String,
    /// Bind DN (absent: anonymous).
    #[serde(default)]
    pub bind_dn: Option<String>,
    /// Bind password, from an environment variable or a file.
    #[serde(default)]
    pub bind_password: Option<SecretRef>,
    /// Upgrade `ldap://` with StartTLS.
    #[serde(default)]
    pub starttls: bool,
    /// PEM CA certificate(s) to verify the server with (default: the system's roots).
    #[serde(default)]
    pub ca_certificate: Option<PathBuf>,
    /// Connect and operation timeout, seconds.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Paged results page size.
    #[serde(default = "default_page")]
    pub page_size: u32,
    /// Change detection.
    #[serde(default)]
    pub change_detection: ChangeDetection,
    /// The id attribute is binary (AD `objectGUID`): render it as a GUID string.
    #[serde(default)]
    pub guid_binary: bool,
    /// Allow `ldap://` without StartTLS to a non-loopback host (the bind password then travels in clear).
    #[serde(default)]
    pub allow_plaintext: bool,
    /// Timestamp change detection: how far the directory's clock may lag the host's, in seconds. The
    /// next cycle reads entries modified since this cycle's start minus this allowance.
    #[serde(default = "default_skew")]
    pub clock_skew_seconds: u64,
}

fn default_skew() -> u64 {
    5
}

impl LdapConfig {
    /// Checks the URL and transport security (no network).
    pub fn validate(&self) -> Result<(), String> {
        let url = url::Url::parse(&self.url).map_err(|e| format!("`{}` is not a URL: {e}", self.url))?;
        let loopback = match url.host() {
            // ldap:// is not a "special" scheme for the url crate: IP hosts arrive as opaque strings.
            Some(url::Host::Domain(d)) => {
                d.eq_ignore_ascii_case("localhost")
                    || d.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|a| a.is_loopback())
            }
            Some(url::Host::Ipv4(a)) => a.is_loopback(),
            Some(url::Host::Ipv6(a)) => a.is_loopback(),
            None => return Err(format!("`{}` has no host", self.url)),
        };
        match url.scheme() {
            "ldaps" => Ok(()),
            "ldap" if self.starttls || loopback || self.allow_plaintext => Ok(()),
            "ldap" => Err("plain ldap:// to a remote host would send the bind password in clear: use ldaps://, set starttls = true, or set allow_plaintext = true".into()),
            other => Err(format!("unsupported scheme `{other}` (ldap or ldaps)")),
        }
    }

    /// Resolves relative paths against the configuration file's directory.
    pub fn resolve_paths(&mut self, base: &Path) {
        if let Some(p) = self.ca_certificate.as_mut().filter(|p| p.is_relative()) {
            *p = base.join(&*p);
        }
        if let Some(f) = self.bind_password.as_mut().and_then(|s| s.file.as_mut()).filter(|f| f.is_relative()) {
            *f = base.join(&*f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_only_to_loopback_or_when_allowed() {
        let cfg = |url: &str, starttls: bool, allow: bool| {
            let mut c: LdapConfig = toml::from_str(&format!("url = \"{url}\"")).unwrap();
            c.starttls = starttls;
            c.allow_plaintext = allow;
            c.validate()
        };
        assert!(cfg("ldap://dc01.example.com", false, false).unwrap_err().contains("in clear"));
        assert!(cfg("ldap://dc01.example.com", true, false).is_ok());
        assert!(cfg("ldap://dc01.example.com", false, true).is_ok());
        assert!(cfg("ldaps://dc01.example.com:636", false, false).is_ok());
        assert!(cfg("ldap://127.0.0.1:3890", false, false).is_ok());
        assert!(cfg("ldap://[::1]:3890", false, false).is_ok());
        assert!(cfg("ldap://10.0.0.5", false, false).is_err());
        assert!(cfg("http://dc01", false, false).is_err());
    }
}
