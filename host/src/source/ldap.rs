//! A live LDAP directory (OpenLDAP, Active Directory, ...) through `ldap3`: simple bind (password from
//! an environment variable or a file), `ldap://` with optional StartTLS or `ldaps://`, certificate
//! verification on (system roots, or a CA file), paged results (RFC 2696), a stable id per entry
//! (`entryUUID`, or AD's binary `objectGUID`), and change detection as PingFederate offers it:
//! `timestamp` (`modifyTimestamp`, with negation), `timestamp_no_negation`, or `usn` (AD `uSNChanged`).
//! An incremental read fetches only changed entries, plus a cheap pass over the location (ids and DNs
//! only) that detects deletions and entries that left it.

use super::{Kind, ReadOutcome, ReadRequest, Sink, Source, SourceError};
use crate::config::ldap::{ChangeDetection, LdapConfig};
use crate::entry::{under, Entry};
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{LdapConn, LdapConnSettings, Scope, SearchEntry};
use std::sync::Arc;
use std::time::Duration;

/// The LDAP source.
pub struct LdapSource {
    cfg: LdapConfig,
    password: Option<String>,
}

impl LdapSource {
    /// A source; reads the bind password now (never logged). An empty password is refused: a simple
    /// bind with a DN and no password is an unauthenticated bind (RFC 4513 §5.1.2), which servers
    /// accept and answer with the anonymous view.
    pub fn new(cfg: LdapConfig, strict_permissions: bool) -> Result<Self, SourceError> {
        let password = match &cfg.bind_password {
            Some(r) => Some(
                crate::config::read_secret("bind_password", r, strict_permissions)
                    .map_err(|m| SourceError::Directory { url: cfg.url.clone(), message: m })?,
            ),
            None => None,
        };
        if cfg.bind_dn.is_some() && password.as_deref().is_none_or(str::is_empty) {
            return Err(SourceError::Directory {
                url: cfg.url.clone(),
                message: "the bind password is empty: refused, because a bind with a DN and no password is an unauthenticated (anonymous) bind".into(),
            });
        }
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
                    crate::hex::encode(&v)
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

impl Source for LdapSource {
    fn applies_location(&self) -> bool {
        true
    }

    fn read(&mut self, req: &ReadRequest, sink: &mut dyn Sink) -> Result<ReadOutcome, SourceError> {
        // "Since the last check" (PingFederate's semantics): this cycle's start, less the clock-skew allowance.
        let started = crate::clock::unix_now();
        let check_token = crate::clock::generalized_time(started - self.cfg.clock_skew_seconds as i64);
        let mut conn = self.connect()?;
        let id_attr = req.id_attribute.clone();
        let stamp = match self.cfg.change_detection {
            ChangeDetection::Usn => Some("uSNChanged"),
            ChangeDetection::Timestamp | ChangeDetection::TimestampNoNegation => Some("modifyTimestamp"),
            ChangeDetection::None => None,
        };
        let mut attrs: Vec<String> = req.attributes.clone();
        attrs.push(id_attr.clone());
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
                gattrs.extend(g.name_attributes.iter().cloned());
                let base = if g.base_dn.is_empty() { req.location.base_dn.clone() } else { g.base_dn.clone() };
                read += self.search(&mut conn, &base, &wrap(&g.filter), &gattrs, |se| {
                    sink.entry(Kind::Group, self.to_entry(se, &id_attr))
                })?;
                if let Some(gdn) = &req.location.group_dn {
                    if !under(gdn, &base) {
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
                // "At or after T" written with negation; a token that is not generalized time reads everything.
                match crate::clock::generalized_minus_one_second(t) {
                    Some(before) => format!("(&{filter}(!(modifyTimestamp<={before})))"),
                    None => filter.clone(),
                }
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
        Ok(ReadOutcome { present_users: Some(present), present_groups: None, token, entries_read: read, ids_checked })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_and_timestamps() {
        let b: Vec<u8> = (0u8..16).collect();
        assert_eq!(guid_string(&b), "03020100-0504-0706-0809-0a0b0c0d0e0f");
        assert_eq!(wrap("uid=x"), "(uid=x)");
        assert_eq!(wrap(""), "(objectClass=*)");
    }
}
