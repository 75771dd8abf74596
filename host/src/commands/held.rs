//! `provisioner held [CHANNEL] [--json]`, `approve CHANNEL`, `reject CHANNEL`: the deprovisioning
//! actions the guard held, and the administrator's decision about them.
//!
//! Names (userName, group displayName) are not kept in the state (it holds no attribute values): `held`
//! reads them from the target through the connector's `search`, as the target has them now.

use super::{open_state, CommandError, Context};
use crate::compile::Compiled;
use crate::connections;
use crate::state::{HeldAction, HoldDecision, State};
use anyhow::Context as _;
use connector_abi::payload::{ObjectClass, SearchRequest};
use connector_abi::Instance;
use std::collections::HashMap;
use std::fmt::Write as _;

/// One held action as `held` shows it.
#[derive(Debug, serde::Serialize)]
pub struct HeldView {
    /// The channel.
    pub channel: String,
    /// The action and its why.
    #[serde(flatten)]
    pub action: HeldAction,
    /// `held` (waiting for a decision) or `approved` (the next cycle sends it).
    pub decision: HoldDecision,
    /// The account's name in the target (userName, or the group's displayName), when it could be read.
    pub name: Option<String>,
}

/// The most pages `held` reads from the target to name the accounts.
const NAME_PAGES: usize = 200;

/// Target id → name, read through `search` (best effort: a failure leaves names empty).
fn names(instance: &Instance, class: ObjectClass) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut cookie = None;
    for _ in 0..NAME_PAGES {
        let request = SearchRequest { v: 1, object_class: class, filter: None, page_size: 1000, cookie };
        let Ok(page) = instance.search(&request) else { break };
        for o in page.objects {
            let key = if class == ObjectClass::User { "userName" } else { "displayName" };
            if let Some(n) = o.attributes.get(key).and_then(|v| v.as_str()) {
                out.insert(o.target_id, n.to_owned());
            }
        }
        cookie = page.next_cookie;
        if cookie.is_none() {
            break;
        }
    }
    out
}

fn channel_names(compiled: &Compiled, channel: Option<&str>) -> Result<Vec<String>, CommandError> {
    let all: Vec<String> = compiled.channels.iter().map(|c| c.cfg.name.clone()).collect();
    match channel {
        None => Ok(all),
        Some(c) if all.iter().any(|a| a == c) => Ok(vec![c.to_owned()]),
        Some(c) => Err(CommandError::Usage(anyhow::anyhow!("no channel `{c}` in the configuration"))),
    }
}

/// The held and approved actions of `channels`, named through each connection's connector when
/// `resolve` is set.
pub fn collect(
    compiled: &Compiled,
    state: &State,
    channels: &[String],
    resolve: bool,
) -> Result<Vec<HeldView>, CommandError> {
    let mut out = Vec::new();
    for ch in compiled.channels.iter().filter(|c| channels.contains(&c.cfg.name)) {
        let actions = state.holds(&ch.cfg.name, None).context("reading the state")?;
        let pending: Vec<(HeldAction, HoldDecision)> =
            actions.into_iter().filter(|(_, d)| *d != HoldDecision::Rejected).collect();
        if pending.is_empty() {
            continue;
        }
        let mut users = HashMap::new();
        let mut groups = HashMap::new();
        if resolve {
            let index = compiled.loaded.config.connections.iter().position(|c| c.name == ch.connection);
            if let Some(open) = index.and_then(|i| connections::open(&compiled.loaded, i).ok()) {
                if pending.iter().any(|(a, _)| a.object_class == "user" || a.action == "MEMBER_REMOVE") {
                    users = names(&open.instance, ObjectClass::User);
                }
                if pending.iter().any(|(a, _)| a.object_class == "group") {
                    groups = names(&open.instance, ObjectClass::Group);
                }
            }
        }
        for (a, d) in pending {
            let name = match a.object_class.as_str() {
                "user" => a.target_id.as_ref().and_then(|t| users.get(t)).cloned(),
                _ => a.target_id.as_ref().and_then(|t| groups.get(t)).cloned(),
            };
            out.push(HeldView { channel: ch.cfg.name.clone(), action: a, decision: d, name });
        }
    }
    Ok(out)
}

/// `provisioner held [CHANNEL] [--json] [--no-names]`.
pub fn run(ctx: &Context, channel: Option<String>, json: bool, no_names: bool) -> Result<(), CommandError> {
    let compiled = ctx.load()?;
    let (state, _) = open_state(&compiled.loaded)?;
    let channels = channel_names(&compiled, channel.as_deref())?;
    let views = collect(&compiled, &state, &channels, !no_names)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&views).context("encoding")?);
        return Ok(());
    }
    if views.is_empty() {
        println!("nothing held");
        return Ok(());
    }
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<16} {:<14} {:<9} {:<24} {:<14} {:<24} why",
        "channel", "action", "decision", "source id", "target id", "name"
    );
    for v in &views {
        let a = &v.action;
        let source =
            if a.member_id.is_empty() { a.source_id.clone() } else { format!("{} ∋ {}", a.source_id, a.member_id) };
        let _ = writeln!(
            s,
            "{:<16} {:<14} {:<9} {:<24} {:<14} {:<24} {}",
            v.channel,
            a.action,
            if v.decision == HoldDecision::Approved { "approved" } else { "held" },
            source,
            a.target_id.as_deref().unwrap_or("-"),
            v.name.as_deref().unwrap_or("-"),
            a.reason
        );
    }
    for ch in &channels {
        if views.iter().any(|v| &v.channel == ch && v.decision == HoldDecision::Held) {
            let digest = state.holds_digest(ch).context("reading the state")?;
            let _ = writeln!(s, "to approve exactly this set of `{ch}`: provisioner approve {ch} --expect {digest}");
        }
    }
    print!("{s}");
    Ok(())
}

/// `provisioner approve CHANNEL [--expect DIGEST]` / `provisioner reject CHANNEL [--expect DIGEST]`.
pub fn decide(ctx: &Context, channel: &str, approve: bool, expect: Option<&str>) -> Result<(), CommandError> {
    let compiled = ctx.load()?;
    let (mut state, _) = open_state(&compiled.loaded)?;
    channel_names(&compiled, Some(channel))?;
    let to = if approve { HoldDecision::Approved } else { HoldDecision::Rejected };
    let Some(n) = state.decide_holds(channel, HoldDecision::Held, to, expect).context("updating the state")? else {
        return Err(CommandError::Failed(anyhow::anyhow!(
            "the held set of `{channel}` changed since it was reviewed (a cycle ran): nothing was decided; run `provisioner held {channel}` again"
        )));
    };
    if n == 0 {
        return Err(CommandError::Failed(anyhow::anyhow!("`{channel}` has no held deprovisioning actions")));
    }
    if approve {
        println!(
            "{channel}: approved {n} held deprovisioning action(s); the next cycle sends them (if by then it would send more, all are held again)"
        );
    } else {
        println!(
            "{channel}: rejected {n} held deprovisioning action(s); those accounts stay as they are until the source changes them again"
        );
    }
    Ok(())
}
