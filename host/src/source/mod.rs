//! Channel sources: where people and groups come from. Each source streams entries to a sink, so a
//! large directory is never held in memory at once.
//!
//! A source says whether its read was a complete snapshot (so entries not seen were deleted or left
//! the location) or an incremental one (then it gives the ids still present, for deletion detection).

pub mod csv;
pub mod ldap;
pub mod ldif;

use crate::config::{Location, SourceConfig};
use crate::entry::Entry;
use crate::ldapfilter::Filter;
use std::collections::HashSet;

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
    /// The source broke its contract with the engine (a bug in a source, never the data's fault).
    #[error("{0}")]
    Order(&'static str),
    /// The directory server failed or refused.
    #[error("directory {url}: {message}")]
    Directory {
        /// The server URL.
        url: String,
        /// What happened.
        message: String,
    },
}

/// What a source needs to know about the channel to read only what matters (compiled once per
/// channel by [`crate::compile`]; `since` is filled per cycle).
#[derive(Debug, Clone)]
pub struct ReadRequest {
    /// The user location.
    pub location: Location,
    /// The attribute holding each entry's stable id.
    pub id_attribute: String,
    /// The group entries to read, if the channel has groups (or a group DN location).
    pub groups: Option<GroupRead>,
    /// The attributes the channel needs besides the id (mapping, status, membership).
    pub attributes: Vec<String>,
    /// The token of the previous complete cycle (incremental sources).
    pub since: Option<String>,
}

/// Which group entries a source delivers.
#[derive(Debug, Clone)]
pub struct GroupRead {
    /// Group entries under this DN (empty: the location's base DN for directories, everything for files).
    pub base_dn: String,
    /// The filter as written (sent to directory servers).
    pub filter: String,
    /// The same filter, parsed (evaluated by file sources).
    pub matcher: Filter,
    /// Attribute listing member DNs.
    pub member_attribute: String,
    /// Users list their groups in this attribute instead (then no group entries are read).
    pub member_of_attribute: Option<String>,
    /// Attributes the group name template reads.
    pub name_attributes: Vec<String>,
}

/// Receives entries.
pub trait Sink {
    /// One entry. When the location is a group DN (`location.group_dn`), every group entry comes
    /// before the first user entry (the location's members are known from the groups); otherwise
    /// groups and users may come in any order.
    fn entry(&mut self, kind: Kind, entry: Entry) -> Result<(), SourceError>;
}

/// A channel source.
pub trait Source: Send {
    /// Whether the source applies the location (base DN and filter) itself.
    fn applies_location(&self) -> bool {
        false
    }
    /// Reads, streaming entries to `sink`.
    fn read(&mut self, request: &ReadRequest, sink: &mut dyn Sink) -> Result<ReadOutcome, SourceError>;
}

/// Opens the source of a channel.
pub fn open(cfg: &SourceConfig, strict_permissions: bool) -> Result<Box<dyn Source>, SourceError> {
    Ok(match cfg {
        SourceConfig::Ldif { path } => Box::new(ldif::LdifSource::new(path.clone())),
        SourceConfig::Csv { path } => Box::new(csv::CsvSource::new(path.clone())),
        SourceConfig::Ldap(l) => Box::new(ldap::LdapSource::new((**l).clone(), strict_permissions)?),
    })
}
