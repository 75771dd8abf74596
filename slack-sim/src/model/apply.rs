//! Applying requests to a user: the object body of a POST, PUT or v1 PATCH, and v2 PATCH operations
//! with a path (add, replace, remove), following Slack's slot rules.

use super::user::{Address, Enterprise, User};
use super::{ENT_V1, ENT_V2, GUEST_V1, GUEST_V2, PROFILE_V1, PROFILE_V2};
use crate::errors::{Code, SimError};
use serde_json::{Map, Value};

/// How an object body is being applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// POST.
    Create,
    /// PUT (after `clear_for_put`).
    Put,
    /// v1 partial-object PATCH (or a v2 op without a path).
    Patch,
}

/// What a request asked about activation (applied by the store, which enforces owner/bot rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Effects {
    /// `Some(true)` reactivate, `Some(false)` deactivate.
    pub active: Option<bool>,
}

/// `Some(s)` for a non-empty string; `" "` (Slack's clear marker), `""` and `null` clear.
fn opt_str(v: &Value) -> Result<Option<String>, SimError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        _ => Err(Code::InvalidAttributeFormat.into()),
    }
}

fn bool_of(v: &Value) -> Result<bool, SimError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(Code::InvalidAttributeFormat.into()),
    }
}

/// Elements of a multi-valued attribute: an array, or a single object/string.
fn elements(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

fn elem_value(e: &Value) -> Option<String> {
    match e {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("value").and_then(|v| opt_str(v).ok().flatten()),
        _ => None,
    }
}

fn elem_flag(e: &Value, key: &str) -> Option<bool> {
    e.get(key).and_then(|v| bool_of(v).ok())
}

fn elem_type(e: &Value) -> Option<String> {
    e.get("type").and_then(Value::as_str).map(|s| s.to_ascii_lowercase())
}

fn is_delete(e: &Value) -> bool {
    e.get("operation").and_then(Value::as_str).is_some_and(|s| s.eq_ignore_ascii_case("delete"))
}

fn norm_urn(key: &str) -> Option<(&'static str, String)> {
    // Returns (extension name, sub-path) for an extension URN path, accepting ':' or '.' before the sub-path.
    let lower = key.to_ascii_lowercase();
    for (urn, name) in [
        (ENT_V2, "enterprise"),
        (ENT_V1, "enterprise"),
        (PROFILE_V2, "profile"),
        (PROFILE_V1, "profile"),
        (GUEST_V2, "guest"),
        (GUEST_V1, "guest"),
        ("urn:scim:schemas:extension:slack:guest:2.0:User", "guest"),
    ] {
        let u = urn.to_ascii_lowercase();
        if lower == u {
            return Some((name, String::new()));
        }
        if lower.starts_with(&u) {
            let rest = &key[u.len()..];
            if let Some(sub) = rest.strip_prefix(':').or_else(|| rest.strip_prefix('.')) {
                return Some((name, sub.to_owned()));
            }
        }
    }
    None
}

impl User {
    /// Applies a SCIM user object (POST, PUT, v1 PATCH).
    pub fn apply_object(&mut self, obj: &Map<String, Value>, mode: Mode, fx: &mut Effects) -> Result<(), SimError> {
        for (k, v) in obj {
            if let Some((ext, sub)) = norm_urn(k) {
                if sub.is_empty() {
                    self.set_extension(ext, v, mode == Mode::Patch)?;
                } else {
                    self.set_ext_field(ext, &sub, v)?;
                }
                continue;
            }
            match k.as_str() {
                "schemas" | "meta" | "id" | "externalId" | "groups" | "profileUrl" => {}
                "userName" | "nickName" => {
                    self.user_name = match v {
                        Value::String(s) => s.clone(),
                        Value::Null => String::new(),
                        _ => return Err(Code::UsernameInvalid.into()),
                    }
                }
                "displayName" => self.display_name = opt_str(v)?.unwrap_or_default(),
                "title" => self.title = opt_str(v)?.unwrap_or_default(),
                "timezone" => self.timezone = opt_str(v)?.unwrap_or_default(),
                "locale" => self.locale = opt_str(v)?,
                "preferredLanguage" => self.preferred_language = opt_str(v)?,
                "userType" => self.user_type = opt_str(v)?,
                "name" => {
                    let Value::Object(n) = v else {
                        if v.is_null() {
                            self.given_name.clear();
                            self.family_name.clear();
                            self.honorific_prefix = None;
                            continue;
                        }
                        return Err(Code::InvalidAttributeFormat.into());
                    };
                    for (nk, nv) in n {
                        self.set_name_part(nk, nv)?;
                    }
                }
                "emails" => self.set_emails(v, mode == Mode::Patch)?,
                "phoneNumbers" => self.set_phones(v, mode == Mode::Patch)?,
                "photos" => {
                    let els = elements(v);
                    if els.iter().any(|e| is_delete(e)) {
                        self.photo = None;
                    } else {
                        let pick = els.iter().find(|e| elem_flag(e, "primary") == Some(true)).or(els.first());
                        self.photo = pick.and_then(|e| elem_value(e));
                        if pick.is_some() && self.photo.is_none() {
                            return Err(Code::PhotosInvalid.into());
                        }
                    }
                }
                "addresses" => self.set_addresses(v)?,
                "roles" => {
                    let els = elements(v);
                    if let Some(d) = els.iter().find(|e| is_delete(e)) {
                        if elem_value(d) == self.role {
                            self.role = None;
                        }
                    } else {
                        let pick = els.iter().find(|e| elem_flag(e, "primary") == Some(true)).or(els.first());
                        self.role = pick.and_then(|e| elem_value(e));
                        if pick.is_some() && self.role.is_none() {
                            return Err(Code::RolesInvalid.into());
                        }
                    }
                }
                "active" => fx.active = Some(bool_of(v)?),
                "password" if mode != Mode::Create => return Err(Code::PasswordChangeNotAllowed.into()),
                _ => {}
            }
        }
        Ok(())
    }

    fn set_name_part(&mut self, key: &str, v: &Value) -> Result<(), SimError> {
        match key {
            "givenName" => self.given_name = opt_str(v)?.unwrap_or_default(),
            "familyName" => self.family_name = opt_str(v)?.unwrap_or_default(),
            "honorificPrefix" => self.honorific_prefix = opt_str(v)?,
            _ => {}
        }
        Ok(())
    }

    fn set_emails(&mut self, v: &Value, patch: bool) -> Result<(), SimError> {
        let els = elements(v);
        if patch && els.iter().any(|e| is_delete(e)) {
            for e in els.iter().filter(|e| is_delete(e)) {
                let val = elem_value(e).unwrap_or_default().to_lowercase();
                self.remove_email(Some(&val))?;
            }
            return Ok(());
        }
        if els.is_empty() {
            return Err(Code::MissingPrimaryEmail.into());
        }
        let mut values = Vec::new();
        for e in &els {
            if !matches!(e, Value::Object(_) | Value::String(_)) {
                return Err(Code::EmailsInvalid.into());
            }
            match elem_value(e) {
                Some(s) => values.push(((*e).clone(), s)),
                None => return Err(Code::EmailEmpty.into()),
            }
        }
        let primary_idx = values
            .iter()
            .position(|(e, _)| elem_flag(e, "primary") == Some(true))
            .or_else(|| values.iter().position(|(e, _)| elem_type(e).as_deref() == Some("work")))
            .unwrap_or(0);
        let primary = values[primary_idx].1.clone();
        let secondary = values.iter().enumerate().find(|(i, _)| *i != primary_idx).map(|(_, (_, s))| s.clone());
        self.emails = std::iter::once(primary).chain(secondary).collect();
        Ok(())
    }

    fn remove_email(&mut self, value: Option<&str>) -> Result<(), SimError> {
        match value {
            None => {
                self.emails.truncate(1);
                Ok(())
            }
            Some(val) => {
                if self.emails.get(1).is_some_and(|s| s.eq_ignore_ascii_case(val)) {
                    self.emails.truncate(1);
                    Ok(())
                } else if self.emails.first().is_some_and(|s| s.eq_ignore_ascii_case(val)) {
                    Err(Code::MissingPrimaryEmail.into())
                } else {
                    Ok(())
                }
            }
        }
    }

    fn set_phones(&mut self, v: &Value, patch: bool) -> Result<(), SimError> {
        let els = elements(v);
        if patch && els.iter().any(|e| is_delete(e)) {
            for e in els.iter().filter(|e| is_delete(e)) {
                self.remove_phone(elem_value(e).as_deref());
            }
            return Ok(());
        }
        if !patch {
            self.primary_phone = None;
            self.mobile_phone = None;
        }
        let mut unassigned = Vec::new();
        for e in els {
            let val = match e {
                Value::Object(o) => match o.get("value") {
                    Some(x) => opt_str(x)?,
                    None => return Err(Code::PhoneNumbersInvalid.into()),
                },
                Value::String(s) => Some(s.clone()),
                _ => return Err(Code::PhoneNumbersInvalid.into()),
            };
            // Request semantics: primary:true or type mobile → primaryPhone; primary:false or type work → mobilePhone.
            match (elem_flag(e, "primary"), elem_type(e).as_deref()) {
                (Some(true), _) | (_, Some("mobile")) => self.primary_phone = val,
                (Some(false), _) | (_, Some("work")) => self.mobile_phone = val,
                _ => unassigned.push(val),
            }
        }
        for val in unassigned {
            if self.primary_phone.is_none() {
                self.primary_phone = val;
            } else {
                self.mobile_phone = val;
            }
        }
        Ok(())
    }

    fn remove_phone(&mut self, value: Option<&str>) {
        match value {
            None => {
                self.primary_phone = None;
                self.mobile_phone = None;
            }
            Some(v) => {
                if self.primary_phone.as_deref() == Some(v) {
                    self.primary_phone = None;
                }
                if self.mobile_phone.as_deref() == Some(v) {
                    self.mobile_phone = None;
                }
            }
        }
    }

    fn set_addresses(&mut self, v: &Value) -> Result<(), SimError> {
        let els = elements(v);
        if let Some(d) = els.iter().find(|e| is_delete(e)) {
            // Deleted only if all five sub-fields match.
            let probe = address_of(d)?;
            if self.address.as_ref() == Some(&probe) {
                self.address = None;
            }
            return Ok(());
        }
        let pick = els.iter().find(|e| elem_flag(e, "primary") == Some(true)).or(els.first());
        self.address = match pick {
            Some(e) => Some(address_of(e)?),
            None => None,
        };
        Ok(())
    }

    fn set_extension(&mut self, ext: &str, v: &Value, partial: bool) -> Result<(), SimError> {
        match ext {
            "enterprise" => {
                let Value::Object(o) = v else {
                    if v.is_null() {
                        self.enterprise = Enterprise::default();
                        return Ok(());
                    }
                    return Err(Code::ImproperEnterpriseSchemaFormat.into());
                };
                if !partial {
                    self.enterprise = Enterprise::default();
                }
                for (k, x) in o {
                    self.set_ext_field("enterprise", k, x)?;
                }
            }
            "profile" => {
                let Value::Object(o) = v else {
                    return Err(Code::InvalidAttributeFormat.into());
                };
                if let Some(x) = o.get("startDate") {
                    self.start_date = opt_str(x)?;
                }
            }
            "guest" => {
                let Value::Object(o) = v else {
                    return Err(Code::InvalidAttributeFormat.into());
                };
                if o.get("type").and_then(Value::as_str) != Some("multi") {
                    return Err(Code::InvalidAttributeFormat.into());
                }
                let exp = match o.get("expiration") {
                    Some(x) => opt_str(x)?,
                    None => None,
                };
                self.guest = Some(exp);
            }
            _ => {}
        }
        Ok(())
    }

    fn set_ext_field(&mut self, ext: &str, sub: &str, v: &Value) -> Result<(), SimError> {
        match ext {
            "enterprise" => {
                let e = &mut self.enterprise;
                match sub {
                    "employeeNumber" => e.employee_number = opt_str(v)?,
                    "costCenter" => e.cost_center = opt_str(v)?,
                    "organization" => e.organization = opt_str(v)?,
                    "division" => e.division = opt_str(v)?,
                    "department" => e.department = opt_str(v)?,
                    "manager" => match v {
                        Value::Null => e.manager_id = None,
                        Value::Object(m) => match m.get("managerId") {
                            Some(id) => e.manager_id = opt_str(id)?,
                            None => return Err(Code::ImproperEnterpriseSchemaFormat.into()),
                        },
                        _ => return Err(Code::ImproperEnterpriseSchemaFormat.into()),
                    },
                    "manager.managerId" | "managerId" => e.manager_id = opt_str(v)?,
                    _ => {}
                }
            }
            "profile" if sub == "startDate" => self.start_date = opt_str(v)?,
            "guest" if sub == "expiration" => {
                if let Some(g) = self.guest.as_mut() {
                    *g = opt_str(v)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Removes the attribute at `path` (v1 `meta.attributes`, v2 `remove`). `value` is the v2 op value.
    pub fn remove_path(&mut self, path: &str, value: Option<&Value>) -> Result<(), SimError> {
        if let Some((ext, sub)) = norm_urn(path) {
            match (ext, sub.as_str()) {
                ("enterprise", "") => self.enterprise = Enterprise::default(),
                ("profile", "") | ("profile", "startDate") => self.start_date = None,
                ("guest", "") => self.guest = None,
                (e, s) => self.set_ext_field(e, s, &Value::Null)?,
            }
            return Ok(());
        }
        let (attr, filter, sub) = split_value_path(path);
        match attr.as_str() {
            "name" => match sub.as_deref() {
                None => {
                    self.given_name.clear();
                    self.family_name.clear();
                    self.honorific_prefix = None;
                }
                Some(part) => self.set_name_part(part, &Value::Null)?,
            },
            "name.givenName" | "name.familyName" | "name.honorificPrefix" => {
                self.set_name_part(&attr[5..], &Value::Null)?;
            }
            "emails" => match filter {
                Some((k, v)) if k == "value" => self.remove_email(Some(&v))?,
                Some((k, v)) if k == "primary" && v == "true" => return Err(Code::MissingPrimaryEmail.into()),
                _ => match value.map(elements).unwrap_or_default().first().and_then(|e| elem_value(e)) {
                    Some(v) => self.remove_email(Some(&v))?,
                    None => self.remove_email(None)?,
                },
            },
            "phoneNumbers" => match filter {
                Some((k, v)) if k == "value" => self.remove_phone(Some(&v)),
                _ => self.remove_phone(None),
            },
            "photos" => self.photo = None,
            "addresses" | "address" => self.address = None,
            "roles" => self.role = None,
            "displayName" => self.display_name.clear(),
            "title" => self.title.clear(),
            "timezone" => self.timezone.clear(),
            "locale" => self.locale = None,
            "preferredLanguage" => self.preferred_language = None,
            "userType" => self.user_type = None,
            "userName" | "nickName" => return Err(Code::UsernameEmpty.into()),
            _ => {}
        }
        Ok(())
    }

    /// v2 `add`/`replace` with a path.
    pub fn set_path(&mut self, path: &str, value: &Value, replace: bool, fx: &mut Effects) -> Result<(), SimError> {
        if let Some((ext, sub)) = norm_urn(path) {
            return if sub.is_empty() {
                self.set_extension(ext, value, true)
            } else {
                self.set_ext_field(ext, &sub, value)
            };
        }
        let (attr, filter, sub) = split_value_path(path);
        match attr.as_str() {
            "emails" => match filter {
                Some((k, v)) if k == "primary" && v == "false" => {
                    let val = elements(value).first().and_then(|e| elem_value(e)).ok_or(Code::EmailEmpty)?;
                    self.emails.truncate(1);
                    self.emails.push(val);
                }
                Some((k, v)) if k == "value" => {
                    let new = elements(value).first().and_then(|e| elem_value(e)).ok_or(Code::EmailEmpty)?;
                    for e in self.emails.iter_mut() {
                        if e.eq_ignore_ascii_case(&v) {
                            *e = new.clone();
                        }
                    }
                }
                _ if replace => self.set_emails(value, false)?,
                _ => {
                    // add: an element marked primary replaces the primary; others fill the secondary slot.
                    for e in elements(value) {
                        let val = elem_value(e).ok_or(Code::EmailEmpty)?;
                        if elem_flag(e, "primary") == Some(true) || self.emails.is_empty() {
                            if self.emails.is_empty() {
                                self.emails.push(val);
                            } else {
                                self.emails[0] = val;
                            }
                        } else {
                            self.emails.truncate(1);
                            self.emails.push(val);
                        }
                    }
                }
            },
            "phoneNumbers" => match (filter, sub.as_deref()) {
                (Some((k, old)), Some("value")) if k == "value" => {
                    let new = opt_str(value)?;
                    if self.primary_phone.as_deref() == Some(old.as_str()) {
                        self.primary_phone = new.clone();
                    }
                    if self.mobile_phone.as_deref() == Some(old.as_str()) {
                        self.mobile_phone = new;
                    }
                }
                _ => self.set_phones(value, !replace)?,
            },
            "name" => match (value, sub) {
                (Value::Object(o), None) => {
                    for (k, v) in o {
                        self.set_name_part(k, v)?;
                    }
                }
                (v, Some(part)) => self.set_name_part(&part, v)?,
                _ => return Err(Code::InvalidAttributeFormat.into()),
            },
            "name.givenName" | "name.familyName" | "name.honorificPrefix" => self.set_name_part(&attr[5..], value)?,
            "address" => self.set_addresses(value)?,
            _ => {
                let mut obj = Map::new();
                obj.insert(attr, value.clone());
                self.apply_object(&obj, Mode::Patch, fx)?;
            }
        }
        Ok(())
    }
}

fn address_of(e: &Value) -> Result<Address, SimError> {
    let Value::Object(o) = e else {
        return Err(Code::AddressesInvalid.into());
    };
    let f = |k: &str| o.get(k).map(opt_str).transpose().map(Option::flatten);
    Ok(Address {
        street_address: f("streetAddress")?,
        locality: f("locality")?,
        region: f("region")?,
        postal_code: f("postalCode")?,
        country: f("country")?,
    })
}

/// Splits `attr[sub op value].subattr` into `(attr, Some((sub, value)), Some(subattr))`.
/// Values may be quoted or bare (Slack's docs show both). Values are lowercased for `primary`.
pub fn split_value_path(path: &str) -> (String, Option<(String, String)>, Option<String>) {
    let Some(open) = path.find('[') else {
        if let Some((a, s)) = path.split_once('.') {
            if a == "name" {
                return (path.to_owned(), None, None);
            }
            return (a.to_owned(), None, Some(s.to_owned()));
        }
        return (path.to_owned(), None, None);
    };
    let attr = path[..open].to_owned();
    let Some(close) = path[open..].find(']').map(|c| c + open) else {
        return (attr, None, None);
    };
    let inner = &path[open + 1..close];
    let mut parts = inner.splitn(3, ' ');
    let key = parts.next().unwrap_or_default().to_owned();
    let _op = parts.next();
    let raw = parts.next().unwrap_or_default().trim();
    let val = raw.trim_matches('"').trim_matches('\'').to_owned();
    let sub = path[close + 1..].strip_prefix('.').map(str::to_owned);
    (attr, Some((key, val)), sub)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_paths() {
        assert_eq!(
            split_value_path("emails[value eq \"a@b.c\"]"),
            ("emails".into(), Some(("value".into(), "a@b.c".into())), None)
        );
        assert_eq!(
            split_value_path("phoneNumbers[value eq \"333\"].value"),
            ("phoneNumbers".into(), Some(("value".into(), "333".into())), Some("value".into()))
        );
        assert_eq!(split_value_path("members[value eq U1]").1, Some(("value".into(), "U1".into())));
        assert_eq!(split_value_path("name.givenName"), ("name.givenName".into(), None, None));
    }
}
