//! Slack's SCIM filter language: `attr op value` joined by `and`/`or`, with `( )` grouping.
//!
//! Attribute names and operators are case-insensitive; string comparison is case-insensitive (the
//! documentation implies it). Operands must be separated by single spaces (`incomplete_filter` otherwise).

use crate::errors::Code;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Equal.
    Eq,
    /// Contains.
    Co,
    /// Starts with.
    Sw,
    /// Present (has a value).
    Pr,
    /// Greater than.
    Gt,
    /// Greater or equal.
    Ge,
    /// Less than.
    Lt,
    /// Less or equal.
    Le,
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `attr op value` (value empty for `pr`).
    Cmp {
        /// Lowercased attribute name.
        attr: String,
        /// Operator.
        op: Op,
        /// Lowercased value.
        value: String,
    },
    /// Both.
    And(Box<Filter>, Box<Filter>),
    /// Either.
    Or(Box<Filter>, Box<Filter>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open,
    Close,
    Word(String),
    Str(String),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, Code> {
    let b: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    let mut spaces = 0usize;
    while i < b.len() {
        let c = b[i];
        if c == ' ' {
            spaces += 1;
            if spaces > 1 {
                return Err(Code::IncompleteFilter);
            }
            i += 1;
            continue;
        }
        if c.is_whitespace() {
            return Err(Code::IncompleteFilter);
        }
        spaces = 0;
        match c {
            '(' => {
                out.push(Tok::Open);
                i += 1;
            }
            ')' => {
                out.push(Tok::Close);
                i += 1;
            }
            '"' => {
                // A JSON string literal.
                let start = i;
                i += 1;
                let mut escaped = false;
                while i < b.len() {
                    if escaped {
                        escaped = false;
                    } else if b[i] == '\\' {
                        escaped = true;
                    } else if b[i] == '"' {
                        break;
                    }
                    i += 1;
                }
                if i >= b.len() {
                    return Err(Code::InvalidQuery);
                }
                let lit: String = b[start..=i].iter().collect();
                let v: String = serde_json::from_str(&lit).map_err(|_| Code::InvalidQuery)?;
                out.push(Tok::Str(v));
                i += 1;
            }
            '\'' => {
                let start = i + 1;
                i += 1;
                while i < b.len() && b[i] != '\'' {
                    i += 1;
                }
                if i >= b.len() {
                    return Err(Code::InvalidQuery);
                }
                out.push(Tok::Str(b[start..i].iter().collect()));
                i += 1;
            }
            _ => {
                let start = i;
                while i < b.len() && !b[i].is_whitespace() && b[i] != '(' && b[i] != ')' {
                    i += 1;
                }
                out.push(Tok::Word(b[start..i].iter().collect()));
            }
        }
    }
    Ok(out)
}

fn op_of(w: &str) -> Option<Op> {
    Some(match w.to_ascii_lowercase().as_str() {
        "eq" => Op::Eq,
        "co" => Op::Co,
        "sw" => Op::Sw,
        "pr" => Op::Pr,
        "gt" => Op::Gt,
        "ge" => Op::Ge,
        "lt" => Op::Lt,
        "le" => Op::Le,
        _ => return None,
    })
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn or_expr(&mut self) -> Result<Filter, Code> {
        let mut left = self.and_expr()?;
        while self.is_kw("or") {
            self.pos += 1;
            let right = self.and_expr()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Filter, Code> {
        let mut left = self.atom()?;
        while self.is_kw("and") {
            self.pos += 1;
            let right = self.atom()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn atom(&mut self) -> Result<Filter, Code> {
        match self.next() {
            Some(Tok::Open) => {
                let f = self.or_expr()?;
                match self.next() {
                    Some(Tok::Close) => Ok(f),
                    _ => Err(Code::InvalidFilterGroup),
                }
            }
            Some(Tok::Word(attr)) => {
                let attr = attr.to_ascii_lowercase();
                let op = match self.next() {
                    Some(Tok::Word(w)) => op_of(&w).ok_or(Code::InvalidQuery)?,
                    None => return Err(Code::NoFilters),
                    _ => return Err(Code::InvalidQuery),
                };
                if op == Op::Pr {
                    return Ok(Filter::Cmp { attr, op, value: String::new() });
                }
                let value = match self.next() {
                    Some(Tok::Str(s)) | Some(Tok::Word(s)) => s.to_lowercase(),
                    _ => return Err(Code::IncompleteFilter),
                };
                Ok(Filter::Cmp { attr, op, value })
            }
            Some(Tok::Close) => Err(Code::InvalidFilterGroup),
            _ => Err(Code::NoFilters),
        }
    }
}

/// Parses a filter expression.
pub fn parse(s: &str) -> Result<Filter, Code> {
    let s = s.trim_end();
    if s.trim().is_empty() {
        return Err(Code::NoFilters);
    }
    let toks = tokenize(s)?;
    let opens = toks.iter().filter(|t| **t == Tok::Open).count();
    let closes = toks.iter().filter(|t| **t == Tok::Close).count();
    if opens != closes {
        return Err(Code::InvalidFilterGroup);
    }
    let mut p = Parser { toks, pos: 0 };
    let f = p.or_expr()?;
    if p.pos != p.toks.len() {
        return Err(Code::InvalidQuery);
    }
    Ok(f)
}

impl Filter {
    /// Evaluates the filter; `get` returns the lowercased values of an attribute (several for emails).
    pub fn matches(&self, get: &dyn Fn(&str) -> Result<Vec<String>, Code>) -> Result<bool, Code> {
        Ok(match self {
            Filter::And(a, b) => a.matches(get)? && b.matches(get)?,
            Filter::Or(a, b) => a.matches(get)? || b.matches(get)?,
            Filter::Cmp { attr, op, value } => {
                let vals = get(attr)?;
                match op {
                    Op::Pr => vals.iter().any(|v| !v.is_empty()),
                    Op::Eq => vals.iter().any(|v| v == value),
                    Op::Co => vals.iter().any(|v| v.contains(value.as_str())),
                    Op::Sw => vals.iter().any(|v| v.starts_with(value.as_str())),
                    Op::Gt => vals.iter().any(|v| v.as_str() > value.as_str()),
                    Op::Ge => vals.iter().any(|v| v.as_str() >= value.as_str()),
                    Op::Lt => vals.iter().any(|v| v.as_str() < value.as_str()),
                    Op::Le => vals.iter().any(|v| v.as_str() <= value.as_str()),
                }
            }
        })
    }

    /// `Some((attr, value))` when the filter is a single `eq`, for index lookups.
    pub fn as_eq(&self) -> Option<(&str, &str)> {
        match self {
            Filter::Cmp { attr, op: Op::Eq, value } => Some((attr, value)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(
            parse("userName Eq \"Carly\"").unwrap(),
            Filter::Cmp { attr: "username".into(), op: Op::Eq, value: "carly".into() }
        );
        assert!(matches!(parse("restricted eq '1'").unwrap(), Filter::Cmp { ref value, .. } if value == "1"));
        assert!(matches!(parse("restricted eq 1").unwrap(), Filter::Cmp { ref value, .. } if value == "1"));
        assert!(matches!(parse("email pr").unwrap(), Filter::Cmp { op: Op::Pr, .. }));
        assert!(matches!(
            parse("(userName sw \"a\" or userName sw \"b\") and email co \"x\"").unwrap(),
            Filter::And(..)
        ));
    }

    #[test]
    fn documented_errors() {
        assert_eq!(parse(""), Err(Code::NoFilters));
        assert_eq!(parse("userName"), Err(Code::NoFilters));
        assert_eq!(parse("foo"), Err(Code::NoFilters));
        assert_eq!(parse("userName  eq \"a\""), Err(Code::IncompleteFilter));
        assert_eq!(parse("userName eq"), Err(Code::IncompleteFilter));
        assert_eq!(parse("(userName eq \"a\""), Err(Code::InvalidFilterGroup));
        assert_eq!(parse("userName xx \"a\""), Err(Code::InvalidQuery));
        assert_eq!(parse("userName eq \"a\" extra"), Err(Code::InvalidQuery));
    }
}
