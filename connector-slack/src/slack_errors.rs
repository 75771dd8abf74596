//! Slack's error catalogue: every error code Slack's SCIM API documents, mapped to an ABI error kind,
//! whether it is retryable, and advice a person can act on. Error answers are parsed from either
//! envelope (v1 `Errors`, v2 `detail`), with the context suffix Slack adds to a code.

use connector_abi::payload::{ErrorInfo, ErrorKind};
use serde_json::Value;

/// A parsed Slack error answer.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackError {
    /// HTTP status.
    pub status: u16,
    /// The code (the description up to the first space), e.g. `email_taken`.
    pub code: String,
    /// The parenthetical context Slack adds, e.g. `user=U123`.
    pub context: Option<String>,
    /// `Retry-After` in seconds, when given.
    pub retry_after_secs: Option<f64>,
}

/// Parses an error body: v1 `{"Errors":{"description","code"}}` (also an array of them), v2
/// `{"detail","status"}`; a description may carry ` (context)`.
pub fn parse(status: u16, body: &[u8], retry_after_secs: Option<f64>) -> SlackError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let errors =
        v.get("Errors").map(|e| if e.is_array() { e.get(0).cloned().unwrap_or(Value::Null) } else { e.clone() });
    let description = errors
        .as_ref()
        .and_then(|e| e.get("description"))
        .and_then(Value::as_str)
        .or_else(|| v.get("detail").and_then(Value::as_str))
        .unwrap_or("")
        .trim()
        .to_owned();
    let (code, context) = match description.split_once(' ') {
        Some((c, rest)) => (c.to_owned(), Some(rest.trim().trim_start_matches('(').trim_end_matches(')').to_owned())),
        None => (description.clone(), None),
    };
    // A code is Slack's snake_case word; anything else (a proxy's page, a value) is not repeated.
    let code = if code.is_empty() || !code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        format!("http_{status}")
    } else {
        code
    };
    SlackError { status, code, context, retry_after_secs }
}

impl SlackError {
    /// Whether the same request may succeed later.
    pub fn retryable(&self) -> bool {
        self.status == 429
            || self.status >= 500
            || matches!(self.code.as_str(), "too_many_requests" | "resource_locked" | "database_query_failure")
    }

    /// The ABI error with kind, message and retry hint.
    pub fn to_error_info(&self) -> ErrorInfo {
        let (kind, hint) = classify(&self.code, self.status);
        // Slack's context is `key=value` about ids and flags (`user=W123`); anything else might carry a
        // value from the request and is left out of the message.
        let ctx = self.context.as_deref().filter(|c| is_safe_context(c)).map(|c| format!(" ({c})")).unwrap_or_default();
        let mut e = ErrorInfo::new(kind, format!("Slack refused the request: {}{ctx}. {hint}", self.code))
            .with_code(self.code.clone());
        if self.retryable() {
            e = e.retryable();
        }
        if let Some(s) = self.retry_after_secs {
            e = e.with_retry_after_ms((s * 1000.0).ceil() as u64);
        }
        e
    }
}

/// Whether a context suffix is Slack's `key=value` about ids and flags (no user-supplied text).
fn is_safe_context(c: &str) -> bool {
    c.len() <= 80
        && c.split(',').all(|kv| {
            kv.trim().split_once('=').is_some_and(|(k, v)| {
                !k.is_empty()
                    && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                    && !v.is_empty()
                    && v.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            })
        })
}

/// The kind and the advice for a Slack error code.
pub fn classify(code: &str, status: u16) -> (ErrorKind, &'static str) {
    use ErrorKind::*;
    match code {
        "invalid_authentication" | "missing_authentication" => (InvalidCredential, "The OAuth access token was rejected: check that it was copied whole, has the admin scope, and that its owner is still an Owner or Admin."),
        "unsupported_version" => (Configuration, "Slack answered unsupported_version: on v2 this also means the token was rejected or SCIM v2 is not enabled for it (v2 needs an org-level token on Enterprise Grid); check the token or set apiVersion to v1."),
        "plus_teams_only" => (Configuration, "The workspace's plan has no SCIM API: Slack SCIM needs Business+ or Enterprise Grid."),
        "non_org_teams_only" => (Configuration, "The token comes from an app installed on a workspace; on Enterprise Grid install the SCIM app on the organization and use that token."),
        "permission_denied" => (PermissionDenied, "The token's owner lacks the rights for this change (an Admin's token cannot change Owners; guests need Enterprise Grid)."),
        "cannot_modify_owner" => (PermissionDenied, "Owners cannot be changed with this token: use an Owner's token, or change the account in Slack."),
        "cannot_disable_primary_owner" | "primary_owner_check_failure" => (PermissionDenied, "The workspace's primary owner cannot be deactivated: transfer primary ownership in Slack first, or exclude this account from the channel."),
        "cannot_disable_bot_user_with_scim" => (PermissionDenied, "Bot users cannot be deactivated through SCIM: remove the bot in Slack's app settings, or exclude it from the channel."),
        "cannot_modify_gdpr" => (PermissionDenied, "The account was erased under GDPR and cannot be changed."),
        "cannot_make_user_guest" => (PermissionDenied, "Admins, Owners and the Primary Owner cannot be made guests."),
        "password_change_not_allowed" => (InvalidAttribute, "Slack does not accept password changes through SCIM: remove the password mapping."),
        "email_taken" => (AlreadyExists, "Another Slack account, active or deactivated, holds this email; Slack refuses duplicates even for deactivated accounts. Change that account's email in Slack's admin pages, or match by primaryEmail so the connector reactivates it."),
        "username_taken" => (AlreadyExists, "Another Slack account or a channel already uses this username (usernames share a namespace with channel names): map a different userName."),
        "truncation_error" => (AlreadyExists, "Slack could not derive a free username from the value given: map a shorter, unique userName."),
        "no_such_user" | "unknown_user" => (NotFound, "The Slack user does not exist (any more)."),
        "no_such_group" => (NotFound, "The Slack group does not exist (any more)."),
        "too_many_requests" => (RateLimited, "Slack throttled the request (rate limit, or another update of this object in flight); it will be retried."),
        "resource_locked" => (RateLimited, "Another update of this group is in flight; it will be retried."),
        "long_username" | "username_too_long" => (InvalidAttribute, "The userName is longer than Slack's 21 characters: map a shorter value (e.g. the email's local part cut to 21)."),
        "long_nickname" => (InvalidAttribute, "The nickName is longer than 21 characters."),
        "username_not_allowed" | "invalid_reserved_word" => (InvalidAttribute, "The userName is a word Slack reserves (e.g. here, channel, everyone): map a different value."),
        "username_invalid" | "username_empty" | "username_required" => (InvalidAttribute, "The userName is missing or unusable: map a value with letters, digits, . _ or -."),
        "invalid_display_name" => (InvalidAttribute, "Slack rejected the display name: it is over 80 characters, or the workspace lets people edit their own display names (then send displayName on create only, or turn that Slack setting off)."),
        "invalid_starts_with_at" => (InvalidAttribute, "The display name starts with @: map a value without it."),
        "invalid_name_specials" => (InvalidAttribute, "A name contains characters Slack refuses (such as @ < >)."),
        "invalid_name_maxlength" => (InvalidAttribute, "A name is longer than Slack allows."),
        "invalid_name_required" => (InvalidAttribute, "Slack needs a name that is not only spaces."),
        "invalid_emoji_not_allowed" => (InvalidAttribute, "Slack refuses emoji in profile values."),
        "email_empty" | "email_invalid" | "bad_email_address" | "emails_invalid" | "missing_primary_email" => (InvalidAttribute, "The primary email is missing or malformed."),
        "addresses_invalid" | "phoneNumbers_invalid" | "photos_invalid" | "roles_invalid" | "groups_invalid" | "invalid_attribute_format" => (InvalidAttribute, "An attribute has a value Slack cannot store in that field."),
        "improper_enterprise_schema_format" => (InvalidAttribute, "The enterprise fields are malformed (a manager needs a managerId: a Slack id, a primary email or a userName of an existing user)."),
        "unable_to_create_team_profile_fields" => (InvalidAttribute, "Slack's 50 custom profile fields are used up."),
        "unable_to_add_deleted_or_guest_to_group" => (InvalidAttribute, "A member is deactivated or a guest; Slack groups take active full members only."),
        "no_such_group_members" => (InvalidAttribute, "A member id is not a Slack user."),
        "group_member_max_exceeded" | "too_many_users" => (InvalidAttribute, "The group is over Slack's member limits (5,000 for user groups, 15,000 per update)."),
        "idp_group_linked_to_channels" => (PermissionDenied, "The group is linked to channels: unlink it in Slack before deleting it."),
        "bad_endpoint" | "method_not_allowed" | "missing_schema_element" | "invalid_request_payload" | "missing_user_id" | "missing_group_id" | "cannot_decode_user_id" => (Configuration, "Slack did not understand the request: check the base URL and API version."),
        "no_filters" | "incomplete_filter" | "invalid_filter_group" | "invalid_query" | "invalid_sort_order" | "query_building_failed" => (Configuration, "Slack refused a search filter."),
        "user_creation_failed" => (Other, "Slack could not create the user (it may exist under another username or email): check the account in Slack."),
        "group_creation_failed" => (Other, "Slack could not create the group: check its displayName."),
        "group_members_create_failed" => (Other, "Slack could not set the group's members."),
        "failed_to_remove_users_for_linked_subteam" => (PermissionDenied, "Members of a group linked to channels could not be removed: unlink the group in Slack first."),
        "database_query_failure" => (Other, "Slack failed on its side; the request will be retried."),
        _ if status == 429 => (RateLimited, "Slack throttled the request; it will be retried."),
        _ if status >= 500 => (Other, "Slack failed on its side; the request will be retried."),
        _ if status == 401 => (InvalidCredential, "The token was rejected."),
        _ if status == 403 => (PermissionDenied, "Slack denied the request."),
        _ if status == 404 => (NotFound, "Not found."),
        _ => (Other, "See Slack's SCIM error reference."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_envelopes_and_suffixes() {
        let e = parse(400, br#"{"Errors":{"description":"long_username (user=W123)","code":400}}"#, None);
        assert_eq!((e.code.as_str(), e.context.as_deref()), ("long_username", Some("user=W123")));
        let e = parse(400, br#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"detail":"missing_schema_element","status":400}"#, None);
        assert_eq!(e.code, "missing_schema_element");
        let e = parse(400, br#"{"Errors":[{"description":"no_filters (is_aggregate_call=1)","code":400}]}"#, None);
        assert_eq!((e.code.as_str(), e.context.as_deref()), ("no_filters", Some("is_aggregate_call=1")));
        let e = parse(502, b"<html>bad gateway</html>", None);
        assert_eq!(e.code, "http_502");
        assert!(e.retryable());
        let info =
            parse(429, br#"{"Errors":{"description":"too_many_requests","code":429}}"#, Some(2.0)).to_error_info();
        assert_eq!((info.kind, info.retryable, info.retry_after_ms), (ErrorKind::RateLimited, true, Some(2000)));
        let info = parse(409, br#"{"Errors":{"description":"email_taken","code":409}}"#, None).to_error_info();
        assert_eq!((info.kind, info.code.as_deref()), (ErrorKind::AlreadyExists, Some("email_taken")));
        assert!(info.message.contains("deactivated"));
    }

    #[test]
    fn every_documented_code_has_a_specific_mapping() {
        let documented = "addresses_invalid, bad_email_address, bad_endpoint, cannot_make_user_guest, cannot_decode_user_id, cannot_modify_owner, cannot_modify_gdpr, cannot_disable_bot_user_with_scim, cannot_disable_primary_owner, email_empty, email_invalid, email_taken, emails_invalid, group_member_max_exceeded, groups_invalid, idp_group_linked_to_channels, improper_enterprise_schema_format, incomplete_filter, invalid_attribute_format, invalid_authentication, invalid_display_name, invalid_emoji_not_allowed, invalid_filter_group, invalid_name_maxlength, invalid_name_specials, invalid_name_required, invalid_query, invalid_request_payload, invalid_reserved_word, invalid_starts_with_at, invalid_sort_order, long_nickname, method_not_allowed, missing_authentication, missing_primary_email, missing_schema_element, missing_group_id, missing_user_id, no_filters, no_such_group, no_such_group_members, no_such_user, non_org_teams_only, query_building_failed, password_change_not_allowed, permission_denied, phoneNumbers_invalid, photos_invalid, plus_teams_only, primary_owner_check_failure, resource_locked, roles_invalid, too_many_requests, too_many_users, truncation_error, unable_to_add_deleted_or_guest_to_group, unable_to_create_team_profile_fields, unknown_user, unsupported_version, username_empty, username_invalid, username_not_allowed, username_required, username_taken, username_too_long, long_username, user_creation_failed, group_creation_failed, group_members_create_failed, failed_to_remove_users_for_linked_subteam, database_query_failure";
        for code in documented.split(", ") {
            let (_, hint) = classify(code, 400);
            assert_ne!(hint, "See Slack's SCIM error reference.", "{code} has no specific advice");
        }
        assert_eq!(classify("something_new", 400).0, ErrorKind::Other);
    }
}
