//! The workspace's state: users, groups, channel names, and the rules Slack enforces on them.

use crate::errors::{Code, SimError};
use crate::model::{Effects, Kind, Mode, User, Version};
use indexmap::{IndexMap, IndexSet};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Usernames Slack reserves (`username_not_allowed`).
pub const RESERVED_USERNAMES: &[&str] =
    &["here", "channel", "everyone", "group", "slackbot", "slack", "admin", "owner"];
/// Longest username.
pub const MAX_USERNAME: usize = 21;
/// Longest display name.
pub const MAX_DISPLAY_NAME: usize = 80;
/// Longest given or family name.
pub const MAX_NAME_PART: usize = 35;
/// Most members one group create/update may carry.
pub const MAX_MEMBERS_PER_CALL: usize = 15_000;

/// Workspace-level settings that change Slack's answers (seedable, switchable).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// `business_plus`, `enterprise` (Grid) or `free` (no SCIM: `plus_teams_only`).
    pub plan: String,
    /// Whether v2 answers for this token (otherwise `unsupported_version`).
    pub v2_enabled: bool,
    /// Users may change their display name, so SCIM display-name changes fail (`invalid_display_name`).
    pub display_name_locked: bool,
    /// Most members of a group (5,000 for Business+ user groups; 15,000 recommended for IdP groups).
    pub max_group_members: usize,
    /// Over-long usernames answer `long_username` (observed) or `username_too_long` (documented).
    pub long_username_code: String,
    /// The token belongs to an Admin (not an Owner): owners cannot be modified.
    pub token_is_admin: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            plan: "business_plus".into(),
            v2_enabled: true,
            display_name_locked: false,
            max_group_members: 5_000,
            long_username_code: "long_username".into(),
            token_is_admin: false,
        }
    }
}

/// A group (a user group on Business+, an IdP group on Grid).
#[derive(Debug, Clone)]
pub struct Group {
    pub id: String,
    pub created: u64,
    pub display_name: String,
    pub members: IndexSet<String>,
    /// Linked to channels (DELETE answers `idp_group_linked_to_channels`).
    pub linked_to_channels: bool,
}

/// The whole workspace.
#[derive(Debug)]
pub struct Store {
    pub users: Vec<User>,
    pub by_id: HashMap<String, usize>,
    pub by_name: HashMap<String, usize>,
    pub by_email: HashMap<String, usize>,
    pub groups: IndexMap<String, Group>,
    pub user_groups: HashMap<String, IndexSet<String>>,
    pub channels: HashSet<String>,
    pub settings: Settings,
    pub next_id: u64,
    pub deactivate_delay: Duration,
}

fn now_unix() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Slack-style id: a letter and ten uppercase base-36 digits.
fn make_id(prefix: char, n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut buf = [b'0'; 10];
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 3_656_158_440_062_976; // 36^10: scatter, stay unique
    for slot in buf.iter_mut().rev() {
        *slot = DIGITS[(x % 36) as usize];
        x /= 36;
    }
    let mut s = String::with_capacity(11);
    s.push(prefix);
    s.push_str(std::str::from_utf8(&buf).unwrap_or("0000000000"));
    s
}

fn has_emoji(s: &str) -> bool {
    s.chars().any(|c| matches!(c as u32, 0x1F300..=0x1FAFF | 0x2600..=0x27BF | 0x1F000..=0x1F2FF))
}

/// Slack's username rules: lowercase, `[a-z0-9._-]`, other characters become `_`; an email becomes its
/// local part.
pub fn sanitize_username(raw: &str, from_email: bool) -> String {
    let base = if from_email { raw.split('@').next().unwrap_or(raw) } else { raw };
    base.chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn email_ok(e: &str) -> bool {
    let mut parts = e.splitn(2, '@');
    let (local, domain) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.') && !e.contains(' ')
}

/// What a seed request carries.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Seed {
    pub users: Vec<SeedUser>,
    pub groups: Vec<SeedGroup>,
    pub channels: Vec<String>,
    pub settings: Option<Settings>,
}

/// A seeded user.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SeedUser {
    pub user_name: String,
    pub email: String,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub title: Option<String>,
    pub active: Option<bool>,
    /// `member` (default), `owner`, `primary_owner`, `bot`, `guest`.
    pub role: Option<String>,
}

#[cfg(test)]
impl SeedUser {
    /// A seeded user named `name`, with an email of its own, nothing else set.
    pub(crate) fn named(name: &str) -> SeedUser {
        SeedUser { user_name: name.into(), email: format!("{name}@example.com"), ..SeedUser::default() }
    }
}

/// A seeded group.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SeedGroup {
    pub display_name: String,
    /// User ids or userNames.
    pub members: Vec<String>,
    pub linked_to_channels: bool,
}

impl Store {
    /// A fresh workspace: a primary owner (the token's owner) and the default channels.
    pub fn new(deactivate_delay: Duration) -> Self {
        let mut s = Store {
            users: Vec::new(),
            by_id: HashMap::new(),
            by_name: HashMap::new(),
            by_email: HashMap::new(),
            groups: IndexMap::new(),
            user_groups: HashMap::new(),
            channels: ["general", "random"].iter().map(|c| (*c).to_owned()).collect(),
            settings: Settings::default(),
            next_id: 1,
            deactivate_delay,
        };
        let mut owner = User::blank(s.new_id('U'), now_unix());
        owner.user_name = "primary.owner".into();
        owner.display_name = "Primary Owner".into();
        owner.given_name = "Primary".into();
        owner.family_name = "Owner".into();
        owner.emails = vec!["primary.owner@example.com".into()];
        owner.kind = Kind::PrimaryOwner;
        s.insert_user(owner);
        s
    }

    fn new_id(&mut self, prefix: char) -> String {
        let id = make_id(prefix, self.next_id);
        self.next_id += 1;
        id
    }

    fn user_prefix(&self) -> char {
        if self.settings.plan == "enterprise" {
            'W'
        } else {
            'U'
        }
    }

    fn insert_user(&mut self, u: User) -> usize {
        let idx = self.users.len();
        self.by_id.insert(u.id.clone(), idx);
        self.by_name.insert(u.user_name.clone(), idx);
        for e in &u.emails {
            self.by_email.insert(e.to_lowercase(), idx);
        }
        self.users.push(u);
        idx
    }

    fn reindex(&mut self, idx: usize, old: &User) {
        self.by_name.remove(&old.user_name);
        for e in &old.emails {
            self.by_email.remove(&e.to_lowercase());
        }
        let u = &self.users[idx];
        self.by_name.insert(u.user_name.clone(), idx);
        for e in &u.emails {
            self.by_email.insert(e.to_lowercase(), idx);
        }
    }

    /// Permanently deletes a user (an org admin's account deletion): the id is gone, SCIM answers
    /// `no_such_user` for it, and the user leaves every group. Returns whether the user existed.
    pub fn erase_user(&mut self, id: &str) -> bool {
        let Some(idx) = self.by_id.get(id).copied() else { return false };
        if let Some(gs) = self.user_groups.remove(id) {
            for g in gs {
                if let Some(group) = self.groups.get_mut(&g) {
                    group.members.shift_remove(id);
                }
            }
        }
        self.users.remove(idx);
        // Positions after `idx` moved: index again.
        self.by_id.clear();
        self.by_name.clear();
        self.by_email.clear();
        for (i, u) in self.users.iter().enumerate() {
            self.by_id.insert(u.id.clone(), i);
            self.by_name.insert(u.user_name.clone(), i);
            for e in &u.emails {
                self.by_email.insert(e.to_lowercase(), i);
            }
        }
        true
    }

    /// Checks that `id` looks like a Slack user id (`U`/`W` and uppercase alphanumerics).
    pub fn decode_user_id(id: &str) -> Result<(), SimError> {
        let ok = id.len() >= 3
            && matches!(id.as_bytes()[0], b'U' | b'W')
            && id.bytes().skip(1).all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if ok {
            Ok(())
        } else {
            Err(Code::CannotDecodeUserId.into())
        }
    }

    /// Looks a user up by id.
    pub fn user(&self, id: &str) -> Option<&User> {
        self.by_id.get(id).map(|&i| &self.users[i])
    }

    /// The groups a user belongs to, as `(id, displayName)`.
    pub fn groups_of(&self, user_id: &str) -> Vec<(String, String)> {
        self.user_groups
            .get(user_id)
            .map(|ids| {
                ids.iter().filter_map(|g| self.groups.get(g).map(|x| (x.id.clone(), x.display_name.clone()))).collect()
            })
            .unwrap_or_default()
    }

    /// Checks and normalises a user draft against every rule, `existing` being the stored version.
    fn validate(
        &self,
        u: &mut User,
        existing: Option<&User>,
        mode: Mode,
        username_given: bool,
    ) -> Result<(), SimError> {
        let who = existing.map(|e| e.id.clone()).unwrap_or_else(|| u.user_name.clone());
        let fail = |c: Code| SimError::for_user(c, &who);
        // userName
        if mode == Mode::Create && !username_given {
            return Err(Code::UsernameRequired.into());
        }
        if u.user_name.trim().is_empty() {
            return Err(fail(Code::UsernameEmpty));
        }
        let from_email = mode == Mode::Create && u.user_name.contains('@');
        let mut name = sanitize_username(u.user_name.trim(), from_email);
        if from_email && name.len() > MAX_USERNAME {
            name.truncate(MAX_USERNAME);
        }
        if name.len() > MAX_USERNAME {
            let code = if self.settings.long_username_code == "username_too_long" {
                Code::UsernameTooLong
            } else {
                Code::LongUsername
            };
            return Err(fail(code));
        }
        if name.chars().all(|c| c == '_') {
            return Err(fail(Code::UsernameInvalid));
        }
        if RESERVED_USERNAMES.contains(&name.as_str()) {
            return Err(fail(Code::UsernameNotAllowed));
        }
        let self_idx = existing.and_then(|e| self.by_id.get(&e.id).copied());
        if let Some(&i) = self.by_name.get(&name) {
            if Some(i) != self_idx {
                return Err(fail(Code::UsernameTaken));
            }
        }
        if self.channels.contains(&name) {
            return Err(fail(Code::UsernameTaken));
        }
        u.user_name = name;
        // emails
        if u.emails.is_empty() {
            return Err(fail(Code::MissingPrimaryEmail));
        }
        for e in u.emails.iter_mut() {
            *e = e.trim().to_owned();
            if e.is_empty() {
                return Err(fail(Code::EmailEmpty));
            }
            if !email_ok(e) {
                return Err(fail(Code::EmailInvalid));
            }
            if let Some(&i) = self.by_email.get(&e.to_lowercase()) {
                if Some(i) != self_idx {
                    return Err(fail(Code::EmailTaken));
                }
            }
        }
        if u.emails.len() == 2 && u.emails[0].eq_ignore_ascii_case(&u.emails[1]) {
            u.emails.truncate(1);
        }
        // displayName
        let display_given = !u.display_name.trim().is_empty();
        if !display_given {
            u.display_name = u.user_name.clone();
        }
        if u.display_name.starts_with('@') {
            return Err(fail(Code::InvalidStartsWithAt));
        }
        if u.display_name.chars().count() > MAX_DISPLAY_NAME {
            return Err(fail(Code::InvalidDisplayName));
        }
        if let Some(e) = existing {
            if self.settings.display_name_locked && e.display_name != u.display_name {
                return Err(fail(Code::InvalidDisplayName));
            }
        }
        // names
        if mode == Mode::Create && display_given && u.given_name.is_empty() && u.family_name.is_empty() {
            u.given_name = u.display_name.clone();
        }
        for part in [&u.given_name, &u.family_name] {
            if part.chars().count() > MAX_NAME_PART {
                return Err(fail(Code::InvalidNameMaxlength));
            }
            if part.contains(['@', '<', '>', '&']) {
                return Err(fail(Code::InvalidNameSpecials));
            }
        }
        // emoji anywhere
        let texts = [
            Some(&u.display_name),
            Some(&u.given_name),
            Some(&u.family_name),
            Some(&u.title),
            u.role.as_ref(),
            u.enterprise.department.as_ref(),
            u.enterprise.organization.as_ref(),
            u.enterprise.division.as_ref(),
        ];
        if texts.iter().flatten().any(|t| has_emoji(t)) {
            return Err(fail(Code::InvalidEmojiNotAllowed));
        }
        // manager: an id, a primary email or a userName
        if let Some(m) = u.enterprise.manager_id.clone() {
            let resolved = self
                .by_id
                .get(&m)
                .or_else(|| self.by_email.get(&m.to_lowercase()))
                .or_else(|| self.by_name.get(&m.to_lowercase()))
                .map(|&i| self.users[i].id.clone());
            match resolved {
                Some(id) => u.enterprise.manager_id = Some(id),
                None => return Err(fail(Code::InvalidAttributeFormat)),
            }
        }
        // guests
        if u.guest.is_some() {
            if self.settings.plan != "enterprise" {
                return Err(fail(Code::PermissionDenied));
            }
            if matches!(u.kind, Kind::Owner | Kind::PrimaryOwner) {
                return Err(fail(Code::CannotMakeUserGuest));
            }
        }
        Ok(())
    }

    /// POST /Users.
    pub fn create_user(&mut self, body: &Map<String, Value>, now: Instant) -> Result<String, SimError> {
        let mut u = User::blank(String::new(), now_unix());
        let mut fx = Effects::default();
        u.apply_object(body, Mode::Create, &mut fx)?;
        let given = body.contains_key("userName") || body.contains_key("nickName");
        self.validate(&mut u, None, Mode::Create, given)?;
        u.id = self.new_id(self.user_prefix());
        if fx.active == Some(false) {
            // Slack cannot create a disabled user; the flag is ignored on create.
            let _ = now;
        }
        let id = u.id.clone();
        self.insert_user(u);
        Ok(id)
    }

    /// Applies a change to a user atomically: `f` edits a draft, which is validated and committed.
    pub fn update_user(
        &mut self,
        id: &str,
        mode: Mode,
        now: Instant,
        f: impl FnOnce(&mut User, &mut Effects) -> Result<(), SimError>,
    ) -> Result<(), SimError> {
        Self::decode_user_id(id)?;
        let idx = *self.by_id.get(id).ok_or(Code::NoSuchUser)?;
        let old = self.users[idx].clone();
        if self.settings.token_is_admin && matches!(old.kind, Kind::Owner | Kind::PrimaryOwner) {
            return Err(SimError::for_user(Code::CannotModifyOwner, id));
        }
        let mut draft = old.clone();
        if mode == Mode::Put {
            draft.clear_for_put();
        }
        let mut fx = Effects::default();
        f(&mut draft, &mut fx)?;
        if old.guest.is_some() != draft.guest.is_some() {
            // Converting to or from a guest reactivates a deactivated user.
            fx.active.get_or_insert(true);
        }
        self.validate(&mut draft, Some(&old), mode, true)?;
        match fx.active {
            Some(false) => self.check_deactivatable(&old)?,
            Some(true) if !old.is_active(now) => {}
            _ => {}
        }
        self.users[idx] = draft;
        self.reindex(idx, &old);
        match fx.active {
            Some(true) => self.users[idx].deactivated_at = None,
            Some(false) => self.deactivate_idx(idx, now),
            None => {}
        }
        Ok(())
    }

    fn check_deactivatable(&self, u: &User) -> Result<(), SimError> {
        match u.kind {
            Kind::PrimaryOwner => Err(SimError::for_user(Code::CannotDisablePrimaryOwner, &u.id)),
            Kind::Bot => Err(SimError::for_user(Code::CannotDisableBotUserWithScim, &u.id)),
            _ => Ok(()),
        }
    }

    fn deactivate_idx(&mut self, idx: usize, now: Instant) {
        let delay = self.deactivate_delay;
        let u = &mut self.users[idx];
        if u.deactivated_at.is_none() {
            u.deactivated_at = Some(now + delay);
        }
        // Deactivated users leave their groups.
        let id = u.id.clone();
        if let Some(gs) = self.user_groups.remove(&id) {
            for g in gs {
                if let Some(group) = self.groups.get_mut(&g) {
                    group.members.shift_remove(&id);
                }
            }
        }
    }

    /// DELETE /Users/{id}: deactivates (idempotent).
    pub fn deactivate_user(&mut self, id: &str, now: Instant) -> Result<(), SimError> {
        Self::decode_user_id(id)?;
        let idx = *self.by_id.get(id).ok_or(Code::NoSuchUser)?;
        self.check_deactivatable(&self.users[idx])?;
        if self.settings.token_is_admin && matches!(self.users[idx].kind, Kind::Owner) {
            return Err(SimError::for_user(Code::CannotModifyOwner, id));
        }
        self.deactivate_idx(idx, now);
        Ok(())
    }

    fn check_members(&self, members: &IndexSet<String>, now: Instant) -> Result<(), SimError> {
        if members.len() > MAX_MEMBERS_PER_CALL {
            return Err(Code::TooManyUsers.into());
        }
        if members.len() > self.settings.max_group_members {
            return Err(Code::GroupMemberMaxExceeded.into());
        }
        for m in members {
            let u = self.user(m).ok_or(Code::NoSuchGroupMembers)?;
            if !u.is_active(now) || u.guest.is_some() {
                return Err(Code::UnableToAddDeletedOrGuestToGroup.into());
            }
        }
        Ok(())
    }

    /// POST /Groups.
    pub fn create_group(&mut self, name: &str, members: IndexSet<String>, now: Instant) -> Result<String, SimError> {
        if name.trim().is_empty() {
            return Err(Code::GroupCreationFailed.into());
        }
        if has_emoji(name) {
            return Err(Code::InvalidEmojiNotAllowed.into());
        }
        self.check_members(&members, now)?;
        let id = self.new_id('S');
        for m in &members {
            self.user_groups.entry(m.clone()).or_default().insert(id.clone());
        }
        self.groups.insert(
            id.clone(),
            Group {
                id: id.clone(),
                created: now_unix(),
                display_name: name.trim().to_owned(),
                members,
                linked_to_channels: false,
            },
        );
        Ok(id)
    }

    /// Changes a group: a new name and/or a new member set, validated as a whole.
    pub fn update_group(
        &mut self,
        id: &str,
        name: Option<String>,
        members: Option<IndexSet<String>>,
        now: Instant,
    ) -> Result<(), SimError> {
        let g = self.groups.get(id).ok_or(Code::NoSuchGroup)?;
        if let Some(n) = &name {
            if n.trim().is_empty() {
                return Err(Code::InvalidRequestPayload.into());
            }
        }
        if let Some(ms) = &members {
            let added: IndexSet<String> = ms.iter().filter(|m| !g.members.contains(*m)).cloned().collect();
            if ms.len() > MAX_MEMBERS_PER_CALL {
                return Err(Code::TooManyUsers.into());
            }
            if ms.len() > self.settings.max_group_members {
                return Err(Code::GroupMemberMaxExceeded.into());
            }
            self.check_members(&added, now)?;
        }
        let g = self.groups.get_mut(id).ok_or(Code::NoSuchGroup)?;
        if let Some(n) = name {
            g.display_name = n.trim().to_owned();
        }
        if let Some(ms) = members {
            let old = std::mem::replace(&mut g.members, ms);
            for m in old.iter().filter(|m| !g.members.contains(*m)) {
                if let Some(set) = self.user_groups.get_mut(m) {
                    set.shift_remove(id);
                }
            }
            let new: Vec<String> = g.members.iter().filter(|m| !old.contains(*m)).cloned().collect();
            for m in new {
                self.user_groups.entry(m).or_default().insert(id.to_owned());
            }
        }
        Ok(())
    }

    /// DELETE /Groups/{id}.
    pub fn delete_group(&mut self, id: &str) -> Result<(), SimError> {
        let g = self.groups.get(id).ok_or(Code::NoSuchGroup)?;
        if g.linked_to_channels {
            return Err(Code::IdpGroupLinkedToChannels.into());
        }
        let g = self.groups.shift_remove(id).ok_or(Code::NoSuchGroup)?;
        for m in g.members {
            if let Some(set) = self.user_groups.get_mut(&m) {
                set.shift_remove(id);
            }
        }
        Ok(())
    }

    /// Applies a seed; returns `{userName: id}` and `{displayName: id}`.
    pub fn seed(&mut self, seed: Seed, now: Instant) -> Result<Value, SimError> {
        if let Some(s) = seed.settings {
            self.settings = s;
        }
        for c in seed.channels {
            self.channels.insert(c.to_lowercase());
        }
        let mut users = Map::new();
        for su in seed.users {
            let mut body = Map::new();
            body.insert("userName".into(), Value::String(su.user_name.clone()));
            body.insert("emails".into(), serde_json::json!([{"value": su.email, "primary": true}]));
            if let Some(d) = su.display_name {
                body.insert("displayName".into(), Value::String(d));
            }
            body.insert(
                "name".into(),
                serde_json::json!({"givenName": su.given_name.unwrap_or_default(), "familyName": su.family_name.unwrap_or_default()}),
            );
            if let Some(t) = su.title {
                body.insert("title".into(), Value::String(t));
            }
            let id = self.create_user(&body, now)?;
            let idx = self.by_id[&id];
            match su.role.as_deref() {
                Some("owner") => self.users[idx].kind = Kind::Owner,
                Some("primary_owner") => self.users[idx].kind = Kind::PrimaryOwner,
                Some("bot") => self.users[idx].kind = Kind::Bot,
                Some("guest") => self.users[idx].guest = Some(None),
                _ => {}
            }
            if su.active == Some(false) {
                self.users[idx].deactivated_at = Some(now);
            }
            users.insert(su.user_name, Value::String(id));
        }
        let mut groups = Map::new();
        for sg in seed.groups {
            let members: IndexSet<String> = sg
                .members
                .iter()
                .map(|m| {
                    if self.by_id.contains_key(m) {
                        m.clone()
                    } else {
                        self.by_name
                            .get(&m.to_lowercase())
                            .map(|&i| self.users[i].id.clone())
                            .unwrap_or_else(|| m.clone())
                    }
                })
                .collect();
            let id = self.create_group(&sg.display_name, members, now)?;
            if let Some(g) = self.groups.get_mut(&id) {
                g.linked_to_channels = sg.linked_to_channels;
            }
            groups.insert(sg.display_name, Value::String(id));
        }
        Ok(serde_json::json!({"users": users, "groups": groups}))
    }

    /// Renders a user for `version` (convenience around `model::render_user`).
    pub fn render(&self, u: &User, version: Version, base: &str, now: Instant) -> Value {
        crate::model::render_user(u, version, base, "sim", &self.groups_of(&u.id), now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_sanitised() {
        assert_eq!(sanitize_username("Guest User!", false), "guest_user_");
        assert_eq!(sanitize_username("Jane.Doe@Example.com", true), "jane.doe");
        assert_ne!(make_id('U', 1), make_id('U', 2));
        assert_eq!(make_id('U', 7).len(), 11);
    }

    #[test]
    fn an_erased_user_is_gone_and_the_others_stay_found() {
        let mut s = Store::new(Duration::ZERO);
        let now = Instant::now();
        let user = SeedUser::named;
        let seed = Seed {
            users: vec![user("ann"), user("bob"), user("cy")],
            groups: vec![SeedGroup {
                display_name: "team".into(),
                members: vec!["ann".into(), "bob".into()],
                ..SeedGroup::default()
            }],
            ..Seed::default()
        };
        let ids = s.seed(seed, now).unwrap();
        let id = |n: &str| ids["users"][n].as_str().unwrap().to_owned();
        assert!(s.erase_user(&id("ann")));
        assert!(!s.erase_user(&id("ann")), "erased once");
        assert!(s.user(&id("ann")).is_none());
        assert!(!s.by_email.contains_key("ann@example.com") && !s.by_name.contains_key("ann"));
        // The users after it moved in the list: still found by id, name and email.
        for n in ["bob", "cy"] {
            assert_eq!(s.user(&id(n)).unwrap().user_name, n);
            assert_eq!(s.users[s.by_name[n]].id, id(n));
            assert_eq!(s.users[s.by_email[&format!("{n}@example.com")]].id, id(n));
        }
        let team = s.groups.values().find(|g| g.display_name == "team").unwrap();
        assert_eq!(team.members.iter().cloned().collect::<Vec<_>>(), [id("bob")]);
    }
}
