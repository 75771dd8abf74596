//! The connector's descriptor: settings (PingFederate's Slack Provisioner options and more) and the
//! user and group attributes with where each lands in Slack.

use crate::attributes::USER_ATTRIBUTES;
use connector_abi::payload::*;
use serde_json::json;

fn field(name: &str, label: &str, t: FieldType, group: &str, order: u32, help: &str) -> ConfigField {
    ConfigField {
        name: name.into(),
        display_name: label.into(),
        field_type: t,
        required: false,
        confidential: false,
        default: None,
        allowed_values: Vec::new(),
        help: help.into(),
        group: group.into(),
        order,
        role: None,
    }
}

/// The descriptor.
pub fn descriptor() -> Descriptor {
    let mut token = field(
        "accessToken",
        "OAuth Access Token",
        FieldType::String,
        "Connection",
        1,
        "A user token (xoxp-…) with the `admin` scope from an Owner or Admin; on Enterprise Grid, an org-level install. Verified by `test`.",
    );
    token.required = true;
    token.confidential = true;
    let with = |mut f: ConfigField, default: serde_json::Value, allowed: &[&str]| {
        f.default = Some(default);
        f.allowed_values = allowed.iter().map(|s| (*s).to_owned()).collect();
        f
    };
    let configuration = vec![
        token,
        with(
            field("apiVersion", "SCIM API Version", FieldType::Select, "Connection", 2, "Slack SCIM API version. v2 may need an Enterprise Grid org token."),
            json!("v1"),
            &["v1", "v2"],
        ),
        with(
            field("baseUrl", "SCIM Base URL", FieldType::Url, "Connection", 3, "https required except on loopback (for slack-sim). The version path is appended."),
            json!(crate::settings::DEFAULT_BASE_URL),
            &[],
        ),
        with(
            ConfigField {
                role: Some(ROLE_UNIQUE_USER_IDENTIFIER.into()),
                ..field(
                "uniqueUserIdentifier",
                "Unique User Identifier",
                FieldType::Select,
                "Connection",
                4,
                "How existing Slack users are matched: by userName or by primary email (recommended). Fixed once users were matched by it: changing it needs `provisioner reset`.",
                )
            },
            json!("primaryEmail"),
            &["userName", "primaryEmail"],
        ),
        with(field("userCreate", "User Create", FieldType::Boolean, "Provisioning options", 1, "Create users in Slack."), json!(true), &[]),
        with(
            field("userUpdate", "User Update", FieldType::Boolean, "Provisioning options", 2, "Update users in Slack, including re-enabling them."),
            json!(true),
            &[],
        ),
        with(field("userDisable", "User Disable", FieldType::Boolean, "Provisioning options", 3, "Deactivate users in Slack."), json!(true), &[]),
        with(
            field(
                "removeUserAction",
                "Remove User Action",
                FieldType::Select,
                "Provisioning options",
                4,
                "When a user leaves the source location or is deleted: Disable (PATCH active=false) or Delete (DELETE, which Slack also turns into a deactivation: Slack never erases users).",
            ),
            json!("Disable"),
            &["Disable", "Delete"],
        ),
        with(
            field(
                "provisionDisabledUsers",
                "Provision Disabled Users",
                FieldType::Boolean,
                "Provisioning options",
                5,
                "Create users that are disabled in the source (Slack cannot create a disabled user, so the connector creates then deactivates). Needs User Create and Remove User Action Disable.",
            ),
            json!(false),
            &[],
        ),
        with(field("groupProvisioning", "Group Provisioning", FieldType::Boolean, "Provisioning options", 6, "Create, rename and delete groups and manage their members."), json!(true), &[]),
        with(
            field(
                "groupMembershipHandling",
                "Group Membership Handling",
                FieldType::Select,
                "Provisioning options",
                7,
                "Merge never removes a member the connector did not add; Overwrite makes Slack's members exactly the source's.",
            ),
            json!("Merge"),
            &["Merge", "Overwrite"],
        ),
        with(
            field("rateLimitShare", "Rate Limit Share", FieldType::Number, "Pacing", 1, "Share (0.05–1) of Slack's org-wide SCIM budgets this connector may use; lower it when other SCIM apps share the org. Whatever the share, each rate-limit 429 slows the pace a tenth (to about half at most) and five minutes of Slack's time without one speeds it up a tenth again."),
            json!(1.0),
            &[],
        ),
        with(field("maxConcurrency", "Maximum Concurrency", FieldType::Integer, "Pacing", 2, "Requests in flight at once per Slack endpoint (1–64); each takes its slot before it is paced."), json!(4), &[]),
        with(field("requestTimeoutSeconds", "Request Timeout (s)", FieldType::Number, "Pacing", 3, "Timeout of one HTTP request."), json!(30), &[]),
        with(field("maxRetryWaitSeconds", "Maximum Retry Wait (s)", FieldType::Number, "Pacing", 5, "The longest one wait may last, whatever Slack's Retry-After says (a proxy or a bug may send days)."), json!(300), &[]),
        with(field("maxResponseBytes", "Maximum Response Size (bytes)", FieldType::Integer, "Pacing", 6, "Answers larger than this fail without being read whole (checked against Content-Length first)."), json!(33_554_432), &[]),
        with(field("maxRetries", "Maximum Retries", FieldType::Integer, "Pacing", 4, "Retries of a throttled, failed or timed-out request before the record fails (retryable)."), json!(6), &[]),
        with(
            field("rateLimitTimeScale", "Rate Limit Time Scale", FieldType::Number, "Pacing", 5, "Slack's budgets run this many times faster (only for simulators run with --time-scale)."),
            json!(1.0),
            &[],
        ),
    ];
    let user_attrs = USER_ATTRIBUTES
        .iter()
        .map(|a| AttributeInfo {
            name: a.name.into(),
            attr_type: "string".into(),
            multivalued: false,
            required: matches!(a.name, "userName" | "primaryEmail"),
            creatable: true,
            updateable: a.updateable,
            readable: true,
            returned_by_default: true,
            target_field: a.target.into(),
            help: a.help.into(),
        })
        .collect();
    let group_attrs = vec![
        AttributeInfo {
            name: "displayName".into(),
            attr_type: "string".into(),
            multivalued: false,
            required: true,
            creatable: true,
            updateable: true,
            readable: true,
            returned_by_default: true,
            target_field: "displayName".into(),
            help: "The group's name; groups are matched by it on first sync.".into(),
        },
        AttributeInfo {
            name: "members".into(),
            attr_type: "reference".into(),
            multivalued: true,
            required: false,
            creatable: true,
            updateable: true,
            readable: true,
            returned_by_default: true,
            target_field: "members[].value".into(),
            help: "Member users, by their Slack ids (the host passes member target ids).".into(),
        },
    ];
    Descriptor {
        v: PAYLOAD_VERSION,
        name: "slack".into(),
        display_name: "Slack Provisioner".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description:
            "Provisions users and groups to Slack through its SCIM API (v1.1 and v2), within Slack's rate limits."
                .into(),
        abi: AbiVersion { major: connector_abi::raw::CONN_ABI_MAJOR, minor: connector_abi::raw::CONN_ABI_MINOR },
        capabilities: [
            "create",
            "update",
            "disable",
            "reactivate",
            "delete",
            "provision_disabled",
            "groups",
            "search",
            "test",
            "clear_attributes",
        ]
        .map(String::from)
        .to_vec(),
        configuration,
        object_classes: vec![
            ObjectClassInfo { name: ObjectClass::User, attributes: user_attrs },
            ObjectClassInfo { name: ObjectClass::Group, attributes: group_attrs },
        ],
    }
}
