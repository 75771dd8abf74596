//! The SCIM endpoints as pure functions over the [`Store`](crate::store::Store); `server` frames them
//! in HTTP.

pub mod discovery;
pub mod filter;
pub mod groups;
pub mod users;

use crate::errors::{Code, SimError};
use serde_json::Value;

/// A successful answer (status and optional body) or a Slack error.
pub type Reply = Result<(u16, Option<Value>), SimError>;

/// List parameters.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// 1-based start.
    pub start_index: usize,
    /// Page size (default 10, clamped to 1,000).
    pub count: usize,
    /// Filter expression, when given (even empty).
    pub filter: Option<String>,
    /// `sortOrder`, when given.
    pub sort_order: Option<String>,
}

impl ListQuery {
    /// Parses `startIndex`, `count`, `filter` and `sortOrder` (names case-insensitive).
    pub fn parse(query: Option<&str>) -> Result<Self, SimError> {
        let mut q = ListQuery { start_index: 1, count: 10, filter: None, sort_order: None };
        for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match k.to_ascii_lowercase().as_str() {
                "startindex" => q.start_index = v.trim().parse::<i64>().unwrap_or(1).max(1) as usize,
                "count" => {
                    let n = v.trim().parse::<i64>().unwrap_or(10);
                    q.count = if n < 0 { 10 } else { n.min(1000) as usize };
                }
                "filter" => q.filter = Some(v.into_owned()),
                "sortorder" => q.sort_order = Some(v.into_owned()),
                _ => {}
            }
        }
        Ok(q)
    }

    /// Validates `sortOrder`.
    pub fn check_sort(&self) -> Result<bool, SimError> {
        match self.sort_order.as_deref() {
            None | Some("ascending") => Ok(false),
            Some("descending") => Ok(true),
            Some(_) => Err(Code::InvalidSortOrder.into()),
        }
    }
}

/// Checks that a write body lists `schemas` (Slack answers `missing_schema_element` otherwise).
pub fn require_schemas(body: &Value) -> Result<(), SimError> {
    match body.get("schemas") {
        Some(Value::Array(a)) if !a.is_empty() => Ok(()),
        _ => Err(Code::MissingSchemaElement.into()),
    }
}

/// The list envelope for `version` (the resources moved in, not copied).
pub fn list_envelope(version: crate::model::Version, total: usize, start: usize, resources: Vec<Value>) -> Value {
    let n = resources.len();
    let schema = match version {
        crate::model::Version::V1 => crate::model::CORE_V1,
        crate::model::Version::V2 => crate::model::LIST_V2,
    };
    let mut envelope = serde_json::Map::new();
    envelope.insert("totalResults".into(), total.into());
    envelope.insert("itemsPerPage".into(), n.into());
    envelope.insert("startIndex".into(), start.into());
    envelope.insert("schemas".into(), Value::Array(vec![schema.into()]));
    envelope.insert("Resources".into(), Value::Array(resources));
    Value::Object(envelope)
}
