//! A live LDAP directory (OpenLDAP, Active Directory, ...) through `ldap3`: simple bind (password from
//! an environment variable or a file), `ldap://` with optional StartTLS or `ldaps://`, certificate
//! verification on (system roots, or a CA file), paged results (RFC 2696), a stable id per entry
//! (`entryUUID`, or AD's binary `objectGUID`), and change detection as PingFederate offers it:
//! `timestamp` (`modifyTimestamp`, with negation), `timestamp_no_negation`, or `usn` (AD `uSNChanged`).
//! An incremental read fetches only changed entries, plus a cheap pass over the location (ids and DNs
//! only) that detects deletions and entries that left it.

use super::{Entry, Kind, ReadOutcome, ReadRequest, Sink, Source, SourceError};
use crate::config::SecretRef;
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{LdapConn, LdapConnSettings, Scope, SearchEntry};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

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

/// Generalized time (UTC, seconds) for a Unix time.
pub fn generalized_time(unix: i64) -> String {
    let (y, mo, d, h, mi, s) = crate::clock::civil(unix);
    format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z")
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

/// The LDAP source.
pub struct LdapSource {
    cfg: LdapConfig,
    password: Option<String>,
}

impl LdapSource {
    /// A source; reads the bind password now (never logged).
    pub fn new(cfg: LdapConfig) -> Result<Self, SourceError> {
        let password = match &cfg.bind_password {
            Some(r) => Some(
                crate::config::read_secret("bind_password", r)
                    .map_err(|m| SourceError::Directory { url: cfg.url.clone(), message: m })?,
            ),
            None => None,
        };
        Ok(LdapSource { cfg, password })
    }

    fn err(&self, what: &str, e: impl std::fmt::Display) -> SourceError {
        SourceError::Directory { url: self.cfg.url.clone(), message: format!("{what}: {e}") }
    }

    fn connect(&self) -> Result<LdapConn, SourceError> {
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(Duration::from_secs(self.cfg.timeout_seconds))
            .set_starttls(self.cfg.starttls);
        if let Some(ca) = &self.cfg.ca_certificate {
            use rustls::pki_types::pem::PemObject;
            let mut roots = rustls::RootCertStore::empty();
            let certs = rustls::pki_types::CertificateDer::pem_file_iter(ca)
                .map_err(|e| self.err(&format!("CA certificate {}", ca.display()), e))?;
            for c in certs {
                let c = c.map_err(|e| self.err(&format!("CA certificate {}", ca.display()), e))?;
                roots.add(c).map_err(|e| self.err("CA certificate", e))?;
            }
            let config =
                rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                    .with_safe_default_protocol_versions()
                    .map_err(|e| self.err("TLS", e))?
                    .with_root_certificates(roots)
                    .with_no_client_auth();
            settings = settings.set_config(Arc::new(config));
        }
        let mut conn = LdapConn::with_settings(settings, &self.cfg.url).map_err(|e| self.err("cannot connect", e))?;
        conn.with_timeout(Duration::from_secs(self.cfg.timeout_seconds));
        if let Some(dn) = &self.cfg.bind_dn {
            conn.simple_bind(dn, self.password.as_deref().unwrap_or(""))
                .and_then(|r| r.success())
                .map_err(|e| self.err(&format!("bind as {dn} refused"), e))?;
        }
        Ok(conn)
    }

    /// A paged subtree search, each entry handed to `f`.
    fn search(
        &self,
        conn: &mut LdapConn,
        base: &str,
        filter: &str,
        attrs: &[String],
        mut f: impl FnMut(SearchEntry) -> Result<(), SourceError>,
    ) -> Result<u64, SourceError> {
        let adapters: Vec<Box<dyn Adapter<String, Vec<String>>>> =
            vec![Box::new(EntriesOnly::new()), Box::new(PagedResults::new(self.cfg.page_size.max(1) as i32))];
        let mut stream = conn
            .streaming_search_with(adapters, base, Scope::Subtree, filter, attrs.to_vec())
            .map_err(|e| self.err(&format!("search {filter} under {base}"), e))?;
        let mut n = 0;
        loop {
            match stream.next() {
                Ok(Some(e)) => {
                    n += 1;
                    f(SearchEntry::construct(e))?;
                }
                Ok(None) => break,
                Err(e) => return Err(self.err("search interrupted", e)),
            }
        }
        stream.result().success().map_err(|e| self.err(&format!("search {filter} under {base}"), e))?;
        Ok(n)
    }

    fn to_entry(&self, se: SearchEntry, id_attr: &str) -> Entry {
        let mut e = Entry::new(se.dn);
        for (k, vs) in se.attrs {
            for v in vs {
                if self.cfg.guid_binary && k.eq_ignore_ascii_case(id_attr) {
                    e.push(&k, guid_string(v.as_bytes()));
                } else {
                    e.push(&k, v);
                }
            }
        }
        for (k, vs) in se.bin_attrs {
            for v in vs {
                let s = if k.eq_ignore_ascii_case(id_attr) && self.cfg.guid_binary {
                    guid_string(&v)
                } else {
                    v.iter().map(|b| format!("{b:02x}")).collect()
                };
                e.push(&k, s);
            }
        }
        e
    }
}

/// Active Directory's GUID string form (the first three fields little-endian).
pub fn guid_string(b: &[u8]) -> String {
    if b.len() != 16 {
        return b.iter().map(|x| format!("{x:02x}")).collect();
    }
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]
    )
}

fn wrap(filter: &str) -> String {
    let f = filter.trim();
    if f.is_empty() {
        "(objectClass=*)".into()
    } else if f.starts_with('(') {
        f.to_owned()
    } else {
        format!("({f})")
    }
}

/// `20261128070102Z` minus one second (generalized time, UTC), for the negated form.
fn minus_one_second(t: &str) -> String {
    let digits: String = t.chars().take(14).collect();
    match digits.parse::<u64>() {
        Ok(v) if digits.len() == 14 && v % 100 > 0 => format!("{:014}Z", v - 1),
        _ => t.to_owned(),
    }
}

impl Source for LdapSource {
    fn describe(&self) -> String {
        format!("LDAP {} (change detection: {:?})", self.cfg.url, self.cfg.change_detection)
    }

    fn applies_location(&self) -> bool {
        true
    }

    fn read(&mut self, req: &ReadRequest, sink: &mut dyn Sink) -> Result<ReadOutcome, SourceError> {
        // "Since the last check" (PingFederate's semantics): this cycle's start, less the clock-skew allowance.
        let started =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        let check_token = generalized_time(started - self.cfg.clock_skew_seconds as i64);
        let mut conn = self.connect()?;
        let id_attr = req.attributes.first().cloned().unwrap_or_else(|| "entryUUID".into());
        let stamp = match self.cfg.change_detection {
            ChangeDetection::Usn => Some("uSNChanged"),
            ChangeDetection::Timestamp | ChangeDetection::TimestampNoNegation => Some("modifyTimestamp"),
            ChangeDetection::None => None,
        };
        let mut attrs: Vec<String> = req.attributes.clone();
        attrs.extend(["objectClass".to_owned()]);
        if let Some(s) = stamp {
            attrs.push(s.to_owned());
        }
        if let Some(g) = &req.groups {
            attrs.push(g.member_attribute.clone());
            if let Some(m) = &g.member_of_attribute {
                attrs.push(m.clone());
            }
        }
        attrs.sort();
        attrs.dedup();
        let mut read = 0;
        // Groups: read in full every cycle (they are few), so membership changes are seen at once.
        if let Some(g) = &req.groups {
            if g.member_of_attribute.is_none() {
                let mut gattrs = vec![id_attr.clone(), "cn".into(), "objectClass".into(), g.member_attribute.clone()];
                gattrs.extend(crate::mapping::Template::parse(&g.name).map(|t| t.attributes()).unwrap_or_default());
                let base = if g.base_dn.is_empty() { req.location.base_dn.clone() } else { g.base_dn.clone() };
                read += self.search(&mut conn, &base, &wrap(&g.filter), &gattrs, |se| {
                    sink.entry(Kind::Group, self.to_entry(se, &id_attr))
                })?;
                if let Some(gdn) = &req.location.group_dn {
                    if !super::under(gdn, &base) {
                        read += self.search(&mut conn, gdn, &wrap(&g.filter), &gattrs, |se| {
                            sink.entry(Kind::Group, self.to_entry(se, &id_attr))
                        })?;
                    }
                }
            }
        }
        let filter = wrap(req.location.filter.as_deref().unwrap_or("(objectClass=*)"));
        // memberOf-derived groups need every user's values each cycle: read in full then.
        let member_of_mode = req.groups.as_ref().is_some_and(|g| g.member_of_attribute.is_some());
        let since = req.since.as_deref().filter(|_| stamp.is_some() && !member_of_mode);
        let changed_filter = match (self.cfg.change_detection, since) {
            (ChangeDetection::Timestamp, Some(t)) => {
                format!("(&{filter}(!(modifyTimestamp<={})))", minus_one_second(t))
            }
            (ChangeDetection::TimestampNoNegation, Some(t)) => format!("(&{filter}(modifyTimestamp>={t}))"),
            (ChangeDetection::Usn, Some(n)) => {
                format!("(&{filter}(uSNChanged>={}))", n.parse::<u64>().unwrap_or(0) + 1)
            }
            _ => filter.clone(),
        };
        // USN: the highest uSNChanged seen (exact); timestamps: the time of this check.
        let usn = self.cfg.change_detection == ChangeDetection::Usn;
        let mut token: Option<String> = if usn { since.map(str::to_owned) } else { Some(check_token) };
        let stamp_name = if usn { "uSNChanged" } else { "" };
        let greater = |a: &str, b: &str| a.parse::<u64>().unwrap_or(0) > b.parse::<u64>().unwrap_or(0);
        read += self.search(&mut conn, &req.location.base_dn, &changed_filter, &attrs, |se| {
            let e = self.to_entry(se, &id_attr);
            if let Some(v) = e.first(stamp_name).filter(|_| usn) {
                if token.as_deref().is_none_or(|t| greater(v, t)) {
                    token = Some(v.to_owned());
                }
            }
            sink.entry(Kind::User, e)
        })?;
        if since.is_none() {
            return Ok(ReadOutcome {
                complete: true,
                token: token.filter(|_| stamp.is_some()),
                entries_read: read,
                ..Default::default()
            });
        }
        // The cheap pass: ids and DNs of everything still in the location.
        let mut present = Vec::new();
        let ids_checked =
            self.search(&mut conn, &req.location.base_dn, &filter, std::slice::from_ref(&id_attr), |se| {
                let e = self.to_entry(se, &id_attr);
                if let Some(id) = e.first(&id_attr) {
                    present.push((id.to_owned(), e.dn.clone()));
                }
                Ok(())
            })?;
        let _ = conn.unbind();
        Ok(ReadOutcome {
            complete: false,
            present_users: Some(present),
            present_groups: None,
            token,
            entries_read: read,
            ids_checked,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_and_timestamps() {
        let b: Vec<u8> = (0u8..16).collect();
        assert_eq!(guid_string(&b), "03020100-0504-0706-0809-0a0b0c0d0e0f");
        assert_eq!(minus_one_second("20261128070102Z"), "20261128070101Z");
        assert_eq!(wrap("uid=x"), "(uid=x)");
        assert_eq!(wrap(""), "(objectClass=*)");
        assert_eq!(generalized_time(1_795_849_262), "20261128070102Z");
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
