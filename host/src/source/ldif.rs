//! LDIF files (RFC 2849), the format directories export: a full snapshot each cycle.
//! Supports folded lines, `::` base64 values, comments, `dn:` records and `-`/changetype-free content.

use super::{GroupRead, Kind, ReadOutcome, ReadRequest, Sink, Source, SourceError};
use crate::entry::{under, Entry};
use base64::Engine as _;
use std::borrow::Cow;
use std::collections::HashSet;
use std::path::PathBuf;

/// An LDIF file source.
pub struct LdifSource {
    path: PathBuf,
}

impl LdifSource {
    /// A source for `path`.
    pub fn new(path: PathBuf) -> Self {
        LdifSource { path }
    }
}

/// Parses LDIF text into entries, calling `f` for each; errors name the line.
pub fn parse(text: &str, path: &str, f: impl FnMut(Entry) -> Result<(), SourceError>) -> Result<u64, SourceError> {
    parse_some(text, path, |_, _| true, f)
}

/// [`parse`], building only the entries `want` accepts, asked with the entry's position in the file
/// (from 0) and its DN: the others are passed over to their blank line without being parsed (nor
/// checked: a caller that skips an entry here parses it in another pass). Returns the entries seen.
fn parse_some(
    text: &str,
    path: &str,
    mut want: impl FnMut(u64, &str) -> bool,
    mut f: impl FnMut(Entry) -> Result<(), SourceError>,
) -> Result<u64, SourceError> {
    let mut current: Option<Entry> = None;
    // The logical line being read: borrowed from the text unless continuation lines were joined to it.
    let mut logical: Option<(usize, Cow<'_, str>)> = None;
    let mut count = 0u64;
    let mut started = 0u64;
    let mut skipping = false;
    let syntax = |line: usize, message: String| SourceError::Syntax { path: path.to_owned(), line, message };
    // Whether the line started an entry.
    let flush_line = |current: &mut Option<Entry>, (line, l): (usize, Cow<'_, str>)| -> Result<bool, SourceError> {
        if l.starts_with('#') {
            return Ok(false);
        }
        let Some(colon) = l.find(':') else {
            return Err(syntax(
                line,
                format!("expected `attribute: value`, found `{}`", l.chars().take(40).collect::<String>()),
            ));
        };
        let name = l[..colon].trim();
        let rest = &l[colon + 1..];
        let value = if let Some(b64) = rest.strip_prefix(':') {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| syntax(line, format!("bad base64 value for `{name}`: {e}")))?;
            match String::from_utf8(bytes) {
                Ok(s) => s,
                // Binary values (e.g. objectGUID) are kept as lowercase hex.
                Err(e) => e.into_bytes().iter().map(|b| format!("{b:02x}")).collect(),
            }
        } else if rest.starts_with('<') {
            return Err(syntax(line, format!("URL values (`{name}:<`) are not supported")));
        } else {
            rest.trim_start().to_owned()
        };
        if name.eq_ignore_ascii_case("dn") {
            if current.is_some() {
                return Err(syntax(line, "a new `dn:` without a blank line between entries".into()));
            }
            *current = Some(Entry::new(value));
            return Ok(true);
        }
        if name.eq_ignore_ascii_case("version") && current.is_none() {
            return Ok(false);
        }
        if name.eq_ignore_ascii_case("changetype") {
            return Err(syntax(line, "change records are not supported: export content records".into()));
        }
        match current.as_mut() {
            Some(e) => e.push(name, value),
            None => return Err(syntax(line, format!("`{name}` before any `dn:`"))),
        }
        Ok(false)
    };
    // Flushes a logical line; an entry it starts that `want` refuses is dropped and passed over.
    let mut flush =
        |current: &mut Option<Entry>, l: (usize, Cow<'_, str>), skipping: &mut bool| -> Result<(), SourceError> {
            if flush_line(current, l)? {
                let at = started;
                started += 1;
                if current.as_ref().is_some_and(|e| !want(at, &e.dn)) {
                    *current = None;
                    *skipping = true;
                }
            }
            Ok(())
        };
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if !skipping {
            if let Some(cont) = raw.strip_prefix(' ') {
                match logical.as_mut() {
                    Some((_, l)) => {
                        l.to_mut().push_str(cont);
                        continue;
                    }
                    None => return Err(syntax(line_no, "continuation line without a line to continue".into())),
                }
            }
            if let Some(l) = logical.take() {
                flush(&mut current, l, &mut skipping)?;
            }
        }
        if skipping {
            // Everything up to the blank line ending the entry passed over (a continuation line, even
            // one of spaces, is part of it).
            if !raw.starts_with(' ') && raw.trim().is_empty() {
                skipping = false;
                count += 1;
            }
            continue;
        }
        if raw.trim().is_empty() {
            if let Some(e) = current.take() {
                count += 1;
                f(e)?;
            }
            continue;
        }
        logical = Some((line_no, Cow::Borrowed(raw)));
    }
    if let Some(l) = logical.take() {
        flush(&mut current, l, &mut skipping)?;
    }
    if skipping {
        count += 1;
    }
    if let Some(e) = current.take() {
        count += 1;
        f(e)?;
    }
    Ok(count)
}

impl Source for LdifSource {
    fn read(&mut self, request: &ReadRequest, sink: &mut dyn Sink) -> Result<ReadOutcome, SourceError> {
        let path = self.path.display().to_string();
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| SourceError::Io { path: path.clone(), message: e.to_string() })?;
        deliver(&text, &path, request, sink)
    }
}

/// Below this size a file's two passes run one after the other on the reader's thread.
const PARALLEL_BYTES: usize = 1 << 20;

/// Delivers a file's groups and users. A large file read for groups, when nothing needs the groups
/// before the users (a group DN location does), is read in two passes at once on two threads
/// ([`deliver_at_once`]); otherwise the two passes run one after the other ([`deliver_in_turn`]).
fn deliver(text: &str, path: &str, request: &ReadRequest, sink: &mut dyn Sink) -> Result<ReadOutcome, SourceError> {
    match group_entries(request) {
        Some(g) if request.location.group_dn.is_none() && text.len() >= PARALLEL_BYTES => {
            deliver_at_once(text, path, request, g, sink)
        }
        _ => deliver_in_turn(text, path, request, sink),
    }
}

/// The group entries to read (memberOf-derived groups have none).
fn group_entries(request: &ReadRequest) -> Option<&GroupRead> {
    request.groups.as_ref().filter(|g| g.member_of_attribute.is_none())
}

/// Sends groups first, then users, from the file's text in two passes: the first builds only the
/// entries under the groups' base DN, the second every entry the first did not take as a group (each
/// entry is parsed, and checked, once).
fn deliver_in_turn(
    text: &str,
    path: &str,
    request: &ReadRequest,
    sink: &mut dyn Sink,
) -> Result<ReadOutcome, SourceError> {
    let groups = group_entries(request);
    let mut taken: HashSet<u64> = HashSet::new();
    let mut read = 0;
    if let Some(g) = groups {
        let (n, entries, t) = group_pass(text, path, g)?;
        for e in entries {
            sink.entry(Kind::Group, e)?;
        }
        (read, taken) = (n, t);
    }
    read += parse_some(
        text,
        path,
        |i, _| !taken.contains(&i),
        |e| {
            if groups.is_some_and(|g| g.matcher.matches(&e)) {
                return Ok(());
            }
            sink.entry(Kind::User, e)
        },
    )?;
    Ok(ReadOutcome { entries_read: read, ..Default::default() })
}

/// The first pass: the group entries (built only under the groups' base DN), with the positions it
/// took and the entries it saw.
fn group_pass(text: &str, path: &str, g: &GroupRead) -> Result<(u64, Vec<Entry>, HashSet<u64>), SourceError> {
    // The position of the entry being built (entries end before the next one starts).
    let at = std::cell::Cell::new(0u64);
    let (mut entries, mut taken) = (Vec::new(), HashSet::new());
    let read = parse_some(
        text,
        path,
        |i, dn| {
            at.set(i);
            under(dn, &g.base_dn)
        },
        |e| {
            if g.matcher.matches(&e) {
                taken.insert(at.get());
                entries.push(e);
            }
            Ok(())
        },
    )?;
    Ok((read, entries, taken))
}

/// The two passes at once: the groups on a thread of their own while this one sends the users the
/// groups' base DN does not hold; then the groups; then the entries under that base that are not
/// groups (built only now: whether they are is the first pass's answer). The same entries as
/// [`deliver_in_turn`], each checked by both passes (the first pass's error first), in another order.
fn deliver_at_once(
    text: &str,
    path: &str,
    request: &ReadRequest,
    g: &GroupRead,
    sink: &mut dyn Sink,
) -> Result<ReadOutcome, SourceError> {
    std::thread::scope(|s| {
        let groups = match std::thread::Builder::new().spawn_scoped(s, || group_pass(text, path, g)) {
            Ok(h) => h,
            // No second thread: one pass after the other.
            Err(_) => return deliver_in_turn(text, path, request, sink),
        };
        let mut under_base: Vec<u64> = Vec::new();
        let users = parse_some(
            text,
            path,
            |i, dn| {
                let wait = under(dn, &g.base_dn);
                if wait {
                    under_base.push(i);
                }
                !wait
            },
            |e| if g.matcher.matches(&e) { Ok(()) } else { sink.entry(Kind::User, e) },
        );
        // A panic in the first pass is the read's panic.
        let (read, entries, taken) = groups.join().unwrap_or_else(|p| std::panic::resume_unwind(p))?;
        let seen = users?;
        for e in entries {
            sink.entry(Kind::Group, e)?;
        }
        let rest: HashSet<u64> = under_base.into_iter().filter(|i| !taken.contains(i)).collect();
        if !rest.is_empty() {
            parse_some(
                text,
                path,
                |i, _| rest.contains(&i),
                |e| if g.matcher.matches(&e) { Ok(()) } else { sink.entry(Kind::User, e) },
            )?;
        }
        // Each entry seen by each of the two passes, as when they run in turn.
        Ok(ReadOutcome { entries_read: read + seen, ..Default::default() })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Location;
    use crate::source::GroupRead;

    struct Got(Vec<(Kind, String)>);

    impl Sink for Got {
        fn entry(&mut self, kind: Kind, e: Entry) -> Result<(), SourceError> {
            self.0.push((kind, e.dn));
            Ok(())
        }
    }

    fn request(groups: bool) -> ReadRequest {
        ReadRequest {
            location: Location { base_dn: String::new(), filter: None, group_dn: None, nested: false },
            id_attribute: "uid".into(),
            groups: groups.then(|| GroupRead {
                base_dn: "ou=Groups,dc=x".into(),
                filter: "(objectClass=groupOfNames)".into(),
                matcher: crate::ldapfilter::parse("(objectClass=groupOfNames)").unwrap(),
                member_attribute: "member".into(),
                member_of_attribute: None,
                name_attributes: vec![],
            }),
            attributes: vec![],
            since: None,
        }
    }

    const TEXT: &str = "version: 1\n\n\
        dn: uid=a,ou=People,dc=x\nobjectClass: person\nuid: a\n\n\
        # a comment between entries\n\
        dn: cn=team,ou=Groups,dc=x\nobjectClass: groupOfNames\nmember: uid=a,ou=People,dc=x\n\n\
        dn:: Y249bm90LWEtZ3JvdXAsb3U9R3JvdXBzLGRjPXg=\nobjectClass: person\nuid: ng\n\n\
        dn: cn=stray,ou=Elsewhere,dc=x\nobjectClass: groupOfNames\n\n\
        dn: cn=folded,ou=Gro\n ups,dc=x\nobjectClass: groupOfNames\nmember: uid=a,ou=Peo\n ple,dc=x\n\n\
        dn: uid=b,ou=People,dc=x\nuid: b\ndescription: folded with a line of spaces\n \n  end";

    #[test]
    fn groups_first_then_every_other_entry_each_built_once() {
        let mut got = Got(vec![]);
        let out = deliver(TEXT, "t.ldif", &request(true), &mut got).unwrap();
        let got: Vec<(Kind, &str)> = got.0.iter().map(|(k, d)| (*k, d.as_str())).collect();
        assert_eq!(
            got,
            [
                (Kind::Group, "cn=team,ou=Groups,dc=x"),
                (Kind::Group, "cn=folded,ou=Groups,dc=x"),
                (Kind::User, "uid=a,ou=People,dc=x"),
                // Under the groups' base DN but not a group (base64 DN): a user candidate.
                (Kind::User, "cn=not-a-group,ou=Groups,dc=x"),
                (Kind::User, "uid=b,ou=People,dc=x"),
            ]
        );
        // Six entries, seen by each pass.
        assert_eq!(out.entries_read, 12);
        let mut got = Got(vec![]);
        deliver(TEXT, "t.ldif", &request(false), &mut got).unwrap();
        assert_eq!(got.0.len(), 6, "without groups every entry is a user candidate");
    }

    /// The two passes at once deliver the same entries as in turn: the users outside the groups' base
    /// DN, then the groups, then the entries under that base that are not groups.
    #[test]
    fn at_once_the_same_entries_are_delivered_each_built_once() {
        let mut got = Got(vec![]);
        let request = request(true);
        let g = group_entries(&request).unwrap();
        let out = deliver_at_once(TEXT, "t.ldif", &request, g, &mut got).unwrap();
        let got: Vec<(Kind, &str)> = got.0.iter().map(|(k, d)| (*k, d.as_str())).collect();
        assert_eq!(
            got,
            [
                (Kind::User, "uid=a,ou=People,dc=x"),
                (Kind::User, "uid=b,ou=People,dc=x"),
                (Kind::Group, "cn=team,ou=Groups,dc=x"),
                (Kind::Group, "cn=folded,ou=Groups,dc=x"),
                (Kind::User, "cn=not-a-group,ou=Groups,dc=x"),
            ]
        );
        assert_eq!(out.entries_read, 12);
    }

    /// A large file read for groups takes the two passes at once, unless a group DN location needs the
    /// groups before the users.
    #[test]
    fn a_large_file_is_read_at_once_unless_the_location_needs_the_groups_first() {
        let padding = format!("# {}\n", "x".repeat(PARALLEL_BYTES));
        let text = TEXT.replacen("version: 1\n\n", &format!("version: 1\n\n{padding}"), 1);
        let mut got = Got(vec![]);
        deliver(&text, "t.ldif", &request(true), &mut got).unwrap();
        assert_eq!(got.0[0], (Kind::User, "uid=a,ou=People,dc=x".to_owned()), "users first: at once");
        let mut located = request(true);
        located.location.group_dn = Some("cn=team,ou=Groups,dc=x".into());
        let mut got = Got(vec![]);
        deliver(&text, "t.ldif", &located, &mut got).unwrap();
        assert_eq!(got.0[0], (Kind::Group, "cn=team,ou=Groups,dc=x".to_owned()), "groups first: in turn");
    }

    #[test]
    fn errors_in_entries_either_pass_passes_over_are_still_found() {
        for (bad, line) in [
            // In a group (built by the first pass, passed over by the second).
            (TEXT.replace("member: uid=a,ou=People,dc=x\n", "member uid=a\n"), 10),
            // In a user (passed over by the first pass).
            (TEXT.replace("uid: ng\n", "uid:: %%%\n"), 14),
            // In a user outside the groups' base DN (only the users' pass builds it).
            (TEXT.replace("uid: b\n", "uid:: %%%\n"), 26),
        ] {
            let e = deliver(&bad, "t.ldif", &request(true), &mut Got(vec![])).unwrap_err();
            assert!(matches!(e, SourceError::Syntax { line: l, .. } if l == line), "{e:?}");
            // The same when the passes run at once.
            let request = request(true);
            let g = group_entries(&request).unwrap();
            let e = deliver_at_once(&bad, "t.ldif", &request, g, &mut Got(vec![])).unwrap_err();
            assert!(matches!(e, SourceError::Syntax { line: l, .. } if l == line), "at once: {e:?}");
        }
    }
}
