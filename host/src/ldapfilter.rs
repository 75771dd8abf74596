//! LDAP search filters (RFC 4515) and their evaluation against an entry, for sources that are not a
//! directory server (LDIF and CSV files). Attribute names and values compare case-insensitively
//! (caseIgnoreMatch), as directories do for the usual attributes.

use crate::entry::Entry;

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `(&...)`.
    And(Vec<Filter>),
    /// `(|...)`.
    Or(Vec<Filter>),
    /// `(!...)`.
    Not(Box<Filter>),
    /// `(a=v)`.
    Eq(String, String),
    /// `(a=*)`.
    Present(String),
    /// `(a=x*y*z)`: initial, any, final.
    Substring(String, Option<String>, Vec<String>, Option<String>),
    /// `(a>=v)`.
    Ge(String, String),
    /// `(a<=v)`.
    Le(String, String),
}

/// A filter syntax error.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid LDAP filter at byte {pos}: {why}")]
pub struct FilterError {
    /// Byte offset.
    pub pos: usize,
    /// What is wrong.
    pub why: &'static str,
}

fn unescape(s: &str) -> String {
    // RFC 4515 `\XX` escapes.
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

struct P<'a> {
    s: &'a str,
    i: usize,
}

impl P<'_> {
    fn err(&self, why: &'static str) -> FilterError {
        FilterError { pos: self.i, why }
    }

    fn expect(&mut self, c: u8) -> Result<(), FilterError> {
        if self.s.as_bytes().get(self.i) == Some(&c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(if c == b'(' { "expected `(`" } else { "expected `)`" }))
        }
    }

    fn filter(&mut self) -> Result<Filter, FilterError> {
        self.expect(b'(')?;
        let f = match self.s.as_bytes().get(self.i) {
            Some(b'&') => {
                self.i += 1;
                Filter::And(self.list()?)
            }
            Some(b'|') => {
                self.i += 1;
                Filter::Or(self.list()?)
            }
            Some(b'!') => {
                self.i += 1;
                Filter::Not(Box::new(self.filter()?))
            }
            Some(_) => self.item()?,
            None => return Err(self.err("unexpected end")),
        };
        self.expect(b')')?;
        Ok(f)
    }

    fn list(&mut self) -> Result<Vec<Filter>, FilterError> {
        let mut v = Vec::new();
        while self.s.as_bytes().get(self.i) == Some(&b'(') {
            v.push(self.filter()?);
        }
        if v.is_empty() {
            return Err(self.err("empty filter list"));
        }
        Ok(v)
    }

    fn item(&mut self) -> Result<Filter, FilterError> {
        let rest = &self.s[self.i..];
        let end = rest.find(')').ok_or_else(|| self.err("missing `)`"))?;
        let body = &rest[..end];
        let (attr, op, value) = if let Some(p) = body.find(">=") {
            (&body[..p], ">=", &body[p + 2..])
        } else if let Some(p) = body.find("<=") {
            (&body[..p], "<=", &body[p + 2..])
        } else if let Some(p) = body.find("~=") {
            (&body[..p], "=", &body[p + 2..])
        } else if let Some(p) = body.find('=') {
            (&body[..p], "=", &body[p + 1..])
        } else {
            return Err(self.err("expected an operator"));
        };
        let attr = attr.trim().to_ascii_lowercase();
        if attr.is_empty() || !attr.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == ';') {
            return Err(self.err("invalid attribute name"));
        }
        self.i += end;
        Ok(match op {
            ">=" => Filter::Ge(attr, unescape(value).to_lowercase()),
            "<=" => Filter::Le(attr, unescape(value).to_lowercase()),
            _ if value == "*" => Filter::Present(attr),
            _ if value.contains('*') => {
                let parts: Vec<&str> = value.split('*').collect();
                let first = parts.first().filter(|p| !p.is_empty()).map(|p| unescape(p).to_lowercase());
                let last = parts.last().filter(|p| !p.is_empty()).map(|p| unescape(p).to_lowercase());
                let any = parts[1..parts.len() - 1]
                    .iter()
                    .filter(|p| !p.is_empty())
                    .map(|p| unescape(p).to_lowercase())
                    .collect();
                Filter::Substring(attr, first, any, last)
            }
            _ => Filter::Eq(attr, unescape(value).to_lowercase()),
        })
    }
}

/// Parses a filter; a bare `a=b` is accepted as `(a=b)`.
pub fn parse(s: &str) -> Result<Filter, FilterError> {
    let t = s.trim();
    let owned;
    let t = if t.starts_with('(') {
        t
    } else {
        owned = format!("({t})");
        &owned
    };
    let mut p = P { s: t, i: 0 };
    let f = p.filter()?;
    if p.i != t.len() {
        return Err(p.err("trailing characters"));
    }
    Ok(f)
}

impl Filter {
    /// Whether `e` matches.
    pub fn matches(&self, e: &Entry) -> bool {
        match self {
            Filter::And(v) => v.iter().all(|f| f.matches(e)),
            Filter::Or(v) => v.iter().any(|f| f.matches(e)),
            Filter::Not(f) => !f.matches(e),
            Filter::Present(a) => a == "objectclass" || !e.values(a).is_empty(),
            Filter::Eq(a, v) => e.values(a).iter().any(|x| x.to_lowercase() == *v),
            Filter::Ge(a, v) => e.values(a).iter().any(|x| x.to_lowercase().as_str() >= v.as_str()),
            Filter::Le(a, v) => e.values(a).iter().any(|x| x.to_lowercase().as_str() <= v.as_str()),
            Filter::Substring(a, first, any, last) => e.values(a).iter().any(|x| {
                let x = x.to_lowercase();
                let mut rest = x.as_str();
                if let Some(f) = first {
                    match rest.strip_prefix(f.as_str()) {
                        Some(r) => rest = r,
                        None => return false,
                    }
                }
                for part in any {
                    match rest.find(part.as_str()) {
                        Some(p) => rest = &rest[p + part.len()..],
                        None => return false,
                    }
                }
                last.as_ref().is_none_or(|l| rest.ends_with(l.as_str()))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        let mut e = Entry::new("uid=jdoe,ou=People,dc=example,dc=com");
        e.push("objectClass", "inetOrgPerson");
        e.push("uid", "jdoe");
        e.push("mail", "John.Doe@Example.com");
        e.push("departmentNumber", "42");
        e
    }

    #[test]
    fn evaluates_rfc4515_filters() {
        let e = entry();
        for (f, want) in [
            ("(objectClass=inetOrgPerson)", true),
            ("(&(objectClass=inetorgperson)(uid=JDOE))", true),
            ("(|(uid=x)(mail=*@example.com))", true),
            ("(!(uid=jdoe))", false),
            ("(mail=john*doe*)", true),
            ("(departmentNumber>=40)", true),
            ("(departmentNumber<=40)", false),
            ("(title=*)", false),
            ("uid=jdoe", true),
            ("(cn=a\\2ab)", false),
        ] {
            assert_eq!(parse(f).unwrap().matches(&e), want, "{f}");
        }
        assert!(parse("(uid=jdoe").is_err());
        assert!(parse("(&)").is_err());
        assert!(parse("(uid)").is_err());
        assert!(parse("(uid=a))").is_err());
    }
}
