//! LDIF files (RFC 2849), the format directories export: a full snapshot each cycle.
//! Supports folded lines, `::` base64 values, comments, `dn:` records and `-`/changetype-free content.

use super::{Kind, ReadOutcome, ReadRequest, Sink, Source, SourceError};
use crate::entry::{under, Entry};
use base64::Engine as _;
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
pub fn parse(text: &str, path: &str, mut f: impl FnMut(Entry) -> Result<(), SourceError>) -> Result<u64, SourceError> {
    let mut current: Option<Entry> = None;
    let mut logical: Option<(usize, String)> = None;
    let mut count = 0u64;
    let syntax = |line: usize, message: String| SourceError::Syntax { path: path.to_owned(), line, message };
    let flush_line = |current: &mut Option<Entry>, (line, l): (usize, String)| -> Result<(), SourceError> {
        if l.starts_with('#') {
            return Ok(());
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
            return Ok(());
        }
        if name.eq_ignore_ascii_case("version") && current.is_none() {
            return Ok(());
        }
        if name.eq_ignore_ascii_case("changetype") {
            return Err(syntax(line, "change records are not supported: export content records".into()));
        }
        match current.as_mut() {
            Some(e) => e.push(name, value),
            None => return Err(syntax(line, format!("`{name}` before any `dn:`"))),
        }
        Ok(())
    };
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(cont) = raw.strip_prefix(' ') {
            match logical.as_mut() {
                Some((_, l)) => {
                    l.push_str(cont);
                    continue;
                }
                None => return Err(syntax(line_no, "continuation line without a line to continue".into())),
            }
        }
        if let Some(l) = logical.take() {
            flush_line(&mut current, l)?;
        }
        if raw.trim().is_empty() {
            if let Some(e) = current.take() {
                count += 1;
                f(e)?;
            }
            continue;
        }
        logical = Some((line_no, raw.to_owned()));
    }
    if let Some(l) = logical.take() {
        flush_line(&mut current, l)?;
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
        deliver(&text, &path, request, sink, |t, p, f| parse(t, p, f))
    }
}

/// Sends groups first, then users, from a parsed file (two passes over the text).
pub(crate) fn deliver<P>(
    text: &str,
    path: &str,
    request: &ReadRequest,
    sink: &mut dyn Sink,
    parse: P,
) -> Result<ReadOutcome, SourceError>
where
    P: Fn(&str, &str, &mut dyn FnMut(Entry) -> Result<(), SourceError>) -> Result<u64, SourceError>,
{
    // memberOf-derived groups have no group entries to read.
    let groups = request.groups.as_ref().filter(|g| g.member_of_attribute.is_none());
    let mut read = 0;
    if let Some(g) = groups {
        read += parse(text, path, &mut |e| {
            if under(&e.dn, &g.base_dn) && g.matcher.matches(&e) {
                sink.entry(Kind::Group, e)?;
            }
            Ok(())
        })?;
    }
    read += parse(text, path, &mut |e| {
        if groups.is_some_and(|g| g.matcher.matches(&e)) {
            return Ok(());
        }
        sink.entry(Kind::User, e)
    })?;
    Ok(ReadOutcome { entries_read: read, ..Default::default() })
}
