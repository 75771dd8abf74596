//! Compiling the configuration into what a cycle runs: per channel, the mapping plans, the parsed
//! location filter, the group name template and the source read request. This is the one place that
//! turns configuration data (`config`) into the types of `mapping`, `ldapfilter` and `source`, so those
//! modules never depend on each other through the configuration. Every error is located in the file.

use crate::config::{self, AccountStatus, Channel, ConfigError, Loaded};
use crate::ldapfilter::{self, Filter};
use crate::mapping::{FieldPlan, Mapping, Template};
use crate::source::{GroupRead, ReadRequest};
use std::path::Path;

/// The group filter used to read the location's group when a channel has a group DN location but no
/// `[groups]` of its own.
const LOCATION_GROUP_FILTER: &str = "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=group))";

/// A channel, compiled.
#[derive(Debug, Clone)]
pub struct CompiledChannel {
    /// The connection the channel belongs to.
    pub connection: String,
    /// The channel's configuration.
    pub cfg: Channel,
    /// The mapping plans.
    pub mapping: Mapping,
    /// The location filter (evaluated on entries of file sources).
    pub location_filter: Option<Filter>,
    /// The group name template, when the channel provisions groups.
    pub group_name: Option<Template>,
    /// What the source reads (`since` is filled per cycle).
    pub read: ReadRequest,
    /// Refuse secret files others may read (`[engine] strict_permissions`).
    pub strict_permissions: bool,
}

/// A configuration with every channel compiled (active or not, so every mistake is reported at load).
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The configuration.
    pub loaded: Loaded,
    /// Every channel of every connection, in file order.
    pub channels: Vec<CompiledChannel>,
}

/// Reads, parses, checks and compiles the file.
pub fn load(path: &Path) -> Result<Compiled, ConfigError> {
    compile(config::load(path)?)
}

/// Compiles a loaded configuration.
pub fn compile(loaded: Loaded) -> Result<Compiled, ConfigError> {
    let mut channels = Vec::new();
    for (i, conn) in loaded.config.connections.iter().enumerate() {
        for (j, ch) in conn.channels.iter().enumerate() {
            let key = format!("connections[{i}].channels[{j}]");
            channels.push(channel(&loaded, &key, &conn.name, ch)?);
        }
    }
    Ok(Compiled { loaded, channels })
}

fn channel(l: &Loaded, key: &str, connection: &str, ch: &Channel) -> Result<CompiledChannel, ConfigError> {
    let location_filter = ch
        .location
        .filter
        .as_deref()
        .map(ldapfilter::parse)
        .transpose()
        .map_err(|e| l.error(format!("{key}.location.filter"), "filter", e.to_string()))?;
    let mut fields = Vec::with_capacity(ch.mapping.len());
    for (target, m) in &ch.mapping {
        fields.push(FieldPlan::compile(target, m).map_err(|e| l.error(format!("{key}.mapping.{target}"), target, e))?);
    }
    let mapping = Mapping { fields };
    if let crate::config::SourceConfig::Ldap(ld) = &ch.source {
        if ld.bind_dn.is_some() && ld.bind_password.is_none() {
            return Err(l.error(
                format!("{key}.source.bind_password"),
                "bind_dn",
                "bind_dn is set but bind_password is not: a bind with a DN and no password is an unauthenticated (anonymous) bind; give bind_password from `env` or `file`",
            ));
        }
    }
    let (groups, group_name) = match &ch.groups {
        Some(g) => {
            let matcher = ldapfilter::parse(&g.filter)
                .map_err(|e| l.error(format!("{key}.groups.filter"), "filter", e.to_string()))?;
            let name = Template::parse(&g.name).map_err(|e| l.error(format!("{key}.groups.name"), "name", e))?;
            let read = GroupRead {
                base_dn: g.base_dn.clone(),
                filter: g.filter.clone(),
                matcher,
                member_attribute: g.member_attribute.clone(),
                member_of_attribute: g.member_of_attribute.clone(),
                name_attributes: name.attributes(),
            };
            (Some(read), Some(name))
        }
        // A group DN location needs the group entries even when the channel provisions no groups.
        None if ch.location.group_dn.is_some() => {
            let matcher = ldapfilter::parse(LOCATION_GROUP_FILTER)
                .map_err(|e| l.error(format!("{key}.location.group_dn"), "group_dn", e.to_string()))?;
            let read = GroupRead {
                base_dn: String::new(),
                filter: LOCATION_GROUP_FILTER.into(),
                matcher,
                member_attribute: "member".into(),
                member_of_attribute: None,
                name_attributes: vec!["cn".into()],
            };
            (Some(read), None)
        }
        None => (None, None),
    };
    let mut attributes: Vec<String> = mapping.fields.iter().flat_map(FieldPlan::attributes).collect();
    match &ch.account_status {
        Some(AccountStatus::Flag { attribute, .. }) | Some(AccountStatus::ActiveDirectory { attribute }) => {
            attributes.push(attribute.clone())
        }
        None => {}
    }
    if let Some(m) = groups.as_ref().and_then(|g| g.member_of_attribute.as_ref()) {
        attributes.push(m.clone());
    }
    attributes.sort();
    attributes.dedup();
    let read = ReadRequest {
        location: ch.location.clone(),
        id_attribute: ch.id_attribute.clone(),
        groups,
        attributes,
        since: None,
    };
    Ok(CompiledChannel {
        connection: connection.to_owned(),
        cfg: ch.clone(),
        mapping,
        location_filter,
        group_name,
        read,
        strict_permissions: l.config.engine.strict_permissions,
    })
}
