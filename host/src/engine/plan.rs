//! The plan view: what `provisioner plan` shows of a cycle's decisions (masked values hidden), and the
//! user rows as they would be if the planned user records succeeded (so the groups phase of a plan
//! sees the users a real cycle would have created).

use super::diff::{Intent, Planned};
use super::ChannelRuntime;
use crate::state::{Row, Status};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// One planned event, shown by `plan` (masked values hidden).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlannedView {
    /// The audit event type (`CREATE`, `GROUP_UPDATE`, ...).
    pub event_type: String,
    /// `user` or `group`.
    pub object_class: String,
    /// The source id.
    pub source_id: String,
    /// The target id, when the object exists in the target.
    pub target_id: Option<String>,
    /// `attribute → new value` for what changes (all attributes on create); masked values show as `(masked)`.
    pub changes: BTreeMap<String, Value>,
}

/// A record `plan` shows as refused before sending, and why (the error's code and text: no values).
#[derive(Debug, Clone, serde::Serialize)]
pub struct RefusedView {
    /// The audit event type it would have had.
    pub event_type: String,
    /// `user` or `group`.
    pub object_class: String,
    /// The source id.
    pub source_id: String,
    /// Why: `code: message`.
    pub reason: String,
}

/// The view of a refused record.
pub(crate) fn refused(p: &Planned, why: &connector_abi::payload::ErrorInfo) -> RefusedView {
    RefusedView {
        event_type: p.intent.as_str().into(),
        object_class: p.record.object_class.as_str().into(),
        source_id: p.record.source_id.clone(),
        reason: match &why.code {
            Some(code) => format!("{code}: {}", why.message),
            None => why.message.clone(),
        },
    }
}

/// The view of one planned record.
pub(crate) fn view(rt: &ChannelRuntime, p: &Planned) -> PlannedView {
    let keys: Vec<&String> = match &p.record.changed {
        Some(c) => c.iter().collect(),
        None => p.record.attributes.keys().collect(),
    };
    let changes = keys
        .into_iter()
        .map(|k| {
            let v = if rt.ch.mapping.masked(k) {
                Value::String("(masked)".into())
            } else if k == "active" {
                Value::Bool(true)
            } else if k == "members" {
                serde_json::json!(p.members.len())
            } else {
                p.record.attributes.get(k).cloned().unwrap_or(Value::Null)
            };
            (k.clone(), v)
        })
        .collect();
    PlannedView {
        event_type: p.intent.as_str().into(),
        object_class: p.record.object_class.as_str().into(),
        source_id: p.record.source_id.clone(),
        target_id: p.record.target_id.clone(),
        changes,
    }
}

/// The rows of the users `planned` touches as the planned records would leave them: laid over the
/// stored rows ([`super::groups::UserRows::with_settled`]) instead of copying every row.
pub(crate) fn predicted_overlay(rows: &HashMap<String, Row>, planned: &[Planned]) -> HashMap<String, Row> {
    let mut overlay: HashMap<String, Row> = planned
        .iter()
        .filter_map(|p| rows.get(&p.record.source_id).map(|r| (r.source_id.clone(), r.clone())))
        .collect();
    predicted(&mut overlay, planned);
    overlay
}

/// The user rows as they would be after the planned user records succeed.
pub(crate) fn predicted(rows: &mut HashMap<String, Row>, planned: &[Planned]) {
    for p in planned {
        let status = match p.intent {
            Intent::Create | Intent::Update | Intent::Reactivate => Status::Active,
            Intent::Disable => Status::Disabled,
            Intent::Delete => Status::Removed,
            Intent::GroupCreate | Intent::GroupUpdate | Intent::GroupDelete => continue,
        };
        let row =
            rows.entry(p.record.source_id.clone()).or_insert_with(|| Row::new(p.record.source_id.clone(), status));
        row.status = status;
        if row.target_id.is_none() && status == Status::Active {
            row.target_id = Some("(new)".into());
        }
    }
}
