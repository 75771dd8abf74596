//! CSV files with a header row: one user per row, a full snapshot each cycle. Columns become
//! attributes; a `dn` column, when present, gives the entry's DN (otherwise `id=<row id>`). Values of
//! `objectClass`, `memberOf` and `member` columns may list several values separated by `;`.

use super::{Kind, ReadOutcome, ReadRequest, Sink, Source, SourceError};
use crate::entry::Entry;
use std::path::PathBuf;

/// A CSV file source.
pub struct CsvSource {
    path: PathBuf,
}

impl CsvSource {
    /// A source for `path`.
    pub fn new(path: PathBuf) -> Self {
        CsvSource { path }
    }
}

const MULTI: &[&str] = &["objectclass", "memberof", "member", "uniquemember"];

impl Source for CsvSource {
    fn read(&mut self, request: &ReadRequest, sink: &mut dyn Sink) -> Result<ReadOutcome, SourceError> {
        let path = self.path.display().to_string();
        let mut rdr = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_path(&self.path)
            .map_err(|e| SourceError::Io { path: path.clone(), message: e.to_string() })?;
        let headers = rdr
            .headers()
            .map_err(|e| SourceError::Syntax { path: path.clone(), line: 1, message: e.to_string() })?
            .clone();
        if headers.iter().any(str::is_empty) {
            return Err(SourceError::Syntax { path, line: 1, message: "a header cell is empty".into() });
        }
        let id_col = &request.id_attribute;
        let mut read = 0u64;
        for (i, rec) in rdr.records().enumerate() {
            let line = i + 2;
            let rec = rec.map_err(|e| SourceError::Syntax { path: path.clone(), line, message: e.to_string() })?;
            if rec.len() != headers.len() {
                return Err(SourceError::Syntax {
                    path: path.clone(),
                    line,
                    message: format!("{} cells for {} columns", rec.len(), headers.len()),
                });
            }
            let dn =
                headers.iter().position(|h| h.eq_ignore_ascii_case("dn")).map(|p| rec[p].to_owned()).unwrap_or_else(
                    || {
                        let id = headers
                            .iter()
                            .position(|h| h.eq_ignore_ascii_case(id_col))
                            .map(|p| rec[p].to_owned())
                            .unwrap_or_else(|| line.to_string());
                        format!("id={id}")
                    },
                );
            let mut e = Entry::new(dn);
            for (h, v) in headers.iter().zip(rec.iter()) {
                if v.is_empty() || h.eq_ignore_ascii_case("dn") {
                    continue;
                }
                if MULTI.contains(&h.to_ascii_lowercase().as_str()) {
                    for part in v.split(';').map(str::trim).filter(|p| !p.is_empty()) {
                        e.push(h, part);
                    }
                } else {
                    e.push(h, v);
                }
            }
            read += 1;
            sink.entry(Kind::User, e)?;
        }
        Ok(ReadOutcome { entries_read: read, ..Default::default() })
    }
}
