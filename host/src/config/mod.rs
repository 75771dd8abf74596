//! The configuration file (TOML) as data: connections, their channels, and the engine, with the
//! checks that need nothing but the file (names, ranges, secret references, LDAP transport). Turning
//! it into filters, templates and mapping plans is [`crate::compile`]'s job. Errors name the file, the
//! line and the key.

pub mod ldap;

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A configuration error, located.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: {key}: {message}")]
pub struct ConfigError {
    /// The file.
    pub file: String,
    /// 1-based line (0 when unknown).
    pub line: usize,
    /// The key path, e.g. `connections[0].channels[1].mapping.userName`.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

fn default_true() -> bool {
    true
}
fn default_interval() -> u64 {
    60
}
fn default_batch() -> usize {
    100
}
fn default_threads() -> usize {
    1
}
fn default_timeout() -> u64 {
    60
}

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Engine settings.
    #[serde(default)]
    pub engine: EngineConfig,
    /// Target connections.
    #[serde(default)]
    pub connections: Vec<Connection>,
}

/// Engine settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// Seconds between cycles (PingFederate's default: 60).
    #[serde(default = "default_interval")]
    pub cycle_interval_seconds: u64,
    /// SQLite state database.
    #[serde(default = "default_state")]
    pub state_db: PathBuf,
    /// Audit log (JSON lines).
    #[serde(default = "default_audit")]
    pub audit_log: PathBuf,
    /// `human` or `json` logs on stderr.
    #[serde(default)]
    pub log_format: Option<String>,
    /// Retry backoff for failed ("dirty") records: first delay, in seconds (doubles per attempt).
    #[serde(default = "default_backoff")]
    pub retry_backoff_seconds: u64,
    /// Longest retry backoff, in seconds.
    #[serde(default = "default_backoff_max")]
    pub retry_backoff_max_seconds: u64,
    /// Refuse secret files that group or others may read (otherwise a warning).
    #[serde(default)]
    pub strict_permissions: bool,
    /// Where the state is kept when not in the SQLite file `state_db`:
    /// `state = { postgres = "postgres://user@host:5432/database", password = { env = "VAR" } }`.
    #[serde(default)]
    pub state: Option<StateConfig>,
    /// `standalone` (the default), `failover` (active/standby) or `cluster` (connections spread over
    /// the nodes); the last two need a PostgreSQL state.
    #[serde(default)]
    pub mode: Mode,
    /// This node's id in failover and cluster modes (default: the host name). Unique per node.
    #[serde(default)]
    pub node_id: Option<String>,
    /// How long a lease lasts without renewal; a standby takes over once it lapsed (failover and
    /// cluster modes).
    #[serde(default = "default_lease")]
    pub lease_seconds: u64,
}

/// How the nodes sharing one PostgreSQL state divide the work (PingFederate's `pf.provisioner.mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// One node; the single-writer lock refuses a second.
    #[default]
    Standalone,
    /// Active/standby: the node holding the `active` lease provisions every connection.
    Failover,
    /// Active/active: each connection is provisioned by the one node holding its lease.
    Cluster,
}

impl Mode {
    /// Its name in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Standalone => "standalone",
            Mode::Failover => "failover",
            Mode::Cluster => "cluster",
        }
    }
}

/// A PostgreSQL state.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// `postgres://user@host:port/database` (never with a password).
    pub postgres: String,
    /// The password, from the environment or a file.
    #[serde(default)]
    pub password: Option<SecretRef>,
    /// PEM file of CA certificates to verify the server with (otherwise the system's). TLS is
    /// required unless the server is on loopback.
    #[serde(default)]
    pub ca_certificate: Option<PathBuf>,
}

fn default_state() -> PathBuf {
    PathBuf::from("provisioner-state.db")
}
fn default_audit() -> PathBuf {
    PathBuf::from("provisioner-audit.jsonl")
}
fn default_backoff() -> u64 {
    30
}
fn default_lease() -> u64 {
    15
}
fn default_backoff_max() -> u64 {
    3600
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            cycle_interval_seconds: default_interval(),
            state_db: default_state(),
            audit_log: default_audit(),
            log_format: None,
            retry_backoff_seconds: default_backoff(),
            retry_backoff_max_seconds: default_backoff_max(),
            strict_permissions: false,
            state: None,
            mode: Mode::Standalone,
            node_id: None,
            lease_seconds: default_lease(),
        }
    }
}

/// A secret's source: an environment variable or a file, never the value inline.
#[derive(Debug, Clone, Default)]
pub struct SecretRef {
    /// Environment variable holding the secret.
    pub env: Option<String>,
    /// File holding the secret (trailing newline removed).
    pub file: Option<PathBuf>,
}

/// The table form of a [`SecretRef`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretTable {
    #[serde(default)]
    env: Option<String>,
    #[serde(default)]
    file: Option<PathBuf>,
}

impl<'de> Deserialize<'de> for SecretRef {
    /// Accepts only `{ env = "VAR" }` or `{ file = "path" }`. Anything else (a secret written inline)
    /// is refused with a message that never contains the value.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = SecretRef;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a table `{ env = \"VAR\" }` or `{ file = \"path\" }`")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<SecretRef, A::Error> {
                let t = SecretTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(SecretRef { env: t.env, file: t.file })
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<SecretRef, E> {
                Err(E::custom(INLINE_SECRET))
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<SecretRef, E> {
                Err(E::custom(INLINE_SECRET))
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<SecretRef, E> {
                Err(E::custom(INLINE_SECRET))
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<SecretRef, E> {
                Err(E::custom(INLINE_SECRET))
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<SecretRef, E> {
                Err(E::custom(INLINE_SECRET))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<SecretRef, A::Error> {
                Err(serde::de::Error::custom(INLINE_SECRET))
            }
        }
        d.deserialize_any(V)
    }
}

/// What a secret written inline gets (the value is never repeated).
const INLINE_SECRET: &str =
    "a secret is never written in the configuration: give `{ env = \"VAR\" }` or `{ file = \"path\" }` (the value was not echoed)";

/// A connection: a connector library and its target settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connection {
    /// Name, unique.
    pub name: String,
    /// Path of the connector library (relative paths are relative to the config file).
    pub connector: PathBuf,
    /// Whether the connection is active.
    #[serde(default = "default_true")]
    pub active: bool,
    /// Target settings (non-secret), checked against the connector's descriptor.
    #[serde(default)]
    pub settings: toml::Table,
    /// Confidential settings, from an environment variable or a file.
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretRef>,
    /// Channels.
    #[serde(default)]
    pub channels: Vec<Channel>,
}

/// Where a channel reads from.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum SourceConfig {
    /// An LDIF file (a full snapshot each cycle).
    Ldif {
        /// The file.
        path: PathBuf,
    },
    /// A CSV file with a header row (a full snapshot each cycle).
    Csv {
        /// The file.
        path: PathBuf,
    },
    /// A live LDAP directory.
    Ldap(Box<ldap::LdapConfig>),
}

/// The source location: base DN plus a filter, or a group DN.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Location {
    /// Entries under this DN (suffix match); empty means all.
    #[serde(default)]
    pub base_dn: String,
    /// An LDAP filter the user entries must match.
    #[serde(default)]
    pub filter: Option<String>,
    /// Only members of this group (by DN).
    #[serde(default)]
    pub group_dn: Option<String>,
    /// Follow nested groups under `group_dn`.
    #[serde(default)]
    pub nested: bool,
}

/// How a user's account status is read (PingFederate's account status algorithms).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "algorithm", rename_all = "snake_case", deny_unknown_fields)]
pub enum AccountStatus {
    /// A flag attribute: the account is disabled when `attribute` equals `disabled_value`
    /// (case-insensitive); absent means active.
    Flag {
        /// e.g. `nsAccountLock`.
        attribute: String,
        /// e.g. `true`.
        #[serde(default = "default_flag_value")]
        disabled_value: String,
    },
    /// Active Directory's `userAccountControl`: bit 2 (ACCOUNTDISABLE) set means disabled.
    ActiveDirectory {
        /// Usually `userAccountControl`.
        #[serde(default = "default_uac")]
        attribute: String,
    },
}

fn default_flag_value() -> String {
    "true".into()
}
fn default_uac() -> String {
    "userAccountControl".into()
}

/// Groups of a channel.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupsConfig {
    /// Group entries under this DN.
    #[serde(default)]
    pub base_dn: String,
    /// Filter for group entries.
    #[serde(default = "default_group_filter")]
    pub filter: String,
    /// Attribute listing member DNs (`member`, `uniqueMember`).
    #[serde(default = "default_member_attr")]
    pub member_attribute: String,
    /// Alternatively: users list their groups' DNs or names in this attribute (e.g. `memberOf`).
    #[serde(default)]
    pub member_of_attribute: Option<String>,
    /// Template for the Slack group name.
    #[serde(default = "default_group_name")]
    pub name: String,
    /// Expand nested groups (members that are groups).
    #[serde(default)]
    pub nested: bool,
}

fn default_group_filter() -> String {
    "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=group))".into()
}
fn default_member_attr() -> String {
    "member".into()
}
fn default_group_name() -> String {
    "{cn}".into()
}

/// One target attribute's mapping (PingFederate's `saasFieldInfo`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldMapping {
    /// Source attribute; or `attributes` for the first one with a value.
    #[serde(default)]
    pub attribute: Option<String>,
    /// Source attributes, first non-empty wins.
    #[serde(default)]
    pub attributes: Vec<String>,
    /// A template, e.g. `{givenName} {sn}`, with filters `{mail|localpart|lower|first:21}`.
    #[serde(default)]
    pub template: Option<String>,
    /// Value when the source has none.
    #[serde(default)]
    pub default: Option<String>,
    /// Set on create only; later changes are not sent.
    #[serde(default)]
    pub create_only: bool,
    /// Trim white space (default on).
    #[serde(default = "default_true")]
    pub trim: bool,
    /// `lower`, `upper` or `none`.
    #[serde(default)]
    pub case: Option<String>,
    /// `extract_cn_from_dn` or `extract_username_from_email`.
    #[serde(default)]
    pub parser: Option<String>,
    /// Never shown in logs, plans or the audit (values are hashed in state).
    #[serde(default)]
    pub masked: bool,
    /// The value names another user of the same connection, to be sent as that user's target id (e.g.
    /// `manager`): `dn` (the value is a DN, as in LDAP's `manager`) or `source_id` (the value is the
    /// other user's id attribute). A user not provisioned yet resolves to no value, filled in on a
    /// later cycle; one who left resolves to no value, which clears it.
    #[serde(default)]
    pub resolve: Option<String>,
}

/// A channel: a source location mapped to a target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    /// Name, unique across connections.
    pub name: String,
    /// Whether the channel runs.
    #[serde(default = "default_true")]
    pub active: bool,
    /// The source.
    pub source: SourceConfig,
    /// Attribute holding each entry's stable id (`entryUUID`, `objectGUID`, a CSV column).
    #[serde(default = "default_id_attr")]
    pub id_attribute: String,
    /// Which user entries.
    #[serde(default)]
    pub location: Location,
    /// Account status rule; absent: every user is active.
    #[serde(default)]
    pub account_status: Option<AccountStatus>,
    /// Target attribute → mapping.
    #[serde(default)]
    pub mapping: BTreeMap<String, FieldMapping>,
    /// Groups; absent: no groups.
    #[serde(default)]
    pub groups: Option<GroupsConfig>,
    /// Records per `provision` call.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Batches in flight at once.
    #[serde(default = "default_threads")]
    pub threads: usize,
    /// Per-operation timeout, seconds.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// When a cycle's deprovisioning actions are held for approval.
    #[serde(default)]
    pub deprovision_guard: DeprovisionGuard,
    /// Trust a read that returns no users at all (otherwise such a read holds every deprovisioning
    /// action it would cause, whatever the guard's thresholds).
    #[serde(default)]
    pub allow_empty_source: bool,
}

/// `[connections.channels.deprovision_guard]`: a cycle's deprovisioning actions (user disables and
/// deletes, group deletes, member removals) are held, not sent, when there are more than `max_count`,
/// or more than `min_count` that are also more than `max_percent` of the channel's provisioned users.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeprovisionGuard {
    /// The thresholds apply (an empty read is held even when this is off).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Share of the channel's provisioned users, in percent.
    #[serde(default = "default_guard_percent")]
    pub max_percent: f64,
    /// The share counts only above this many actions (small channels are not held for one leaver).
    #[serde(default = "default_guard_min")]
    pub min_count: u64,
    /// More actions than this are held whatever the share.
    #[serde(default = "default_guard_max")]
    pub max_count: u64,
}

fn default_guard_percent() -> f64 {
    10.0
}
fn default_guard_min() -> u64 {
    5
}
fn default_guard_max() -> u64 {
    100
}

impl Default for DeprovisionGuard {
    fn default() -> Self {
        DeprovisionGuard {
            enabled: true,
            max_percent: default_guard_percent(),
            min_count: default_guard_min(),
            max_count: default_guard_max(),
        }
    }
}

fn default_id_attr() -> String {
    "entryUUID".into()
}

/// The line of the first occurrence of `needle` in `text` at or after `from_line` (1-based; 0 if none).
pub fn line_of(text: &str, needle: &str, from_line: usize) -> usize {
    text.lines()
        .enumerate()
        .skip(from_line.saturating_sub(1))
        .find(|(_, l)| l.trim_start().starts_with(needle) || l.contains(needle))
        .map(|(i, _)| i + 1)
        .unwrap_or(0)
}

/// A loaded configuration with its file and text (for locating later errors).
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The parsed configuration, with relative paths resolved against the file's directory.
    pub config: Config,
    /// The file.
    pub path: PathBuf,
    /// Its text.
    pub text: String,
}

impl Loaded {
    /// An error about `key`, located at the line where `needle` first appears.
    pub fn error(&self, key: impl Into<String>, needle: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.path.display().to_string(),
            line: line_of(&self.text, needle, 1),
            key: key.into(),
            message: message.into(),
        }
    }
}

fn resolve(base: &Path, p: &mut PathBuf) {
    if p.is_relative() {
        *p = base.join(&*p);
    }
}

/// Reads, parses and checks the file (see [`crate::compile::load`] for the whole check).
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.display().to_string(),
        line: 0,
        key: "(file)".into(),
        message: format!("cannot read: {e}"),
    })?;
    parse(path, &text)
}

/// Parses and checks `text` as the file `path`.
pub fn parse(path: &Path, text: &str) -> Result<Loaded, ConfigError> {
    let mut config: Config = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| text[..s.start.min(text.len())].lines().count().max(1)).unwrap_or(0);
        ConfigError { file: path.display().to_string(), line, key: "(syntax)".into(), message: e.message().to_owned() }
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    resolve(&base, &mut config.engine.state_db);
    resolve(&base, &mut config.engine.audit_log);
    if let Some(st) = config.engine.state.as_mut() {
        if let Some(f) = st.password.as_mut().and_then(|p| p.file.as_mut()) {
            resolve(&base, f);
        }
        if let Some(f) = st.ca_certificate.as_mut() {
            resolve(&base, f);
        }
    }
    for c in &mut config.connections {
        resolve(&base, &mut c.connector);
        for s in c.secrets.values_mut() {
            if let Some(f) = s.file.as_mut() {
                resolve(&base, f);
            }
        }
        for ch in &mut c.channels {
            match &mut ch.source {
                SourceConfig::Ldif { path } | SourceConfig::Csv { path } => resolve(&base, path),
                SourceConfig::Ldap(l) => l.resolve_paths(&base),
            }
        }
    }
    let loaded = Loaded { config, path: path.to_owned(), text: text.to_owned() };
    check(&loaded)?;
    Ok(loaded)
}

fn check(l: &Loaded) -> Result<(), ConfigError> {
    let c = &l.config;
    if c.engine.cycle_interval_seconds == 0 {
        return Err(l.error("engine.cycle_interval_seconds", "cycle_interval_seconds", "must be at least 1"));
    }
    check_engine(l)?;
    let mut names = std::collections::HashSet::new();
    let mut channel_names = std::collections::HashSet::new();
    for (i, conn) in c.connections.iter().enumerate() {
        let key = format!("connections[{i}]");
        if !names.insert(conn.name.clone()) {
            return Err(l.error(
                format!("{key}.name"),
                &format!("\"{}\"", conn.name),
                format!("duplicate connection name `{}`", conn.name),
            ));
        }
        for (s, r) in &conn.secrets {
            if r.env.is_none() == r.file.is_none() {
                return Err(l.error(format!("{key}.secrets.{s}"), s, "give exactly one of `env` or `file`"));
            }
        }
        for (j, ch) in conn.channels.iter().enumerate() {
            let ckey = format!("{key}.channels[{j}]");
            if !channel_names.insert(ch.name.clone()) {
                return Err(l.error(
                    format!("{ckey}.name"),
                    &format!("\"{}\"", ch.name),
                    format!("duplicate channel name `{}`", ch.name),
                ));
            }
            if ch.batch_size == 0 || ch.batch_size > 10_000 {
                return Err(l.error(format!("{ckey}.batch_size"), "batch_size", "must be 1 to 10000"));
            }
            let g = &ch.deprovision_guard;
            if !(g.max_percent.is_finite() && (0.0..=100.0).contains(&g.max_percent)) {
                return Err(l.error(
                    format!("{ckey}.deprovision_guard.max_percent"),
                    "max_percent",
                    "must be a percentage from 0 to 100",
                ));
            }
            if ch.threads == 0 || ch.threads > 64 {
                return Err(l.error(format!("{ckey}.threads"), "threads", "must be 1 to 64"));
            }
            if let SourceConfig::Ldap(ld) = &ch.source {
                ld.validate().map_err(|e| l.error(format!("{ckey}.source.url"), "url", e))?;
            }
            if ch.mapping.is_empty() {
                return Err(l.error(
                    format!("{ckey}.mapping"),
                    &ch.name,
                    "a channel needs at least one mapped attribute",
                ));
            }
        }
    }
    Ok(())
}

/// The longest node id: its PostgreSQL session names (`provisioner:<id>:state`) must fit the server's
/// 63 bytes, or a takeover could not find a paused node's sessions.
pub const MAX_NODE_ID: usize = 40;

/// The state location, mode, node id and lease.
fn check_engine(l: &Loaded) -> Result<(), ConfigError> {
    let e = &l.config.engine;
    if let Some(st) = &e.state {
        let url = url::Url::parse(&st.postgres).ok().filter(|u| matches!(u.scheme(), "postgres" | "postgresql"));
        let Some(url) = url else {
            return Err(l.error(
                "engine.state.postgres",
                "postgres",
                "expected a URL postgres://user@host:port/database",
            ));
        };
        let in_query = url.query_pairs().any(|(k, _)| k.eq_ignore_ascii_case("password"));
        if url.password().is_some() || in_query {
            return Err(l.error(
                "engine.state.postgres",
                "postgres",
                "the URL carries a password: give it with `password = { env = \"VAR\" }` or `{ file = \"path\" }` (the value is not repeated here)",
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(l.error("engine.state.postgres", "postgres", "the URL names no host"));
        }
        if let Some(p) = &st.password {
            if p.env.is_none() == p.file.is_none() {
                return Err(l.error("engine.state.password", "password", "give exactly one of `env` or `file`"));
            }
        }
    }
    if e.mode != Mode::Standalone && e.state.is_none() {
        return Err(l.error(
            "engine.mode",
            "mode",
            format!(
                "`{}` needs a state the nodes share: `state = {{ postgres = \"postgres://user@host:5432/database\" }}`",
                e.mode.as_str()
            ),
        ));
    }
    if !(3..=3600).contains(&e.lease_seconds) {
        return Err(l.error("engine.lease_seconds", "lease_seconds", "must be 3 to 3600"));
    }
    if let Some(id) = &e.node_id {
        if id.is_empty()
            || id.len() > MAX_NODE_ID
            || !id.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(l.error("engine.node_id", "node_id", "1 to 40 letters, digits, `.`, `_` or `-`"));
        }
    }
    Ok(())
}

/// Reads a secret's value. A secret file that group or others may read gets a warning, or is refused
/// with `strict` (`[engine] strict_permissions`). Messages never contain the value.
pub fn read_secret(name: &str, r: &SecretRef, strict: bool) -> Result<String, String> {
    if let Some(var) = &r.env {
        return std::env::var(var).map_err(|_| format!("secret `{name}`: environment variable `{var}` is not set"));
    }
    if let Some(f) = &r.file {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(f)
            .map_err(|e| format!("secret `{name}`: cannot read {}: {}", f.display(), e.kind()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            let what = format!(
                "secret `{name}`: {} may be read by group or others (mode {:03o}); `chmod 600` it",
                f.display(),
                mode & 0o777
            );
            if strict {
                return Err(format!("{what} (refused: strict_permissions = true)"));
            }
            tracing::warn!("{what}");
        }
        return std::fs::read_to_string(f)
            .map(|s| s.trim_end_matches(['\n', '\r']).to_owned())
            .map_err(|e| format!("secret `{name}`: cannot read {}: {}", f.display(), e.kind()));
    }
    Err(format!("secret `{name}` has no source"))
}
