//! Where each supported attribute lives in Slack's SCIM representation, per API version: building a
//! create body, reading a Slack user back into attribute form, and building minimal PATCH bodies
//! (including clearing attributes, which PingFederate cannot do).

use crate::settings::ApiVersion;
use connector_abi::payload::Attributes;
use serde_json::{json, Map, Value};

pub const CORE_V1: &str = "urn:scim:schemas:core:1.0";
pub const ENT_V1: &str = "urn:scim:schemas:extension:enterprise:1.0";
pub const PROFILE_V1: &str = "urn:scim:schemas:extension:slack:profile:1.0";
pub const CORE_USER_V2: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const CORE_GROUP_V2: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENT_V2: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const PROFILE_V2: &str = "urn:ietf:params:scim:schemas:extension:slack:profile:2.0:User";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const GUEST_V1: &str = "urn:scim:schemas:extension:slack:guest:1.0";
pub const GUEST_V2: &str = "urn:ietf:params:scim:schemas:extension:slack:guest:2.0:User";

/// `accountType` values: a full member, or a multi-channel guest (Slack's guest extension, `type: multi`;
/// Enterprise Grid).
pub const MEMBER: &str = "member";
/// See [`MEMBER`].
pub const MULTI_CHANNEL_GUEST: &str = "multi_channel_guest";

/// Where an attribute lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// A top-level string.
    Simple(&'static str),
    /// `name.<part>`.
    Name(&'static str),
    /// The primary email.
    PrimaryEmail,
    /// `phoneNumbers`: primaryPhone (`true`) or mobilePhone (`false`).
    Phone(bool),
    /// `photos[0]`.
    Photo,
    /// `roles[0]`.
    Role,
    /// `addresses[0].<field>`.
    Address(&'static str),
    /// The enterprise extension's `<field>`.
    Enterprise(&'static str),
    /// The enterprise extension's `manager.managerId`.
    Manager,
    /// The Slack profile extension's `startDate`.
    StartDate,
    /// The guest extension: `accountType` (member or multi-channel guest).
    GuestType,
    /// The guest extension's `expiration`.
    GuestExpiration,
}

/// A supported user attribute.
#[derive(Debug)]
pub struct UserAttribute {
    pub name: &'static str,
    pub slot: Slot,
    pub target: &'static str,
    pub updateable: bool,
    pub help: &'static str,
}

const fn a(name: &'static str, slot: Slot, target: &'static str, help: &'static str) -> UserAttribute {
    UserAttribute { name, slot, target, updateable: true, help }
}

/// PingFederate's supported-attributes list, plus the address and enterprise fields.
pub const USER_ATTRIBUTES: &[UserAttribute] = &[
    a(
        "userName",
        Slot::Simple("userName"),
        "userName",
        "Max 21 characters; Slack lowercases it and turns characters other than . _ - into _.",
    ),
    a("primaryEmail", Slot::PrimaryEmail, "emails[primary]", "Unique across active and deactivated Slack users."),
    a("givenName", Slot::Name("givenName"), "name.givenName", ""),
    a("familyName", Slot::Name("familyName"), "name.familyName", ""),
    a("honorificPrefix", Slot::Name("honorificPrefix"), "name.honorificPrefix", ""),
    a(
        "displayName",
        Slot::Simple("displayName"),
        "displayName",
        "Max 80 characters; fails with invalid_display_name when users may edit their own.",
    ),
    a(
        "nickName",
        Slot::Simple("nickName"),
        "nickName",
        "Mirrors userName in Slack: mapping both to different values renames the user.",
    ),
    a("title", Slot::Simple("title"), "title", ""),
    a("preferredLanguage", Slot::Simple("preferredLanguage"), "preferredLanguage", ""),
    a("userType", Slot::Simple("userType"), "userType", "e.g. Employee, Contractor."),
    a("locale", Slot::Simple("locale"), "locale", ""),
    UserAttribute {
        name: "profileUrl",
        slot: Slot::Simple("profileUrl"),
        target: "profileUrl",
        updateable: false,
        help: "Set on create only: Slack does not update it.",
    },
    a("profilePhotoUrl", Slot::Photo, "photos[0].value", "A public image URL."),
    a("timezone", Slot::Simple("timezone"), "timezone", "IANA name, e.g. America/Los_Angeles."),
    a("primaryPhone", Slot::Phone(true), "phoneNumbers[primary=true]", ""),
    a(
        "mobilePhone",
        Slot::Phone(false),
        "phoneNumbers[type=mobile]",
        "Slack inverts phone types between requests and responses; the connector handles it.",
    ),
    a("roles", Slot::Role, "roles[0].value", "Slack keeps one role."),
    a("streetAddress", Slot::Address("streetAddress"), "addresses[0].streetAddress", ""),
    a("locality", Slot::Address("locality"), "addresses[0].locality", ""),
    a("region", Slot::Address("region"), "addresses[0].region", ""),
    a("postalCode", Slot::Address("postalCode"), "addresses[0].postalCode", ""),
    a("country", Slot::Address("country"), "addresses[0].country", ""),
    a("employeeNumber", Slot::Enterprise("employeeNumber"), "enterprise.employeeNumber", ""),
    a("costCenter", Slot::Enterprise("costCenter"), "enterprise.costCenter", ""),
    a("organization", Slot::Enterprise("organization"), "enterprise.organization", ""),
    a("division", Slot::Enterprise("division"), "enterprise.division", ""),
    a("department", Slot::Enterprise("department"), "enterprise.department", ""),
    a("manager", Slot::Manager, "enterprise.manager.managerId", "The manager's Slack id, primary email or userName."),
    a("startDate", Slot::StartDate, "slack:profile.startDate", "ISO 8601, e.g. 2024-04-10T00:00:00+0000."),
    a(
        "accountType",
        Slot::GuestType,
        "slack:guest.type",
        "member (default) or multi_channel_guest (guest, multi: the guest extension; Enterprise Grid). Changing it converts the account.",
    ),
    a(
        "guestExpiration",
        Slot::GuestExpiration,
        "slack:guest.expiration",
        "For multi-channel guests: when Slack deactivates the guest, ISO 8601 (e.g. 2027-01-31T23:59:59Z); empty clears it.",
    ),
];

/// Whether `desired` makes the user a multi-channel guest (`accountType` `multi_channel_guest`, or the
/// synonyms `guest` and `multi`).
pub fn is_guest(desired: &Attributes) -> bool {
    text(desired.get("accountType")).is_some_and(|t| {
        matches!(t.to_ascii_lowercase().as_str(), MULTI_CHANNEL_GUEST | "guest" | "multi" | "multichannelguest")
    })
}

/// The guest extension's value for `desired` (`None` for a member).
fn guest_value(desired: &Attributes) -> Option<Value> {
    if !is_guest(desired) {
        return None;
    }
    let mut g = json!({"type": "multi"});
    if let Some(exp) = text(desired.get("guestExpiration")) {
        g["expiration"] = Value::String(exp);
    }
    Some(g)
}

/// Looks an attribute up by name.
pub fn attribute(name: &str) -> Option<&'static UserAttribute> {
    USER_ATTRIBUTES.iter().find(|a| a.name == name)
}

/// A value as the string Slack stores, or `None` for "no value" (null, empty, blank).
pub fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => {
            let t = s.trim();
            (!t.is_empty()).then(|| t.to_owned())
        }
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(a) => text(a.first()),
        _ => None,
    }
}

fn ext(version: ApiVersion) -> (&'static str, &'static str, &'static str) {
    match version {
        ApiVersion::V1 => (CORE_V1, ENT_V1, PROFILE_V1),
        ApiVersion::V2 => (CORE_USER_V2, ENT_V2, PROFILE_V2),
    }
}

fn guest_urn(version: ApiVersion) -> &'static str {
    match version {
        ApiVersion::V1 => GUEST_V1,
        ApiVersion::V2 => GUEST_V2,
    }
}

fn phones(desired: &Attributes) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(p) = text(desired.get("primaryPhone")) {
        out.push(json!({"value": p, "primary": true}));
    }
    if let Some(m) = text(desired.get("mobilePhone")) {
        out.push(json!({"value": m, "primary": false}));
    }
    out
}

fn address(desired: &Attributes) -> Option<Value> {
    let fields = ["streetAddress", "locality", "region", "postalCode", "country"];
    if fields.iter().all(|f| text(desired.get(*f)).is_none()) {
        return None;
    }
    let mut m = Map::new();
    for f in fields {
        m.insert(f.into(), text(desired.get(f)).map(Value::String).unwrap_or(Value::Null));
    }
    Some(Value::Object(m))
}

/// The POST body for a new user with `desired` attributes.
pub fn create_body(desired: &Attributes, version: ApiVersion) -> Value {
    let (core, ent, profile) = ext(version);
    let mut body = Map::new();
    body.insert("schemas".into(), json!([core, ent, profile]));
    let mut name = Map::new();
    let mut enterprise = Map::new();
    for attr in USER_ATTRIBUTES {
        let Some(v) = text(desired.get(attr.name)) else { continue };
        match attr.slot {
            Slot::Simple(k) => {
                body.insert(k.into(), Value::String(v));
            }
            Slot::Name(p) => {
                name.insert(p.into(), Value::String(v));
            }
            Slot::PrimaryEmail => {
                body.insert("emails".into(), json!([{"value": v, "primary": true}]));
            }
            Slot::Photo => {
                body.insert("photos".into(), json!([{"value": v, "primary": true}]));
            }
            Slot::Role => {
                body.insert("roles".into(), json!([{"value": v, "primary": true}]));
            }
            Slot::Enterprise(f) => {
                enterprise.insert(f.into(), Value::String(v));
            }
            Slot::Manager => {
                enterprise.insert("manager".into(), json!({"managerId": v}));
            }
            Slot::StartDate => {
                body.insert(profile.into(), json!({"startDate": v}));
            }
            Slot::Phone(_) | Slot::Address(_) | Slot::GuestType | Slot::GuestExpiration => {}
        }
    }
    if !name.is_empty() {
        body.insert("name".into(), Value::Object(name));
    }
    if !enterprise.is_empty() {
        body.insert(ent.into(), Value::Object(enterprise));
    }
    if let Some(g) = guest_value(desired) {
        let urn = guest_urn(version);
        body.insert("schemas".into(), json!([core, ent, profile, urn]));
        body.insert(urn.into(), g);
    }
    let p = phones(desired);
    if !p.is_empty() {
        body.insert("phoneNumbers".into(), Value::Array(p));
    }
    if let Some(addr) = address(desired) {
        body.insert("addresses".into(), json!([addr]));
    }
    Value::Object(body)
}

fn first_value(arr: Option<&Value>) -> Option<String> {
    let a = arr?.as_array()?;
    let pick = a.iter().find(|e| e.get("primary").and_then(Value::as_bool) == Some(true)).or(a.first())?;
    match pick {
        Value::String(s) => text(Some(&Value::String(s.clone()))),
        other => text(other.get("value")),
    }
}

/// Reads a Slack user (either version) back into attribute form; absent values are omitted.
pub fn from_scim(u: &Value) -> Attributes {
    let ent = u.get(ENT_V2).or_else(|| u.get(ENT_V1));
    let profile = u.get(PROFILE_V2).or_else(|| u.get(PROFILE_V1));
    let guest = u.get(GUEST_V2).or_else(|| u.get(GUEST_V1)).filter(|g| g.is_object());
    let mut out = Attributes::new();
    for attr in USER_ATTRIBUTES {
        let v = match attr.slot {
            Slot::Simple(k) => text(u.get(k)),
            Slot::Name(p) => text(u.get("name").and_then(|n| n.get(p))),
            Slot::PrimaryEmail => first_value(u.get("emails")),
            Slot::Phone(primary) => u.get("phoneNumbers").and_then(Value::as_array).and_then(|a| {
                // Response semantics: `type: mobile` is mobilePhone; `primary: true` is primaryPhone.
                a.iter()
                    .find(|e| {
                        if primary {
                            e.get("primary").and_then(Value::as_bool) == Some(true)
                        } else {
                            e.get("type").and_then(Value::as_str) == Some("mobile")
                        }
                    })
                    .and_then(|e| text(e.get("value")))
            }),
            Slot::Photo => first_value(u.get("photos")),
            Slot::Role => first_value(u.get("roles")),
            Slot::Address(f) => u.get("addresses").and_then(|a| a.get(0)).and_then(|a| text(a.get(f))),
            Slot::Enterprise(f) => ent.and_then(|e| text(e.get(f))),
            Slot::Manager => ent.and_then(|e| e.get("manager")).and_then(|m| text(m.get("managerId"))),
            Slot::StartDate => profile.and_then(|p| text(p.get("startDate"))),
            Slot::GuestType => Some(if guest.is_some() { MULTI_CHANNEL_GUEST } else { MEMBER }.to_owned()),
            Slot::GuestExpiration => guest.and_then(|g| text(g.get("expiration"))),
        };
        if let Some(v) = v {
            out.insert(attr.name.into(), Value::String(v));
        }
    }
    out
}

/// Whether `name`'s desired value differs from Slack's `current` one, with Slack's normalisations:
/// userName and emails compare case-insensitively; Slack fills displayName, nickName and timezone
/// itself, so "no desired value" is no difference for them; profileUrl is never updated.
pub fn differs(name: &str, desired: Option<&str>, current: Option<&str>) -> bool {
    match name {
        "accountType" => {
            let guest = |v: Option<&str>| {
                v.is_some_and(|t| {
                    matches!(
                        t.to_ascii_lowercase().as_str(),
                        MULTI_CHANNEL_GUEST | "guest" | "multi" | "multichannelguest"
                    )
                })
            };
            guest(desired) != guest(current)
        }
        "profileUrl" => false,
        "displayName" | "nickName" | "timezone" if desired.is_none() => false,
        "userName" | "nickName" | "primaryEmail" => desired.map(str::to_lowercase) != current.map(str::to_lowercase),
        _ => desired != current,
    }
}

/// Builds a PATCH body that sets the `changed` attributes to their `desired` values (clearing those
/// without one), and optionally `active`.
pub fn patch_body(desired: &Attributes, changed: &[&str], active: Option<bool>, version: ApiVersion) -> Value {
    let (core, ent, profile) = ext(version);
    let mut phones_changed = false;
    let mut address_changed = false;
    let mut guest_changed = false;
    match version {
        ApiVersion::V2 => {
            let mut ops = Vec::new();
            let mut op = |kind: &str, path: String, value: Option<Value>| {
                let mut o = json!({"op": kind, "path": path});
                if let Some(v) = value {
                    o["value"] = v;
                }
                ops.push(o);
            };
            for name in changed {
                let Some(attr) = attribute(name) else { continue };
                let v = text(desired.get(attr.name));
                match (attr.slot, v) {
                    (Slot::Simple(k), Some(v)) => op("replace", k.into(), Some(Value::String(v))),
                    (Slot::Simple(k), None) => op("remove", k.into(), None),
                    (Slot::Name(p), Some(v)) => op("replace", format!("name.{p}"), Some(Value::String(v))),
                    (Slot::Name(p), None) => op("remove", format!("name.{p}"), None),
                    (Slot::PrimaryEmail, Some(v)) => {
                        op("add", "emails".into(), Some(json!([{"value": v, "primary": true}])))
                    }
                    (Slot::PrimaryEmail, None) => {}
                    (Slot::Phone(_), _) => phones_changed = true,
                    (Slot::Address(_), _) => address_changed = true,
                    (Slot::Photo, Some(v)) => {
                        op("replace", "photos".into(), Some(json!([{"value": v, "primary": true}])))
                    }
                    (Slot::Photo, None) => op("remove", "photos".into(), None),
                    (Slot::Role, Some(v)) => {
                        op("replace", "roles".into(), Some(json!([{"value": v, "primary": true}])))
                    }
                    (Slot::Role, None) => op("remove", "roles".into(), None),
                    (Slot::Enterprise(f), Some(v)) => op("replace", format!("{ent}:{f}"), Some(Value::String(v))),
                    (Slot::Enterprise(f), None) => op("remove", format!("{ent}:{f}"), None),
                    (Slot::Manager, Some(v)) => op("replace", format!("{ent}:manager"), Some(json!({"managerId": v}))),
                    (Slot::Manager, None) => op("remove", format!("{ent}:manager.managerId"), None),
                    (Slot::StartDate, Some(v)) => op("replace", format!("{profile}:startDate"), Some(Value::String(v))),
                    (Slot::StartDate, None) => op("remove", format!("{profile}:startDate"), None),
                    (Slot::GuestType | Slot::GuestExpiration, _) => guest_changed = true,
                }
            }
            if guest_changed {
                // Member ⇄ guest conversion and expiration, as Slack documents them for v2.
                match guest_value(desired) {
                    Some(g) => {
                        let clear = text(desired.get("guestExpiration")).is_none()
                            && changed.contains(&"guestExpiration")
                            && !changed.contains(&"accountType");
                        op("add", GUEST_V2.into(), Some(g));
                        if clear {
                            op("remove", format!("{GUEST_V2}.expiration"), None);
                        }
                    }
                    None if changed.contains(&"accountType") => op("remove", GUEST_V2.into(), None),
                    None => {}
                }
            }
            if phones_changed {
                let p = phones(desired);
                if p.is_empty() {
                    op("remove", "phoneNumbers".into(), None)
                } else {
                    op("replace", "phoneNumbers".into(), Some(Value::Array(p)))
                }
            }
            if address_changed {
                match address(desired) {
                    Some(addr) => op("replace", "addresses".into(), Some(json!([addr]))),
                    None => op("remove", "addresses".into(), None),
                }
            }
            if let Some(a) = active {
                op("replace", "active".into(), Some(Value::Bool(a)));
            }
            json!({"schemas": [PATCH_OP], "Operations": ops})
        }
        ApiVersion::V1 => {
            let mut body = Map::new();
            let mut removals: Vec<String> = Vec::new();
            let mut name = Map::new();
            let mut enterprise = Map::new();
            for n in changed {
                let Some(attr) = attribute(n) else { continue };
                let v = text(desired.get(attr.name));
                match (attr.slot, v) {
                    (Slot::Simple(k), Some(v)) => {
                        body.insert(k.into(), Value::String(v));
                    }
                    (Slot::Simple(k), None) => removals.push(k.into()),
                    (Slot::Name(p), Some(v)) => {
                        name.insert(p.into(), Value::String(v));
                    }
                    (Slot::Name(p), None) => removals.push(format!("name.{p}")),
                    (Slot::PrimaryEmail, Some(v)) => {
                        body.insert("emails".into(), json!([{"value": v, "primary": true}]));
                    }
                    (Slot::PrimaryEmail, None) => {}
                    (Slot::Phone(_), _) => phones_changed = true,
                    (Slot::Address(_), _) => address_changed = true,
                    (Slot::Photo, Some(v)) => {
                        body.insert("photos".into(), json!([{"value": v, "primary": true}]));
                    }
                    (Slot::Photo, None) => removals.push("photos".into()),
                    (Slot::Role, Some(v)) => {
                        body.insert("roles".into(), json!([{"value": v, "primary": true}]));
                    }
                    (Slot::Role, None) => removals.push("roles".into()),
                    (Slot::Enterprise(f), Some(v)) => {
                        enterprise.insert(f.into(), Value::String(v));
                    }
                    (Slot::Enterprise(f), None) => removals.push(format!("{ent}.{f}")),
                    (Slot::Manager, Some(v)) => {
                        enterprise.insert("manager".into(), json!({"managerId": v}));
                    }
                    (Slot::Manager, None) => removals.push(format!("{ent}.manager.managerId")),
                    (Slot::StartDate, Some(v)) => {
                        body.insert(profile.into(), json!({"startDate": v}));
                    }
                    (Slot::StartDate, None) => removals.push(format!("{profile}.startDate")),
                    (Slot::GuestType | Slot::GuestExpiration, _) => guest_changed = true,
                }
            }
            let mut schemas = vec![core, ent, profile];
            if guest_changed {
                // v1: the guest extension in the body makes a guest; removing it converts to a member.
                match guest_value(desired) {
                    Some(g) => {
                        if text(desired.get("guestExpiration")).is_none() && changed.contains(&"guestExpiration") {
                            removals.push(format!("{GUEST_V1}.expiration"));
                        }
                        body.insert(GUEST_V1.into(), g);
                        schemas.push(GUEST_V1);
                    }
                    None if changed.contains(&"accountType") => removals.push(GUEST_V1.into()),
                    None => {}
                }
            }
            if phones_changed {
                removals.push("phoneNumbers".into());
                let p = phones(desired);
                if !p.is_empty() {
                    body.insert("phoneNumbers".into(), Value::Array(p));
                }
            }
            if address_changed {
                match address(desired) {
                    Some(addr) => {
                        body.insert("addresses".into(), json!([addr]));
                    }
                    None => removals.push("addresses".into()),
                }
            }
            if !name.is_empty() {
                body.insert("name".into(), Value::Object(name));
            }
            if !enterprise.is_empty() {
                body.insert(ent.into(), Value::Object(enterprise));
            }
            if let Some(a) = active {
                body.insert("active".into(), Value::Bool(a));
            }
            if !removals.is_empty() {
                body.insert("meta".into(), json!({"attributes": removals}));
            }
            body.insert("schemas".into(), json!(schemas));
            Value::Object(body)
        }
    }
}

/// Whether a PATCH body has anything to do.
pub fn patch_is_empty(body: &Value) -> bool {
    match body.get("Operations") {
        Some(ops) => ops.as_array().is_none_or(Vec::is_empty),
        None => body.as_object().is_none_or(|o| o.keys().all(|k| k == "schemas")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(v: Value) -> Attributes {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn create_body_maps_every_slot() {
        let d = attrs(
            json!({"userName": "jo", "primaryEmail": "jo@x.io", "givenName": "Jo", "primaryPhone": "1", "mobilePhone": "2",
            "locality": "Paris", "department": "R&D", "manager": "boss@x.io", "startDate": "2024-01-01T00:00:00+0000", "roles": ["Lead"], "title": " "}),
        );
        let b = create_body(&d, ApiVersion::V2);
        assert_eq!(b["emails"], json!([{"value": "jo@x.io", "primary": true}]));
        assert_eq!(b["phoneNumbers"], json!([{"value": "1", "primary": true}, {"value": "2", "primary": false}]));
        assert_eq!(b["addresses"][0]["locality"], "Paris");
        assert_eq!(b[ENT_V2]["manager"]["managerId"], "boss@x.io");
        assert_eq!(b[PROFILE_V2]["startDate"], "2024-01-01T00:00:00+0000");
        assert_eq!(b["roles"][0]["value"], "Lead");
        assert!(b.get("title").is_none(), "blank values are not sent");
        let b1 = create_body(&d, ApiVersion::V1);
        assert_eq!(b1[ENT_V1]["department"], "R&D");
        assert_eq!(b1["schemas"][0], CORE_V1);
    }

    #[test]
    fn reading_back_inverts_phone_types() {
        let u = json!({"userName": "jo", "emails": [{"value": "jo@x.io", "primary": true}],
            "phoneNumbers": [{"value": "2", "type": "mobile"}, {"value": "1", "primary": true}], "title": "",
            ENT_V2: {"department": "R&D", "manager": {"managerId": null}}});
        let a = from_scim(&u);
        assert_eq!(a["primaryPhone"], "1");
        assert_eq!(a["mobilePhone"], "2");
        assert!(!a.contains_key("title") && !a.contains_key("manager"));
        assert_eq!(a["department"], "R&D");
    }

    #[test]
    fn patch_bodies_set_and_clear() {
        let d = attrs(json!({"title": "CTO", "primaryPhone": "9"}));
        let v2 = patch_body(&d, &["title", "department", "mobilePhone"], Some(true), ApiVersion::V2);
        let ops = v2["Operations"].as_array().unwrap();
        assert!(ops.contains(&json!({"op": "replace", "path": "title", "value": "CTO"})));
        assert!(ops.contains(&json!({"op": "remove", "path": format!("{ENT_V2}:department")})));
        assert!(
            ops.contains(&json!({"op": "replace", "path": "phoneNumbers", "value": [{"value": "9", "primary": true}]}))
        );
        assert!(ops.contains(&json!({"op": "replace", "path": "active", "value": true})));
        let v1 = patch_body(&d, &["title", "department"], None, ApiVersion::V1);
        assert_eq!(v1["title"], "CTO");
        assert_eq!(v1["meta"]["attributes"], json!([format!("{ENT_V1}.department")]));
        assert!(patch_is_empty(&patch_body(&d, &[], None, ApiVersion::V2)));
        assert!(patch_is_empty(&patch_body(&d, &[], None, ApiVersion::V1)));
        assert!(!differs("userName", Some("Jo"), Some("jo")));
        assert!(!differs("displayName", None, Some("jo")));
        assert!(differs("title", None, Some("x")));
    }
}
