//! Slack SCIM error codes, their HTTP statuses, and the two error envelopes.

use serde_json::{json, Value};

macro_rules! codes {
    ($($variant:ident => ($name:literal, $status:literal),)*) => {
        /// Every error code the simulator produces (Slack's documented list plus the observed `long_username`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code { $($variant,)* }

        impl Code {
            /// Slack's snake_case name.
            pub fn name(self) -> &'static str {
                match self { $(Code::$variant => $name,)* }
            }
            /// The HTTP status the simulator answers with.
            pub fn status(self) -> u16 {
                match self { $(Code::$variant => $status,)* }
            }
            /// All codes, for documentation tests.
            pub fn all() -> &'static [Code] {
                &[$(Code::$variant,)*]
            }
        }
    };
}

codes! {
    AddressesInvalid => ("addresses_invalid", 400),
    BadEndpoint => ("bad_endpoint", 404),
    CannotMakeUserGuest => ("cannot_make_user_guest", 400),
    CannotDecodeUserId => ("cannot_decode_user_id", 400),
    CannotModifyOwner => ("cannot_modify_owner", 403),
    CannotDisableBotUserWithScim => ("cannot_disable_bot_user_with_scim", 403),
    CannotDisablePrimaryOwner => ("cannot_disable_primary_owner", 403),
    EmailEmpty => ("email_empty", 400),
    EmailInvalid => ("email_invalid", 400),
    EmailTaken => ("email_taken", 409),
    EmailsInvalid => ("emails_invalid", 400),
    GroupMemberMaxExceeded => ("group_member_max_exceeded", 400),
    GroupCreationFailed => ("group_creation_failed", 400),
    IdpGroupLinkedToChannels => ("idp_group_linked_to_channels", 400),
    ImproperEnterpriseSchemaFormat => ("improper_enterprise_schema_format", 400),
    IncompleteFilter => ("incomplete_filter", 400),
    InvalidAttributeFormat => ("invalid_attribute_format", 400),
    InvalidAuthentication => ("invalid_authentication", 401),
    InvalidDisplayName => ("invalid_display_name", 400),
    InvalidEmojiNotAllowed => ("invalid_emoji_not_allowed", 400),
    InvalidFilterGroup => ("invalid_filter_group", 400),
    InvalidNameMaxlength => ("invalid_name_maxlength", 400),
    InvalidNameSpecials => ("invalid_name_specials", 400),
    InvalidQuery => ("invalid_query", 400),
    InvalidRequestPayload => ("invalid_request_payload", 400),
    InvalidStartsWithAt => ("invalid_starts_with_at", 400),
    InvalidSortOrder => ("invalid_sort_order", 400),
    LongUsername => ("long_username", 400),
    MethodNotAllowed => ("method_not_allowed", 405),
    MissingAuthentication => ("missing_authentication", 401),
    MissingPrimaryEmail => ("missing_primary_email", 400),
    MissingSchemaElement => ("missing_schema_element", 400),
    MissingGroupId => ("missing_group_id", 400),
    MissingUserId => ("missing_user_id", 400),
    NoFilters => ("no_filters", 400),
    NoSuchGroup => ("no_such_group", 404),
    NoSuchGroupMembers => ("no_such_group_members", 400),
    NoSuchUser => ("no_such_user", 404),
    NonOrgTeamsOnly => ("non_org_teams_only", 403),
    PasswordChangeNotAllowed => ("password_change_not_allowed", 400),
    PermissionDenied => ("permission_denied", 403),
    PhoneNumbersInvalid => ("phoneNumbers_invalid", 400),
    PhotosInvalid => ("photos_invalid", 400),
    PlusTeamsOnly => ("plus_teams_only", 403),
    ResourceLocked => ("resource_locked", 429),
    RolesInvalid => ("roles_invalid", 400),
    TooManyRequests => ("too_many_requests", 429),
    TooManyUsers => ("too_many_users", 400),
    UnableToAddDeletedOrGuestToGroup => ("unable_to_add_deleted_or_guest_to_group", 400),
    UnsupportedVersion => ("unsupported_version", 400),
    UsernameEmpty => ("username_empty", 400),
    UsernameInvalid => ("username_invalid", 400),
    UsernameNotAllowed => ("username_not_allowed", 400),
    UsernameRequired => ("username_required", 400),
    UsernameTaken => ("username_taken", 409),
    UsernameTooLong => ("username_too_long", 400),
    ServiceUnavailable => ("service_unavailable", 503),
    InternalError => ("internal_error", 500),
}

/// An error answer: a code, optionally with Slack's parenthetical context (e.g. `user=U123`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimError {
    /// The code.
    pub code: Code,
    /// Context appended as ` (context)` to the description.
    pub context: Option<String>,
}

impl From<Code> for SimError {
    fn from(code: Code) -> Self {
        SimError { code, context: None }
    }
}

impl SimError {
    /// An error with ` (user=<who>)` context, as Slack adds to user validation errors.
    pub fn for_user(code: Code, who: &str) -> Self {
        SimError { code, context: Some(format!("user={who}")) }
    }

    /// The description string, with context.
    pub fn description(&self) -> String {
        match &self.context {
            Some(c) => format!("{} ({c})", self.code.name()),
            None => self.code.name().to_owned(),
        }
    }
}

/// Which envelope to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    /// `{"Errors":{"description","code"}}`.
    V1,
    /// `{"schemas":[Error],"detail","status"}` (status as an integer, as Slack documents).
    V2,
}

/// The error body.
pub fn body(e: &SimError, envelope: Envelope) -> Value {
    let status = e.code.status();
    match envelope {
        Envelope::V1 => json!({"Errors": {"description": e.description(), "code": status}}),
        Envelope::V2 => json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "detail": e.description(),
            "status": status,
        }),
    }
}
