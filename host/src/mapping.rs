//! Attribute mapping (PingFederate's attribute mapping): each target attribute from source attributes,
//! a template, or a default; then trim, case and parsers. Templates are the small expression language:
//!
//! - `{attr}` inserts the first value of `attr` (empty when absent);
//! - filters after `|`: `lower`, `upper`, `trim`, `cn` (extract the CN from a DN), `localpart` (the part
//!   of an email before `@`), `first:N` (the first N characters), `default:TEXT` (when empty);
//! - `{{` and `}}` are literal braces.
//!
//! For example `{givenName} {sn}`, `{mail|localpart|lower|first:21}`, `{manager|cn}`.

use crate::config::FieldMapping;
use crate::entry::Entry;
use serde_json::Value;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Attr(String, Vec<Filter>),
}

#[derive(Debug, Clone, PartialEq)]
enum Filter {
    Lower,
    Upper,
    Trim,
    Cn,
    LocalPart,
    First(usize),
    Default(String),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template(Vec<Piece>);

/// The CN of a DN (`cn=Jane Doe,ou=People,...` → `Jane Doe`), or the first RDN's value.
pub fn extract_cn(dn: &str) -> String {
    let first = dn.split(',').next().unwrap_or(dn);
    dn.split(',')
        .find_map(|rdn| {
            rdn.split_once('=').filter(|(a, _)| a.trim().eq_ignore_ascii_case("cn")).map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| first.split_once('=').map(|(_, v)| v.trim().to_owned()).unwrap_or_else(|| dn.to_owned()))
}

/// The part of an email before `@`.
pub fn extract_local_part(email: &str) -> String {
    email.split('@').next().unwrap_or(email).to_owned()
}

impl Template {
    /// Parses a template.
    pub fn parse(s: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    text.push('}');
                }
                '{' => {
                    let mut inner = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(ch) => inner.push(ch),
                            None => return Err(format!("unclosed `{{` in template `{s}`")),
                        }
                    }
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    let mut parts = inner.split('|');
                    let attr = parts.next().unwrap_or("").trim().to_owned();
                    if attr.is_empty() {
                        return Err(format!("empty attribute name in template `{s}`"));
                    }
                    let mut filters = Vec::new();
                    for f in parts {
                        let f = f.trim();
                        let (name, arg) = f.split_once(':').map(|(a, b)| (a, Some(b))).unwrap_or((f, None));
                        filters.push(match (name, arg) {
                            ("lower", None) => Filter::Lower,
                            ("upper", None) => Filter::Upper,
                            ("trim", None) => Filter::Trim,
                            ("cn", None) => Filter::Cn,
                            ("localpart", None) => Filter::LocalPart,
                            ("first", Some(n)) => Filter::First(n.trim().parse().map_err(|_| format!("`first:` needs a number in `{s}`"))?),
                            ("default", Some(d)) => Filter::Default(d.to_owned()),
                            _ => return Err(format!("unknown filter `{f}` in template `{s}` (lower, upper, trim, cn, localpart, first:N, default:TEXT)")),
                        });
                    }
                    pieces.push(Piece::Attr(attr, filters));
                }
                '}' => return Err(format!("unmatched `}}` in template `{s}`")),
                other => text.push(other),
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Template(pieces))
    }

    /// Renders against an entry.
    pub fn render(&self, e: &Entry) -> String {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Attr(a, filters) => {
                    let mut v =
                        if a.eq_ignore_ascii_case("dn") { e.dn.clone() } else { e.first(a).unwrap_or("").to_owned() };
                    for f in filters {
                        v = match f {
                            Filter::Lower => v.to_lowercase(),
                            Filter::Upper => v.to_uppercase(),
                            Filter::Trim => v.trim().to_owned(),
                            Filter::Cn => extract_cn(&v),
                            Filter::LocalPart => extract_local_part(&v),
                            Filter::First(n) => v.chars().take(*n).collect(),
                            Filter::Default(d) if v.is_empty() => d.clone(),
                            Filter::Default(_) => v,
                        };
                    }
                    out.push_str(&v);
                }
            }
        }
        out
    }

    /// The attributes the template reads.
    pub fn attributes(&self) -> Vec<String> {
        self.0.iter().filter_map(|p| if let Piece::Attr(a, _) = p { Some(a.clone()) } else { None }).collect()
    }
}

/// A compiled field mapping.
#[derive(Debug, Clone)]
pub struct FieldPlan {
    /// Target attribute.
    pub target: String,
    sources: Vec<String>,
    template: Option<Template>,
    default: Option<String>,
    /// Set on create only.
    pub create_only: bool,
    trim: bool,
    case: Option<String>,
    parser: Option<String>,
    /// Never shown.
    pub masked: bool,
    /// Resolve the value to another user's target id (`dn` or `source_id`).
    pub resolve: Option<Resolve>,
}

/// How a mapped value names another user (see [`FieldPlan::resolve`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolve {
    /// The value is the user's DN.
    Dn,
    /// The value is the user's source id.
    SourceId,
}

impl FieldPlan {
    /// Checks and compiles one mapping.
    pub fn compile(target: &str, m: &FieldMapping) -> Result<FieldPlan, String> {
        let mut sources: Vec<String> = m.attribute.iter().cloned().collect();
        sources.extend(m.attributes.iter().cloned());
        let template = m.template.as_deref().map(Template::parse).transpose()?;
        if sources.is_empty() && template.is_none() && m.default.is_none() {
            return Err("give `attribute`, `attributes`, `template` or `default`".into());
        }
        if !sources.is_empty() && template.is_some() {
            return Err("give either source attributes or a template, not both".into());
        }
        if let Some(c) = &m.case {
            if !matches!(c.as_str(), "lower" | "upper" | "none") {
                return Err(format!("case `{c}` is not lower, upper or none"));
            }
        }
        if let Some(p) = &m.parser {
            if !matches!(p.as_str(), "extract_cn_from_dn" | "extract_username_from_email" | "none") {
                return Err(format!("parser `{p}` is not extract_cn_from_dn, extract_username_from_email or none"));
            }
        }
        Ok(FieldPlan {
            target: target.to_owned(),
            sources,
            template,
            default: m.default.clone(),
            create_only: m.create_only,
            trim: m.trim,
            case: m.case.clone(),
            parser: m.parser.clone(),
            resolve: match m.resolve.as_deref() {
                None => None,
                Some("dn") => Some(Resolve::Dn),
                Some("source_id") => Some(Resolve::SourceId),
                Some(other) => return Err(format!("resolve `{other}` is not dn or source_id")),
            },
            masked: m.masked,
        })
    }

    /// The mapped value for `e` (`Null` when there is none).
    pub fn value(&self, e: &Entry) -> Value {
        let mut v = match &self.template {
            Some(t) => Some(t.render(e)),
            None => self.sources.iter().find_map(|a| e.first(a).filter(|v| !v.trim().is_empty()).map(str::to_owned)),
        };
        if let Some(p) = self.parser.as_deref() {
            v = v.map(|x| match p {
                "extract_cn_from_dn" => extract_cn(&x),
                "extract_username_from_email" => extract_local_part(&x),
                _ => x,
            });
        }
        if self.trim {
            v = v.map(|x| x.trim().to_owned());
        }
        v = v.map(|x| match self.case.as_deref() {
            Some("lower") => x.to_lowercase(),
            Some("upper") => x.to_uppercase(),
            _ => x,
        });
        match v.filter(|x| !x.is_empty()).or_else(|| self.default.clone()) {
            Some(x) => Value::String(x),
            None => Value::Null,
        }
    }

    /// The source attributes it reads.
    pub fn attributes(&self) -> Vec<String> {
        let mut a = self.sources.clone();
        if let Some(t) = &self.template {
            a.extend(t.attributes());
        }
        a
    }
}

/// A channel's whole mapping.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// The fields, in name order.
    pub fields: Vec<FieldPlan>,
}

impl Mapping {
    /// Compiles every field.
    pub fn compile(m: &std::collections::BTreeMap<String, FieldMapping>) -> Result<Mapping, String> {
        Ok(Mapping {
            fields: m
                .iter()
                .map(|(t, f)| FieldPlan::compile(t, f).map_err(|e| format!("{t}: {e}")))
                .collect::<Result<_, _>>()?,
        })
    }

    /// The mapped attributes of `e`.
    pub fn apply(&self, e: &Entry) -> serde_json::Map<String, Value> {
        self.fields.iter().map(|f| (f.target.clone(), f.value(e))).collect()
    }

    /// Whether `target` is masked.
    pub fn masked(&self, target: &str) -> bool {
        self.fields.iter().any(|f| f.target == target && f.masked)
    }

    /// The fields whose value names another user.
    pub fn references(&self) -> impl Iterator<Item = (&str, Resolve)> {
        self.fields.iter().filter_map(|f| f.resolve.map(|r| (f.target.as_str(), r)))
    }

    /// Whether `target` is create-only.
    pub fn create_only(&self, target: &str) -> bool {
        self.fields.iter().any(|f| f.target == target && f.create_only)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        let mut e = Entry::new("uid=jdoe,ou=People,dc=example,dc=com");
        e.push("givenName", "John");
        e.push("sn", "Doe");
        e.push("mail", "John.Doe@Example.com");
        e.push("manager", "cn=Big Boss,ou=People,dc=example,dc=com");
        e.push("title", "  Engineer  ");
        e
    }

    fn field(m: FieldMapping) -> Value {
        FieldPlan::compile("x", &m).unwrap().value(&entry())
    }

    #[test]
    fn templates_filters_parsers_case_trim_default() {
        let t = |s: &str| Template::parse(s).unwrap().render(&entry());
        assert_eq!(t("{givenName} {sn}"), "John Doe");
        assert_eq!(t("{mail|localpart|lower|first:6}"), "john.d");
        assert_eq!(t("{manager|cn}"), "Big Boss");
        assert_eq!(t("{nothing|default:n/a}"), "n/a");
        assert_eq!(t("{{literal}} {dn|cn}"), "{literal} jdoe");
        assert!(Template::parse("{oops").is_err());
        assert!(Template::parse("{a|nope}").is_err());
        assert_eq!(
            field(FieldMapping { attribute: Some("title".into()), trim: true, ..Default::default() }),
            "Engineer"
        );
        assert_eq!(
            field(FieldMapping {
                attribute: Some("mail".into()),
                parser: Some("extract_username_from_email".into()),
                case: Some("lower".into()),
                trim: true,
                ..Default::default()
            }),
            "john.doe"
        );
        assert_eq!(
            field(FieldMapping {
                attribute: Some("manager".into()),
                parser: Some("extract_cn_from_dn".into()),
                trim: true,
                ..Default::default()
            }),
            "Big Boss"
        );
        assert_eq!(
            field(FieldMapping {
                attributes: vec!["nickname".into(), "givenName".into()],
                trim: true,
                ..Default::default()
            }),
            "John"
        );
        assert_eq!(
            field(FieldMapping {
                attribute: Some("absent".into()),
                default: Some("Employee".into()),
                trim: true,
                ..Default::default()
            }),
            "Employee"
        );
        assert_eq!(
            field(FieldMapping { attribute: Some("absent".into()), trim: true, ..Default::default() }),
            Value::Null
        );
        assert!(FieldPlan::compile("x", &FieldMapping::default()).is_err());
        assert!(FieldPlan::compile(
            "x",
            &FieldMapping { attribute: Some("a".into()), case: Some("title".into()), ..Default::default() }
        )
        .is_err());
    }
}
