//! A directory entry (a DN and multi-valued attributes) and DN comparisons: what sources produce and
//! filters, mapping and the engine read.

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
}

/// Normalises a DN for comparisons: lowercase, no spaces around separators.
pub fn norm_dn(dn: &str) -> String {
    // One allocation: this runs for every member of every group of a cycle.
    let mut out = String::with_capacity(dn.len());
    for (i, rdn) in dn.split(',').enumerate() {
        if i > 0 {
            out.push(',');
        }
        let (a, v) = rdn.split_once('=').unwrap_or((rdn, ""));
        let start = out.len();
        out.push_str(a.trim());
        out.push('=');
        let v = v.trim();
        if v.is_ascii() {
            out.push_str(v);
            out[start..].make_ascii_lowercase();
        } else {
            out[start..].make_ascii_lowercase();
            out.push_str(&v.to_lowercase());
        }
    }
    out
}

/// Whether `dn` is `base` or under it.
pub fn under(dn: &str, base: &str) -> bool {
    if base.trim().is_empty() {
        return true;
    }
    under_normalised(&norm_dn(dn), &norm_dn(base))
}

/// [`under`] for DNs already normalised ([`norm_dn`]).
pub fn under_normalised(dn: &str, base: &str) -> bool {
    if base.is_empty() {
        return true;
    }
    // `dn` is `base`, or ends with `,` and `base`.
    dn.strip_suffix(base).is_some_and(|rest| rest.is_empty() || rest.ends_with(','))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The normalisation the first release used (an allocation per RDN), kept as the reference.
    fn reference(dn: &str) -> String {
        dn.split(',')
            .map(|rdn| {
                let (a, v) = rdn.split_once('=').unwrap_or((rdn, ""));
                format!("{}={}", a.trim().to_ascii_lowercase(), v.trim().to_lowercase())
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    #[test]
    fn norm_dn_matches_the_reference_normalisation() {
        for dn in [
            "uid=Ann,ou=People,dc=Example,dc=com",
            " UID = Ann , OU=People ,DC=example,DC=COM",
            "cn=Zoë Ångström,ou=Ünits,dc=example,dc=com",
            "CN=ΣΊΣΥΦΟΣ,OU=Groups",
            "noequals,ou=x",
            "",
            "cn=a=b,dc=c",
        ] {
            assert_eq!(norm_dn(dn), reference(dn), "{dn}");
        }
    }

    #[test]
    fn under_is_the_base_or_a_dn_that_ends_with_a_comma_and_the_base() {
        let base = "OU=People, dc=Example,dc=com";
        for (dn, expected) in [
            ("uid=ann,ou=people,dc=example,dc=com", true),
            (" UID = Ann , OU=People ,DC=example,DC=COM", true),
            ("ou=people,dc=example,dc=com", true),
            ("ou=People,dc=example,dc=com,dc=extra", false),
            ("uid=ann,ou=otherpeople,dc=example,dc=com", false),
            ("uid=ann,xou=people,dc=example,dc=com", false),
            ("dc=example,dc=com", false),
            ("", false),
        ] {
            assert_eq!(under(dn, base), expected, "{dn}");
            // The first release's definition.
            let (d, b) = (reference(dn), reference(base));
            assert_eq!(d == b || d.ends_with(&format!(",{b}")), expected, "{dn}");
        }
        assert!(under("uid=ann", "  "), "a blank base holds everything");
        assert!(under_normalised("uid=ann", ""));
    }
}
