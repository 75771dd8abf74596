//! Users: representation per version, Slack's rules, DELETE/reactivation, v1 and v2 PATCH, PUT.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::json;
use slack_sim::SimConfig;

#[test]
fn v2_representation_matches_slack() {
    let sim = Sim::default_off();
    let a = sim.req(
        "POST",
        "/scim/v2/Users",
        Some(json!({
            "schemas": [core("v2")],
            "userName": "Pam.Halpert",
            "name": {"givenName": "Pam", "familyName": "Halpert", "honorificPrefix": "Mrs."},
            "title": "receptionist",
            "emails": [{"value": "pam@example.com", "primary": true}, {"value": "pam2@example.com"}],
            "phoneNumbers": [{"value": "111", "primary": true}, {"value": "222", "type": "work"}],
            "addresses": [{"streetAddress": "1725 Slough Avenue", "locality": "Scranton", "country": "US", "type": "work"}],
            "roles": ["role 1"],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales", "employeeNumber": "123"},
            "urn:ietf:params:scim:schemas:extension:slack:profile:2.0:User": {"startDate": "2024-04-10T00:00:00+0000"}
        })),
    );
    assert_eq!(a.status, 201, "{}", a.raw);
    let u = &a.body;
    let id = u["id"].as_str().unwrap();
    assert!(id.starts_with('U') && id.len() == 11);
    assert_eq!(u["userName"], "pam.halpert", "lowercased");
    assert_eq!(u["nickName"], "pam.halpert", "nickName mirrors userName");
    assert_eq!(u["displayName"], "pam.halpert", "displayName defaults to userName");
    assert_eq!(u["externalId"], "");
    assert_eq!(u["meta"].as_object().unwrap().keys().collect::<Vec<_>>(), vec!["created", "location"]);
    assert!(u["meta"]["created"].as_str().unwrap().ends_with("-07:00"));
    assert!(u["meta"]["location"].as_str().unwrap().ends_with(&format!("/scim/v2/Users/{id}")));
    assert_eq!(
        u["emails"],
        json!([{"value": "pam@example.com", "primary": true}, {"value": "pam2@example.com", "primary": false}])
    );
    assert_eq!(u["phoneNumbers"], json!([{"value": "222", "type": "mobile"}, {"value": "111", "primary": true}]));
    assert_eq!(
        u["addresses"],
        json!([{"streetAddress": "1725 Slough Avenue", "locality": "Scranton", "region": null, "postalCode": null, "country": "US"}])
    );
    assert_eq!(u["roles"], json!([{"value": "role 1", "primary": true}]));
    assert_eq!(u["userType"], json!(null));
    assert_eq!(u["preferredLanguage"], json!(null));
    assert_eq!(u["timezone"], "America/Los_Angeles");
    assert_eq!(u["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"], "Sales");
    assert_eq!(u["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["costCenter"], json!(null));
    assert_eq!(u["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["manager"], json!({"managerId": null}));
    assert_eq!(
        u["urn:ietf:params:scim:schemas:extension:slack:profile:2.0:User"]["startDate"],
        "2024-04-10T00:00:00+0000"
    );
    assert_eq!(
        u["schemas"],
        json!([
            core("v2"),
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "urn:ietf:params:scim:schemas:extension:slack:profile:2.0:User"
        ])
    );
    assert!(a.raw.contains("\\/scim\\/v2\\/Users"), "slashes escaped like Slack");
    // Same user read through v1.
    let v1 = sim.req("GET", &format!("/scim/v1/Users/{id}"), None);
    assert_eq!(v1.body["schemas"][0], "urn:scim:schemas:core:1.0");
    assert_eq!(v1.body["urn:scim:schemas:extension:enterprise:1.0"]["employeeNumber"], "123");
}

#[test]
fn v1_representation_keeps_an_empty_secondary_email_slot() {
    let sim = Sim::default_off();
    let id = sim.create("v1", "jim", "jim@example.com");
    let u = sim.req("GET", &format!("/scim/v1/Users/{id}"), None).body;
    assert_eq!(u["emails"], json!([{"value": "jim@example.com", "primary": true}, {"value": "", "primary": false}]));
    assert_eq!(u["addresses"][0]["streetAddress"], json!(null));
    assert_eq!(u["phoneNumbers"], json!([{"value": null, "type": "mobile"}, {"value": null, "primary": true}]));
}

#[test]
fn username_rules() {
    let sim = Sim::default_off();
    let a = sim.req("POST", "/scim/v2/Users", Some(user_body("v2", "Jane Doe!", "jd@example.com")));
    assert_eq!(a.body["userName"], "jane_doe_", "specials become underscores");
    let a = sim.req(
        "POST",
        "/scim/v2/Users",
        Some(user_body("v2", "Very.Long.Address.Local.Part@example.com", "x1@example.com")),
    );
    assert_eq!(a.status, 201);
    assert_eq!(a.body["userName"], "very.long.address.loc", "email userName converted and cut to 21");
    let a = sim.req("POST", "/scim/v1/Users", Some(user_body("v1", "abcdefghijklmnopqrstuv", "x2@example.com")));
    assert_eq!((a.status, a.error()), (400, "long_username (user=abcdefghijklmnopqrstuv)".to_owned()));
    let a = sim.req("POST", "/scim/v2/Users", Some(user_body("v2", "jane_doe_", "x3@example.com")));
    assert_eq!((a.status, a.error().starts_with("username_taken")), (409, true));
    let a = sim.req("POST", "/scim/v2/Users", Some(user_body("v2", "General", "x4@example.com")));
    assert!(a.error().starts_with("username_taken"), "channel names share the namespace: {}", a.raw);
    let a = sim.req("POST", "/scim/v2/Users", Some(user_body("v2", "everyone", "x5@example.com")));
    assert!(a.error().starts_with("username_not_allowed"));
    let a = sim.req("POST", "/scim/v2/Users", Some(user_body("v2", "", "x6@example.com")));
    assert!(a.error().starts_with("username_empty"));
    let a = sim.req(
        "POST",
        "/scim/v2/Users",
        Some(json!({"schemas": [core("v2")], "emails": [{"value": "x7@example.com"}]})),
    );
    assert!(a.error().starts_with("username_required"));
    let a = sim.req("POST", "/scim/v2/Users", Some(user_body("v2", "!!!", "x8@example.com")));
    assert!(a.error().starts_with("username_invalid"));
    let a = sim.req(
        "POST",
        "/scim/v2/Users",
        Some(json!({"schemas": [core("v2")], "userName": 5, "emails": [{"value": "x9@example.com"}]})),
    );
    assert!(a.error().starts_with("username_invalid"));
    // The documented code, switchable.
    sim.seed(json!({"settings": {"long_username_code": "username_too_long"}}));
    let a = sim.req("POST", "/scim/v2/Users", Some(user_body("v2", "abcdefghijklmnopqrstuv", "y@example.com")));
    assert!(a.error().starts_with("username_too_long"), "{}", a.raw);
    assert_eq!(a.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
    assert_eq!(a.body["status"], 400, "v2 status is an integer");
}

#[test]
fn email_and_name_rules() {
    let sim = Sim::default_off();
    let id = sim.create("v2", "first", "first@example.com");
    assert_eq!(sim.req("DELETE", &format!("/scim/v2/Users/{id}"), None).status, 204);
    let a = sim.req("POST", "/scim/v2/Users", Some(user_body("v2", "second", "FIRST@example.com")));
    assert_eq!((a.status, a.error().starts_with("email_taken")), (409, true), "deactivated users keep their email");
    let cases = [
        (json!({"schemas": [core("v2")], "userName": "a1"}), "missing_primary_email"),
        (json!({"schemas": [core("v2")], "userName": "a2", "emails": [{"value": ""}]}), "email_empty"),
        (json!({"schemas": [core("v2")], "userName": "a3", "emails": [{"value": "not-an-email"}]}), "email_invalid"),
        (json!({"schemas": [core("v2")], "userName": "a4", "emails": [5]}), "emails_invalid"),
        (
            json!({"schemas": [core("v2")], "userName": "a5", "emails": [{"value": "a5@x.io"}], "displayName": "@boss"}),
            "invalid_starts_with_at",
        ),
        (
            json!({"schemas": [core("v2")], "userName": "a6", "emails": [{"value": "a6@x.io"}], "displayName": "x".repeat(81)}),
            "invalid_display_name",
        ),
        (
            json!({"schemas": [core("v2")], "userName": "a7", "emails": [{"value": "a7@x.io"}], "title": "Boss 🎉"}),
            "invalid_emoji_not_allowed",
        ),
        (
            json!({"schemas": [core("v2")], "userName": "a8", "emails": [{"value": "a8@x.io"}], "name": {"givenName": "a@b"}}),
            "invalid_name_specials",
        ),
        (
            json!({"schemas": [core("v2")], "userName": "a9", "emails": [{"value": "a9@x.io"}], "name": {"givenName": "x".repeat(36)}}),
            "invalid_name_maxlength",
        ),
        (
            json!({"schemas": [core("v2")], "userName": "b1", "emails": [{"value": "b1@x.io"}], "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {}}}),
            "improper_enterprise_schema_format",
        ),
        (
            json!({"schemas": [core("v2")], "userName": "b2", "emails": [{"value": "b2@x.io"}], "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"managerId": "nobody"}}}),
            "invalid_attribute_format",
        ),
        (
            json!({"schemas": [core("v2")], "userName": "b3", "emails": [{"value": "b3@x.io"}], "addresses": ["street"]}),
            "addresses_invalid",
        ),
        (
            json!({"schemas": [core("v2")], "userName": "b4", "emails": [{"value": "b4@x.io"}], "phoneNumbers": [{"type": "work"}]}),
            "phoneNumbers_invalid",
        ),
        (
            json!({"schemas": [core("v2")], "userName": "b5", "emails": [{"value": "b5@x.io"}], "photos": [{"type": "photo"}]}),
            "photos_invalid",
        ),
        (
            json!({"schemas": [core("v2")], "userName": "b6", "emails": [{"value": "b6@x.io"}], "roles": [{"primary": true}]}),
            "roles_invalid",
        ),
        (json!({"userName": "b7", "emails": [{"value": "b7@x.io"}]}), "missing_schema_element"),
        (
            json!({"schemas": [core("v2")], "userName": "b8", "emails": [{"value": "b8@x.io"}], "urn:ietf:params:scim:schemas:extension:slack:guest:2.0:User": {"type": "multi"}}),
            "permission_denied",
        ),
    ];
    for (body, code) in cases {
        let a = sim.req("POST", "/scim/v2/Users", Some(body));
        assert!(a.error().starts_with(code), "expected {code}, got {} {}", a.status, a.raw);
    }
    // A manager may be given by userName or email; Slack stores the id.
    let boss = sim.create("v2", "boss", "boss@example.com");
    let a = sim.req(
        "POST",
        "/scim/v2/Users",
        Some(json!({"schemas": [core("v2")], "userName": "minion", "emails": [{"value": "minion@example.com"}],
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"managerId": "boss@example.com"}}})),
    );
    assert_eq!(
        a.body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["manager"]["managerId"],
        boss.as_str()
    );
    let a = sim.req("POST", "/scim/v2/Users", Some(json!({"schemas": [core("v2")], "userName": "guesty", "displayName": "Guest Y", "emails": [{"value": "g@x.io"}]})));
    assert_eq!(a.body["name"]["givenName"], "Guest Y", "givenName derived from displayName");
    assert_eq!(sim.raw("POST", "/scim/v2/Users", "{not json").error(), "invalid_request_payload");
}

#[test]
fn delete_deactivates_idempotently_and_reactivation_works() {
    let sim = Sim::default_off();
    for v in ["v1", "v2"] {
        let id = sim.create(v, &format!("d{v}"), &format!("d{v}@example.com"));
        for _ in 0..3 {
            let a = sim.req("DELETE", &format!("/scim/{v}/Users/{id}"), None);
            assert_eq!(a.status, if v == "v1" { 200 } else { 204 });
            assert!(a.raw.is_empty(), "empty body");
        }
        let u = sim.req("GET", &format!("/scim/{v}/Users/{id}"), None).body;
        assert_eq!(u["active"], false, "still readable, inactive");
        let listed = sim.req("GET", &format!("/scim/{v}/Users?filter=userName eq \"d{v}\""), None).body;
        assert_eq!(listed["Resources"][0]["active"], false, "lists include deactivated users");
        let body = if v == "v1" {
            json!({"schemas": [core("v1")], "active": true})
        } else {
            patch_op(json!([{"op": "replace", "path": "active", "value": true}]))
        };
        let a = sim.req("PATCH", &format!("/scim/{v}/Users/{id}"), Some(body));
        assert_eq!((a.status, &a.body["active"]), (200, &json!(true)));
        sim.req("DELETE", &format!("/scim/{v}/Users/{id}"), None);
        let mut put = user_body(v, &format!("d{v}"), &format!("d{v}@example.com"));
        put["active"] = json!(true);
        assert_eq!(sim.req("PUT", &format!("/scim/{v}/Users/{id}"), Some(put)).body["active"], true);
    }
    let owner = sim.req("GET", "/scim/v2/Users?filter=userName eq \"primary.owner\"", None).body["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(sim
        .req("DELETE", &format!("/scim/v2/Users/{owner}"), None)
        .error()
        .starts_with("cannot_disable_primary_owner"));
    let ids = sim.seed(json!({"users": [{"user_name": "robot", "email": "robot@slack-bots.com", "role": "bot"},
                                         {"user_name": "own", "email": "own@example.com", "role": "owner"}]}));
    let bot = ids["users"]["robot"].as_str().unwrap();
    assert!(sim
        .req("DELETE", &format!("/scim/v1/Users/{bot}"), None)
        .error()
        .starts_with("cannot_disable_bot_user_with_scim"));
    let bot_u = sim.req("GET", &format!("/scim/v1/Users/{bot}"), None).body;
    assert_eq!(bot_u["schemas"], json!(["urn:scim:schemas:core:1.0"]), "sparse bot users");
    assert!(bot_u.get("addresses").is_none());
    // An Admin's token cannot touch owners.
    sim.seed(json!({"settings": {"token_is_admin": true}}));
    let own = ids["users"]["own"].as_str().unwrap();
    assert!(sim.req("DELETE", &format!("/scim/v2/Users/{own}"), None).error().starts_with("cannot_modify_owner"));
    assert!(sim.req("GET", "/scim/v2/Users/U_bad", None).error().starts_with("cannot_decode_user_id"));
    assert_eq!(sim.req("GET", "/scim/v2/Users/UNOSUCHUSER", None).status, 404);
}

#[test]
fn deactivation_can_lag_like_slack() {
    let sim = Sim::start(SimConfig { rate_limits: false, deactivate_delay_ms: 300, ..SimConfig::default() });
    let id = sim.create("v2", "lag", "lag@example.com");
    sim.req("DELETE", &format!("/scim/v2/Users/{id}"), None);
    assert_eq!(sim.req("GET", &format!("/scim/v2/Users/{id}"), None).body["active"], true, "not yet");
    std::thread::sleep(std::time::Duration::from_millis(400));
    assert_eq!(sim.req("GET", &format!("/scim/v2/Users/{id}"), None).body["active"], false);
}

#[test]
fn v1_partial_patch() {
    let sim = Sim::default_off();
    let id = sim.create("v1", "pat", "pat@example.com");
    let p = |body| sim.req("PATCH", &format!("/scim/v1/Users/{id}"), Some(body));
    let a = p(
        json!({"schemas": [core("v1")], "title": "Boss", "roles": ["Tech Lead"], "name": {"givenName": "Pat", "familyName": "Smith"},
                     "emails": [{"value": "pat@example.com", "primary": true}, {"value": "p2@example.com"}],
                     "urn:scim:schemas:extension:enterprise:1.0": {"department": "R&D", "division": "X"}}),
    );
    assert_eq!(a.status, 200, "{}", a.raw);
    assert_eq!(a.body["title"], "Boss");
    assert_eq!(a.body["name"]["familyName"], "Smith");
    // Keys absent are untouched; " " clears.
    let a = p(json!({"schemas": [core("v1")], "title": " "}));
    assert_eq!(a.body["title"], "");
    assert_eq!(a.body["roles"][0]["value"], "Tech Lead");
    // meta.attributes removals.
    let a = p(
        json!({"schemas": [core("v1")], "meta": {"attributes": ["roles", "name.familyName", "urn:scim:schemas:extension:enterprise:1.0.department"]}}),
    );
    assert_eq!(a.body["roles"], json!([]));
    assert_eq!(a.body["name"]["familyName"], "");
    assert_eq!(a.body["urn:scim:schemas:extension:enterprise:1.0"]["department"], json!(null));
    assert_eq!(a.body["urn:scim:schemas:extension:enterprise:1.0"]["division"], "X");
    // "operation": "delete" elements.
    let a = p(json!({"schemas": [core("v1")], "emails": [{"value": "p2@example.com", "operation": "delete"}]}));
    assert_eq!(a.body["emails"][1]["value"], "");
    let a = p(json!({"schemas": [core("v1")], "emails": [{"value": "pat@example.com", "operation": "delete"}]}));
    assert!(a.error().starts_with("missing_primary_email"));
    let a = p(json!({"schemas": [core("v1")], "password": "x"}));
    assert!(a.error().starts_with("password_change_not_allowed"));
    // userName and nickName mirror each other.
    let a = p(json!({"schemas": [core("v1")], "nickName": "patty"}));
    assert_eq!((a.body["userName"].as_str(), a.body["nickName"].as_str()), (Some("patty"), Some("patty")));
}

#[test]
fn v2_patch_operations() {
    let sim = Sim::start(SimConfig { rate_limits: false, ..SimConfig::default() });
    sim.seed(json!({"settings": {"plan": "enterprise"}}));
    let id = sim.create("v2", "ops", "ops@example.com");
    assert!(id.starts_with('W'), "enterprise (Grid) user ids start with W");
    let p = |ops| {
        let a = sim.req("PATCH", &format!("/scim/v2/Users/{id}"), Some(patch_op(ops)));
        assert!(a.status == 200 || a.status >= 400, "{}", a.raw);
        a
    };
    let a = p(
        json!([{"op": "replace", "path": "title", "value": "CTO"}, {"op": "Add", "path": "emails", "value": [{"value": "ops2@example.com", "primary": false}]}]),
    );
    assert_eq!(
        (a.body["title"].as_str(), a.body["emails"][1]["value"].as_str()),
        (Some("CTO"), Some("ops2@example.com"))
    );
    let a = p(json!([{"op": "replace", "path": "emails[primary eq false]", "value": "ops3@example.com"}]));
    assert_eq!(a.body["emails"][1]["value"], "ops3@example.com");
    let a = p(json!([{"op": "remove", "path": "emails[value eq \"ops3@example.com\"]"}]));
    assert_eq!(a.body["emails"].as_array().unwrap().len(), 1);
    let a = p(json!([{"op": "remove", "path": "emails[value eq \"ops@example.com\"]"}]));
    assert!(a.error().starts_with("missing_primary_email"));
    let a = p(
        json!([{"op": "add", "path": "phoneNumbers", "value": [{"value": "333-333-3333", "primary": true}, {"value": "444", "type": "work"}]}]),
    );
    assert_eq!(
        a.body["phoneNumbers"],
        json!([{"value": "444", "type": "mobile"}, {"value": "333-333-3333", "primary": true}])
    );
    let a = p(json!([{"op": "replace", "path": "phoneNumbers[value eq \"333-333-3333\"].value", "value": "555"}]));
    assert_eq!(a.body["phoneNumbers"][1]["value"], "555");
    let a = p(json!([{"op": "remove", "path": "phoneNumbers[value eq \"444\"]"}]));
    assert_eq!(a.body["phoneNumbers"][0]["value"], json!(null));
    let a = p(
        json!([{"op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "42"},
                     {"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "value": {"department": "Ops"}}]),
    );
    let ent = &a.body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"];
    assert_eq!(
        (ent["employeeNumber"].as_str(), ent["department"].as_str()),
        (Some("42"), Some("Ops")),
        "partial objects merge"
    );
    let a =
        p(json!([{"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.department"}]));
    assert_eq!(a.body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"], json!(null));
    let a = p(
        json!([{"op": "add", "path": "name", "value": {"givenName": "O", "familyName": "P", "honorificPrefix": "Dr."}},
                     {"op": "replace", "path": "name.givenName", "value": "Oz"}, {"op": "remove", "path": "name.honorificPrefix"}]),
    );
    assert_eq!(a.body["name"], json!({"givenName": "Oz", "familyName": "P", "honorificPrefix": null}));
    let a = p(
        json!([{"op": "add", "path": "addresses", "value": [{"locality": "Paris", "country": "FR"}]}, {"op": "add", "path": "roles", "value": ["Lead"]},
                     {"op": "add", "path": "photos", "value": [{"value": "https://example.com/p.png", "primary": true}]}]),
    );
    assert_eq!(
        (a.body["addresses"][0]["locality"].as_str(), a.body["roles"][0]["value"].as_str()),
        (Some("Paris"), Some("Lead"))
    );
    assert_eq!(a.body["photos"][0]["value"], "https://example.com/p.png");
    let a = p(
        json!([{"op": "remove", "path": "address"}, {"op": "remove", "path": "roles"}, {"op": "remove", "path": "photos"}]),
    );
    assert_eq!((a.body["addresses"][0]["locality"].clone(), a.body["roles"].clone()), (json!(null), json!([])));
    // Guests: add, expiration, convert back; conversion reactivates.
    let guest = "urn:ietf:params:scim:schemas:extension:slack:guest:2.0:User";
    sim.req("DELETE", &format!("/scim/v2/Users/{id}"), None);
    let a = p(json!([{"op": "add", "path": guest, "value": {"type": "multi", "expiration": "2030-11-30T23:59:59Z"}}]));
    assert_eq!(
        (a.body[guest]["expiration"].as_str(), a.body["active"].as_bool()),
        (Some("2030-11-30T23:59:59Z"), Some(true))
    );
    assert!(a.body["schemas"].as_array().unwrap().iter().any(|s| s == guest));
    let listed = sim.req("GET", "/scim/v2/Users?filter=restricted eq '1'", None).body;
    assert_eq!(listed["totalResults"], 1);
    let a = p(json!([{"op": "remove", "path": format!("{guest}.expiration")}]));
    assert!(a.body[guest].get("expiration").is_none());
    let a = p(json!([{"op": "remove", "path": guest}]));
    assert!(a.body.get(guest).is_none());
    let a = p(
        json!([{"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:slack:profile:2.0:User:startDate", "value": "2025-01-01T00:00:00+0000"}]),
    );
    assert_eq!(
        a.body["urn:ietf:params:scim:schemas:extension:slack:profile:2.0:User"]["startDate"],
        "2025-01-01T00:00:00+0000"
    );
    // Owners cannot become guests.
    let ids = sim.seed(json!({"users": [{"user_name": "own2", "email": "own2@example.com", "role": "owner"}]}));
    let own = ids["users"]["own2"].as_str().unwrap();
    let a = sim.req(
        "PATCH",
        &format!("/scim/v2/Users/{own}"),
        Some(patch_op(json!([{"op": "add", "path": guest, "value": {"type": "multi"}}]))),
    );
    assert!(a.error().starts_with("cannot_make_user_guest"), "{}", a.raw);
    let a = sim.req("PATCH", &format!("/scim/v2/Users/{id}"), Some(json!({"schemas": [core("v2")], "title": "x"})));
    assert!(a.error().starts_with("missing_schema_element"), "v2 PATCH needs the PatchOp URN");
    let a = p(json!([{"op": "move", "path": "title", "value": "x"}]));
    assert!(a.error().starts_with("invalid_request_payload"));
    let a = p(json!([{"op": "replace", "path": "title", "value": {"x": 1}}]));
    assert!(a.error().starts_with("invalid_attribute_format"));
}

#[test]
fn put_replaces_everything_and_display_name_lock() {
    let sim = Sim::default_off();
    let id = sim.create("v2", "putter", "putter@example.com");
    sim.req("PATCH", &format!("/scim/v2/Users/{id}"), Some(patch_op(json!([{"op": "replace", "path": "title", "value": "T"}, {"op": "replace", "path": "locale", "value": "en-US"}]))));
    let mut body = user_body("v2", "putter2", "putter@example.com");
    body["nickName"] = json!("putter2");
    let a = sim.req("PUT", &format!("/scim/v2/Users/{id}"), Some(body));
    assert_eq!(a.status, 200);
    assert_eq!(
        (a.body["title"].as_str(), a.body["locale"].clone()),
        (Some(""), json!(null)),
        "omitted attributes are blanked"
    );
    assert_eq!(a.body["userName"], "putter2");
    assert!(sim.req("PUT", &format!("/scim/v2/Users/{id}"), Some(json!({"schemas": [core("v2")], "userName": "putter2", "emails": [{"value": "putter@example.com"}], "password": "x"}))).error().starts_with("password_change_not_allowed"));
    sim.seed(json!({"settings": {"display_name_locked": true}}));
    let a = sim.req(
        "PATCH",
        &format!("/scim/v2/Users/{id}"),
        Some(patch_op(json!([{"op": "replace", "path": "displayName", "value": "New Name"}]))),
    );
    assert!(a.error().starts_with(&format!("invalid_display_name (user={id})")), "{}", a.raw);
}
