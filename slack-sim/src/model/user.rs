//! The record: a Slack user, its slots and its account kind.

use std::time::Instant;

/// What kind of account a user is; owners and bots have special rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular member.
    Member,
    /// A workspace owner (cannot be changed by an admin's token).
    Owner,
    /// The primary owner (cannot be deactivated).
    PrimaryOwner,
    /// A bot user (cannot be deactivated via SCIM).
    Bot,
}

/// The single address slot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Address {
    pub street_address: Option<String>,
    pub locality: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
}

/// The enterprise extension.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Enterprise {
    pub employee_number: Option<String>,
    pub cost_center: Option<String>,
    pub organization: Option<String>,
    pub division: Option<String>,
    pub department: Option<String>,
    pub manager_id: Option<String>,
}

/// A Slack user.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub created: u64,
    pub user_name: String,
    pub display_name: String,
    pub given_name: String,
    pub family_name: String,
    pub honorific_prefix: Option<String>,
    pub title: String,
    pub timezone: String,
    pub locale: Option<String>,
    pub preferred_language: Option<String>,
    pub user_type: Option<String>,
    /// `[primary, secondary]`; the primary is always present.
    pub emails: Vec<String>,
    pub primary_phone: Option<String>,
    pub mobile_phone: Option<String>,
    pub photo: Option<String>,
    pub address: Option<Address>,
    pub role: Option<String>,
    pub enterprise: Enterprise,
    pub start_date: Option<String>,
    /// Multi-channel guest: `Some(expiration)`.
    pub guest: Option<Option<String>>,
    /// When the user stops being active (DELETE with an optional delay); `None` means active.
    pub deactivated_at: Option<Instant>,
    pub kind: Kind,
}

impl User {
    /// A blank user with the given id.
    pub fn blank(id: String, created: u64) -> Self {
        User {
            id,
            created,
            user_name: String::new(),
            display_name: String::new(),
            given_name: String::new(),
            family_name: String::new(),
            honorific_prefix: None,
            title: String::new(),
            timezone: "America/Los_Angeles".into(),
            locale: None,
            preferred_language: None,
            user_type: None,
            emails: Vec::new(),
            primary_phone: None,
            mobile_phone: None,
            photo: None,
            address: None,
            role: None,
            enterprise: Enterprise::default(),
            start_date: None,
            guest: None,
            deactivated_at: None,
            kind: Kind::Member,
        }
    }

    /// Whether the user is active at `now`: not deactivated, and not a multi-channel guest whose
    /// expiration has passed (Slack deactivates guests when their expiration comes; wall-clock time).
    pub fn is_active(&self, now: Instant) -> bool {
        self.deactivated_at.is_none_or(|t| now < t) && !self.guest_expired()
    }

    /// Whether this is a multi-channel guest whose expiration (RFC 3339) has passed.
    pub fn guest_expired(&self) -> bool {
        match &self.guest {
            Some(Some(exp)) => exp.parse::<jiff::Timestamp>().is_ok_and(|t| t <= jiff::Timestamp::now()),
            _ => false,
        }
    }

    /// Clears everything a PUT replaces.
    pub fn clear_for_put(&mut self) {
        let keep = User { ..User::blank(self.id.clone(), self.created) };
        let (kind, deactivated_at) = (self.kind, self.deactivated_at);
        *self = keep;
        self.kind = kind;
        self.deactivated_at = deactivated_at;
    }
}
