//! Slack's user model: the record ([`user`]), how requests change it ([`apply`]) and its
//! representation per API version ([`render`]).
//!
//! Slack keeps fewer slots than SCIM allows: two emails (primary, secondary), two phones (primaryPhone and
//! mobilePhone, with the request/response type inversion), one address, one role, one photo. Requests
//! are applied to a copy of the user, which is validated and committed whole or not at all.

pub mod apply;
pub mod render;
pub mod user;

pub use apply::{split_value_path, Effects, Mode};
pub use render::{pacific_timestamp, render_user};
pub use user::{Address, Enterprise, Kind, User};

/// The API version of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// SCIM 1.1 (`/scim/v1`).
    V1,
    /// SCIM 2.0 (`/scim/v2`).
    V2,
}

// Schema and message URNs, per API version.
pub const CORE_V1: &str = "urn:scim:schemas:core:1.0";
pub const ENT_V1: &str = "urn:scim:schemas:extension:enterprise:1.0";
pub const GUEST_V1: &str = "urn:scim:schemas:extension:slack:guest:1.0";
pub const PROFILE_V1: &str = "urn:scim:schemas:extension:slack:profile:1.0";
pub const CORE_USER_V2: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const CORE_GROUP_V2: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENT_V2: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const GUEST_V2: &str = "urn:ietf:params:scim:schemas:extension:slack:guest:2.0:User";
pub const PROFILE_V2: &str = "urn:ietf:params:scim:schemas:extension:slack:profile:2.0:User";
pub const LIST_V2: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_V2: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Instant;

    #[test]
    fn phone_request_semantics_are_inverted_in_responses() {
        let mut u = User::blank("U1".into(), 0);
        let mut fx = Effects::default();
        let obj = json!({"phoneNumbers": [{"value": "111", "type": "mobile"}, {"value": "222", "type": "work"}]});
        u.apply_object(obj.as_object().unwrap(), Mode::Create, &mut fx).unwrap();
        assert_eq!(u.primary_phone.as_deref(), Some("111"));
        assert_eq!(u.mobile_phone.as_deref(), Some("222"));
        u.emails = vec!["a@b.c".into()];
        let r = render_user(&u, Version::V2, "http://x", "w", &[], Instant::now());
        assert_eq!(r["phoneNumbers"], json!([{"value": "222", "type": "mobile"}, {"value": "111", "primary": true}]));
    }
}
