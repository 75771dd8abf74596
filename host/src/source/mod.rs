//! Channel sources: where people and groups come from. Each source streams entries to a sink, so a
//! large directory is never held in memory at once.
//!
//! A source says whether its read was a complete snapshot (so entries not seen were deleted or left
//! the location) or an incremental one (then it gives the ids still present, for deletion detection).

pub mod csv;
pub mod ldap;
pub mod ldif;

use std::collections::HashSet;

/// A directory entry: a DN and multi-valued attributes (names kept as given; lookups ignore case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Distinguished name (or a synthetic one for CSV rows).
    pub dn: String,
    /// `(name, values)` in source order.
    pub attrs: Vec<(String, Vec<String>)>,
}

impl Entry {
    /// An entry with no attributes.
    pub fn new(dn: impl Into<String>) -> Self {
        Entry { dn: dn.into(), attrs: Vec::new() }
    }

    /// Adds a value.
    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        match self.attrs.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some((_, v)) => v.push(value.into()),
            None => self.attrs.push((name.to_owned(), vec![value.into()])),
        }
    }

    /// The values of an attribute (case-insensitive name).
    pub fn values(&self, name: &str) -> &[String] {
        self.attrs.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_slice()).unwrap_or(&[])
    }

    /// The first value of an attribute.
    pub fn first(&self, name: &str) -> Option<&str> {
        self.values(name).first().map(String::as_str)
    }

    /// Whether the entry has an objectClass (case-insensitive).
    pub fn has_class(&self, class: &str) -> bool {
        self.values("objectClass").iter().any(|c| c.eq_ignore_ascii_case(class))
    }
}

/// Normalises a DN for comparisons: lowercase, no spaces around separators.
pub fn norm_dn(dn: &str) -> String {
    dn.split(',')
        .map(|rdn| {
            let (a, v) = rdn.split_once('=').unwrap_or((rdn, ""));
            format!("{}={}", a.trim().to_ascii_lowercase(), v.trim().to_lowercase())
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether `dn` is `base` or under it.
pub fn under(dn: &str, base: &str) -> bool {
    if base.trim().is_empty() {
        return true;
    }
    let (d, b) = (norm_dn(dn), norm_dn(base));
    d == b || d.ends_with(&format!(",{b}"))
}

/// What kind of entry the sink receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A group entry (sent before users).
    Group,
    /// A user entry.
    User,
}

/// How a read went.
#[derive(Debug, Clone, Default)]
pub struct ReadOutcome {
    /// Every in-scope entry was delivered (entries not seen are gone).
    pub complete: bool,
    /// For incremental reads: `(id, DN)` of every user still present in the location.
    pub present_users: Option<Vec<(String, String)>>,
    /// For incremental reads: the ids of every group still present.
    pub present_groups: Option<HashSet<String>>,
    /// An opaque token the next read continues from (LDAP change detection).
    pub token: Option<String>,
    /// Full entries read from the source (for figures).
    pub entries_read: u64,
    /// Ids checked by an incremental read's presence pass (id and DN only).
    pub ids_checked: u64,
}

/// Why a source could not be read. The cycle fails and nothing changes in the target.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The file could not be read.
    #[error("cannot read {path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The OS message.
        message: String,
    },
    /// The content is malformed.
    #[error("{path}:{line}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The directory server failed or refused.
    #[error("directory {url}: {message}")]
    Directory {
        /// The server URL.
        url: String,
        /// What happened.
        message: String,
    },
    /// The sink stopped the read.
    #[error("{0}")]
    Sink(String),
}

/// What a source needs to know about the channel to read only what matters.
#[derive(Debug, Clone, Default)]
pub struct ReadRequest {
    /// The user location.
    pub location: crate::config::Location,
    /// The group settings, if the channel has groups.
    pub groups: Option<crate::config::GroupsConfig>,
    /// The attributes the channel needs (mapping, status, id, membership).
    pub attributes: Vec<String>,
    /// The token of the previous complete cycle (incremental sources).
    pub since: Option<String>,
}

/// Receives entries.
pub trait Sink {
    /// One entry. Group entries come before user entries.
    fn entry(&mut self, kind: Kind, entry: Entry) -> Result<(), SourceError>;
}

/// A channel source.
pub trait Source: Send {
    /// A one-line description for logs (never secrets).
    fn describe(&self) -> String;
    /// Whether the source applies the location (base DN and filter) itself.
    fn applies_location(&self) -> bool {
        false
    }
    /// Reads, streaming entries to `sink`.
    fn read(&mut self, request: &ReadRequest, sink: &mut dyn Sink) -> Result<ReadOutcome, SourceError>;
}

/// Opens the source of a channel.
pub fn open(cfg: &crate::config::SourceConfig) -> Result<Box<dyn Source>, SourceError> {
    Ok(match cfg {
        crate::config::SourceConfig::Ldif { path } => Box::new(ldif::LdifSource::new(path.clone())),
        crate::config::SourceConfig::Csv { path } => Box::new(csv::CsvSource::new(path.clone())),
        crate::config::SourceConfig::Ldap(l) => Box::new(ldap::LdapSource::new((**l).clone())?),
    })
}
