//! Rendering: a user in Slack's representation for each API version (v1.1 and v2), and Slack's
//! timestamps.

use super::user::{Kind, User};
use super::{Version, CORE_USER_V2, CORE_V1, ENT_V1, ENT_V2, GUEST_V1, GUEST_V2, PROFILE_V1, PROFILE_V2};
use serde_json::{json, Map, Value};
use std::time::Instant;

/// `2024-01-02T03:04:05-07:00`-style timestamp with Slack's Pacific offset.
pub fn pacific_timestamp(unix: u64) -> String {
    let t = unix as i64 - 7 * 3600;
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}-07:00", secs / 3600, (secs / 60) % 60, secs % 60)
}

/// Renders a user in Slack's representation for `version`.
pub fn render_user(
    u: &User,
    version: Version,
    base: &str,
    workspace: &str,
    groups: &[(String, String)],
    now: Instant,
) -> Value {
    let (core, ent, profile, guest) = match version {
        Version::V1 => (CORE_V1, ENT_V1, PROFILE_V1, GUEST_V1),
        Version::V2 => (CORE_USER_V2, ENT_V2, PROFILE_V2, GUEST_V2),
    };
    let vpath = if version == Version::V1 { "v1" } else { "v2" };
    let bot = u.kind == Kind::Bot;
    let mut schemas = vec![core];
    if !bot {
        schemas.push(ent);
        schemas.push(profile);
    }
    if u.guest.is_some() {
        schemas.push(guest);
    }
    let mut emails = vec![json!({"value": u.emails.first().cloned().unwrap_or_default(), "primary": true})];
    match (u.emails.get(1), version) {
        (Some(s), _) => emails.push(json!({"value": s, "primary": false})),
        (None, Version::V1) => emails.push(json!({"value": "", "primary": false})),
        (None, Version::V2) => {}
    }
    let mut m = Map::new();
    m.insert("schemas".into(), json!(schemas));
    m.insert("id".into(), json!(u.id));
    m.insert("externalId".into(), json!(""));
    m.insert(
        "meta".into(),
        json!({"created": pacific_timestamp(u.created), "location": format!("{base}/scim/{vpath}/Users/{}", u.id)}),
    );
    m.insert("userName".into(), json!(u.user_name));
    m.insert("nickName".into(), json!(u.user_name));
    m.insert(
        "name".into(),
        json!({"givenName": u.given_name, "familyName": u.family_name, "honorificPrefix": u.honorific_prefix}),
    );
    m.insert("displayName".into(), json!(u.display_name));
    m.insert("profileUrl".into(), json!(format!("https://{workspace}.slack.com/team/{}", u.user_name)));
    m.insert("title".into(), json!(u.title));
    m.insert("timezone".into(), json!(u.timezone));
    m.insert("active".into(), json!(u.is_active(now)));
    m.insert("emails".into(), json!(emails));
    m.insert(
        "photos".into(),
        match &u.photo {
            Some(p) => json!([{"value": p, "type": "photo"}]),
            None => json!([]),
        },
    );
    if !bot {
        let a = u.address.clone().unwrap_or_default();
        m.insert(
            "addresses".into(),
            json!([{"streetAddress": a.street_address, "locality": a.locality, "region": a.region,
                    "postalCode": a.postal_code, "country": a.country}]),
        );
        m.insert(
            "phoneNumbers".into(),
            json!([{"value": u.mobile_phone, "type": "mobile"}, {"value": u.primary_phone, "primary": true}]),
        );
        m.insert("userType".into(), json!(u.user_type));
        m.insert(
            "roles".into(),
            match &u.role {
                Some(r) => json!([{"value": r, "primary": true}]),
                None => json!([]),
            },
        );
        m.insert("preferredLanguage".into(), json!(u.preferred_language));
        m.insert("locale".into(), json!(u.locale));
        let e = &u.enterprise;
        m.insert(
            ent.into(),
            json!({"employeeNumber": e.employee_number, "costCenter": e.cost_center, "organization": e.organization,
                   "division": e.division, "department": e.department, "manager": {"managerId": e.manager_id}}),
        );
        m.insert(profile.into(), json!({"startDate": u.start_date}));
    }
    if let Some(exp) = &u.guest {
        let mut g = json!({"type": "multi"});
        if let Some(x) = exp {
            g["expiration"] = json!(x);
        }
        m.insert(guest.into(), g);
    }
    m.insert(
        "groups".into(),
        Value::Array(groups.iter().map(|(id, name)| json!({"value": id, "display": name})).collect()),
    );
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_pacific() {
        assert_eq!(pacific_timestamp(0), "1969-12-31T17:00:00-07:00");
        assert_eq!(pacific_timestamp(1_660_679_387), "2022-08-16T12:49:47-07:00");
    }
}
