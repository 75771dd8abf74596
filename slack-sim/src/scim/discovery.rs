//! ServiceProviderConfig(s), Schemas and ResourceTypes, as Slack answers them (quirks included:
//! `filter.supported` is false although filtering works).

use crate::model::{Version, CORE_GROUP_V2, CORE_USER_V2, ENT_V2, GUEST_V2, PROFILE_V2};
use serde_json::{json, Value};

/// `GET /ServiceProviderConfigs` (no token needed).
pub fn service_provider_config(version: Version) -> Value {
    let mut v = json!({
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication Scheme using the OAuth Bearer Token Standard",
            "specUrl": "http://tools.ietf.org/html/draft-ietf-oauth-v2-bearer-01",
            "primary": true
        }],
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": false, "maxResults": 0},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": false},
        "xmlDataFormat": {"supported": false}
    });
    if version == Version::V2 {
        v["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"]);
    }
    v
}

fn user_attributes(schema: &str) -> Value {
    let s = |name: &str, required: bool| json!({"name": name, "type": "string", "multiValued": false, "schema": schema, "readOnly": false, "required": required, "caseExact": false});
    json!([
        {"name": "id", "type": "string", "multiValued": false, "schema": schema, "readOnly": true, "required": true, "caseExact": false},
        s("userName", true), s("nickName", false),
        {"name": "name", "type": "complex", "multiValued": false, "schema": schema, "readOnly": false, "required": false,
         "subAttributes": [{"name": "familyName", "type": "string"}, {"name": "givenName", "type": "string"}, {"name": "honorificPrefix", "type": "string"}]},
        {"name": "emails", "type": "complex", "multiValued": true, "schema": schema, "readOnly": false, "required": true,
         "subAttributes": [{"name": "value", "type": "string", "required": true}, {"name": "type", "type": "string", "canonicalValues": ["work", "home", "other"]}, {"name": "primary", "type": "boolean"}]},
        {"name": "photos", "type": "complex", "multiValued": true, "schema": schema, "canonicalValues": ["photo", "thumbnail"]},
        {"name": "groups", "type": "complex", "multiValued": true, "schema": schema, "readOnly": true,
         "subattributes": [{"name": "value", "type": "string"}, {"name": "display", "type": "string"}]},
        {"name": "active", "type": "string", "multiValued": false, "schema": schema, "readOnly": false, "required": false},
        {"name": "addresses", "type": "complex", "multiValued": true, "schema": schema,
         "subAttributes": [{"name": "streetAddress"}, {"name": "locality"}, {"name": "region"}, {"name": "postalCode"}, {"name": "country"}, {"name": "type"}, {"name": "primary"}]},
        {"name": "phoneNumbers", "type": "complex", "multiValued": true, "schema": schema, "canonicalValues": ["work", "home", "mobile", "pager", "fax", "other"]},
        s("displayName", false), s("profileUrl", false), s("userType", false), s("title", false),
        s("preferredLanguage", false), s("locale", false), s("timezone", false), s("password", false),
        {"name": "roles", "type": "complex", "multiValued": true, "schema": schema},
    ])
}

/// `GET /Schemas/Users`.
pub fn user_schema(version: Version) -> Value {
    match version {
        Version::V1 => json!({
            "id": "urn:scim:schemas:core:1.0:User", "name": "User", "description": "Core User",
            "schema": ["urn:scim:schemas:core:1.0", "urn:scim:schemas:extension:enterprise:1.0"],
            "endpoint": "/Users",
            "attributes": user_attributes("urn:scim:schemas:core:1.0"),
        }),
        Version::V2 => json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": CORE_USER_V2, "name": "User", "description": "User Account",
            "attributes": user_attributes(CORE_USER_V2),
        }),
    }
}

/// `GET /Schemas/Groups`.
pub fn group_schema(version: Version) -> Value {
    let schema = if version == Version::V1 { "urn:scim:schemas:core:1.0" } else { CORE_GROUP_V2 };
    json!({
        "name": "Group", "description": "Core Group", "schema": schema, "id": schema, "endpoint": "/Groups",
        "attributes": [
            {"name": "id", "type": "string", "multiValued": false, "schema": schema, "readOnly": true, "required": true, "caseExact": false},
            {"name": "displayName", "type": "string", "multiValued": false, "schema": schema, "readOnly": true, "required": true, "caseExact": false},
            {"name": "members", "type": "complex", "multiValued": true, "multiValuedAttributeChildName": "member", "schema": schema, "readOnly": false, "required": true, "caseExact": false,
             "subAttributes": [{"name": "value", "type": "string", "readOnly": true, "required": true}, {"name": "display", "type": "string", "readOnly": true, "required": false}]}
        ]
    })
}

/// `GET /Schemas` (v2): every schema Slack supports.
pub fn all_schemas() -> Value {
    let ext = |id: &str, name: &str| json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"], "id": id, "name": name, "attributes": []});
    json!({
        "schemas": [crate::model::LIST_V2],
        "totalResults": 5, "itemsPerPage": 5, "startIndex": 1,
        "Resources": [user_schema(Version::V2), group_schema(Version::V2),
                      ext(ENT_V2, "EnterpriseUser"), ext(GUEST_V2, "SlackGuest"), ext(PROFILE_V2, "SlackProfile")]
    })
}

/// `GET /ResourceTypes` (v2 only).
pub fn resource_types(base: &str) -> Value {
    json!({
        "schemas": [crate::model::LIST_V2],
        "totalResults": 2, "itemsPerPage": 2, "startIndex": 1,
        "Resources": [
            {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"], "id": "User", "name": "User",
             "endpoint": "/Users", "description": "User Account", "schema": CORE_USER_V2,
             "meta": {"location": format!("{base}/scim/v2/ResourceTypes/User"), "resourceType": "ResourceType"},
             "schemaExtensions": [{"schema": ENT_V2, "required": false}, {"schema": GUEST_V2, "required": false}, {"schema": PROFILE_V2, "required": false}]},
            {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"], "id": "Group", "name": "Group",
             "endpoint": "/Groups", "description": "Group", "schema": CORE_GROUP_V2,
             "meta": {"location": format!("{base}/scim/v2/ResourceTypes/Group"), "resourceType": "ResourceType"},
             "schemaExtensions": []}
        ]
    })
}
