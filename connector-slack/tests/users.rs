//! Users through the real cdylib and the loader against slack-sim, on both API versions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use connector_abi::payload::*;
use connector_abi::CallError;
use serde_json::{json, Value};
use slack_sim::SimConfig;

fn all_attributes(tag: &str) -> Value {
    json!({
        "userName": format!("full.{tag}"), "primaryEmail": format!("full.{tag}@example.com"),
        "givenName": "Pam", "familyName": "Halpert", "honorificPrefix": "Mrs.", "displayName": "Pam H",
        "title": "Receptionist", "preferredLanguage": "en", "userType": "Employee", "locale": "en-US",
        "profileUrl": "https://example.com/pam", "profilePhotoUrl": "https://example.com/pam.png",
        "timezone": "America/New_York", "primaryPhone": "+1-201-555-0123", "mobilePhone": "+1-201-555-0199",
        "roles": "Front Desk", "streetAddress": "1725 Slough Avenue", "locality": "Scranton", "region": "PA",
        "postalCode": "18505", "country": "US", "employeeNumber": "123", "costCenter": "CC1",
        "organization": "Dunder Mifflin", "division": "Scranton Branch", "department": "Sales",
        "startDate": "2024-04-10T00:00:00+0000"
    })
}

fn check_slack_has(env: &Env, user_name: &str, want: &Value) {
    let u = env.user(user_name).unwrap_or_else(|| panic!("{user_name} not in Slack"));
    let ent = &u["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"];
    let phone = |primary: bool| {
        u["phoneNumbers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| if primary { p["primary"] == true } else { p["type"] == "mobile" })
            .map(|p| p["value"].clone())
            .unwrap_or(Value::Null)
    };
    let got = json!({
        "userName": u["userName"], "primaryEmail": u["emails"][0]["value"], "givenName": u["name"]["givenName"],
        "familyName": u["name"]["familyName"], "honorificPrefix": u["name"]["honorificPrefix"], "displayName": u["displayName"],
        "title": u["title"], "preferredLanguage": u["preferredLanguage"], "userType": u["userType"], "locale": u["locale"],
        "profilePhotoUrl": u["photos"][0]["value"], "timezone": u["timezone"], "primaryPhone": phone(true), "mobilePhone": phone(false),
        "roles": u["roles"][0]["value"], "streetAddress": u["addresses"][0]["streetAddress"], "locality": u["addresses"][0]["locality"],
        "region": u["addresses"][0]["region"], "postalCode": u["addresses"][0]["postalCode"], "country": u["addresses"][0]["country"],
        "employeeNumber": ent["employeeNumber"], "costCenter": ent["costCenter"], "organization": ent["organization"],
        "division": ent["division"], "department": ent["department"],
        "startDate": u["urn:ietf:params:scim:schemas:extension:slack:profile:2.0:User"]["startDate"]
    });
    for (k, v) in want.as_object().unwrap() {
        if k == "profileUrl" || k == "manager" {
            continue;
        }
        let g = &got[k];
        let norm = |x: &Value| match x {
            Value::String(s) if s.is_empty() => Value::Null,
            other => other.clone(),
        };
        assert_eq!(norm(g), norm(v), "{k} in Slack");
    }
}

#[test]
fn describe_lists_the_options_and_attributes() {
    let lib = library();
    let d = lib.descriptor();
    assert_eq!((d.name.as_str(), d.display_name.as_str()), ("slack", "Slack Provisioner"));
    let field = |n: &str| d.configuration.iter().find(|f| f.name == n).unwrap_or_else(|| panic!("{n}"));
    assert!(field("accessToken").confidential && field("accessToken").required);
    assert_eq!(field("uniqueUserIdentifier").allowed_values, vec!["userName", "primaryEmail"]);
    assert_eq!(field("removeUserAction").default, Some(json!("Disable")));
    assert_eq!(field("groupMembershipHandling").allowed_values, vec!["Merge", "Overwrite"]);
    for f in [
        "userCreate",
        "userUpdate",
        "userDisable",
        "provisionDisabledUsers",
        "groupProvisioning",
        "rateLimitShare",
        "maxConcurrency",
        "requestTimeoutSeconds",
        "apiVersion",
        "baseUrl",
    ] {
        field(f);
    }
    let users = &d.object_classes.iter().find(|o| o.name == ObjectClass::User).unwrap().attributes;
    for a in all_attributes("x").as_object().unwrap().keys().chain(["manager".to_owned(), "nickName".to_owned()].iter())
    {
        assert!(users.iter().any(|x| &x.name == a), "{a} missing from the descriptor");
    }
}

#[test]
fn open_validates_settings_without_network() {
    let lib = library();
    let bad = |s: Value| lib.open(&TargetSettings { v: 1, settings: s.as_object().unwrap().clone() }).unwrap_err();
    let e = bad(json!({}));
    assert!(
        matches!(e, CallError::Connector(ref i) if i.kind == ErrorKind::Configuration && i.message.contains("accessToken")),
        "{e}"
    );
    let e = bad(json!({"accessToken": TOKEN, "baseUrl": "http://slack.example.com/scim"}));
    assert!(e.to_string().contains("plain http is refused"), "{e}");
    assert!(!e.to_string().contains(TOKEN));
    // An unreachable (but valid) target opens fine: open does not touch the network.
    assert!(lib
        .open(&TargetSettings {
            v: 1,
            settings: json!({"accessToken": TOKEN, "baseUrl": "http://127.0.0.1:1/scim"}).as_object().unwrap().clone()
        })
        .is_ok());
}

#[test]
fn test_operation_says_plainly_what_is_wrong() {
    for v in VERSIONS {
        let env = Env::new(
            v,
            SimConfig { rate_limits: false, workspace_token: Some("xoxp-workspace".into()), ..SimConfig::default() },
        );
        let ok = env.open(json!({})).test().unwrap();
        assert!(ok.message.contains("token accepted"), "{}", ok.message);
        let err = |extra: Value| match env.open(extra).test().unwrap_err() {
            CallError::Connector(e) => e,
            other => panic!("{other}"),
        };
        let e = err(json!({"accessToken": "xoxp-wrong"}));
        if v == "v1" {
            assert_eq!(e.kind, ErrorKind::InvalidCredential);
        } else {
            assert_eq!(e.code.as_deref(), Some("unsupported_version"));
            assert!(e.message.contains("token was rejected or SCIM v2 is not enabled"), "{}", e.message);
        }
        assert!(!e.message.contains("xoxp-wrong"), "the token never appears in errors");
        let e = err(json!({"accessToken": "xoxp-workspace"}));
        assert!(e.message.contains("install the SCIM app on the organization"), "{}", e.message);
        let e = err(json!({"baseUrl": "http://127.0.0.1:1/scim"}));
        assert_eq!(e.kind, ErrorKind::ConnectionFailed);
        assert!(e.message.contains("cannot reach"));
        env.seed(json!({"settings": {"plan": "free"}}));
        let e = err(json!({}));
        assert!(e.message.contains("Business+ or Enterprise Grid"), "{}", e.message);
    }
}

#[test]
fn every_attribute_round_trips_updates_and_clears() {
    for v in VERSIONS {
        let env = Env::off(v);
        let inst = env.open(json!({}));
        let attrs = all_attributes(v);
        let r = run1(&inst, user("s1", attrs.clone()));
        assert_eq!(r.outcome, Outcome::Created, "{r:?}");
        check_slack_has(&env, &format!("full.{v}"), &attrs);
        let id = r.target_id.clone().unwrap();
        // search reads the same attributes back.
        let page = inst
            .search(&SearchRequest {
                v: 1,
                object_class: ObjectClass::User,
                filter: Some(SearchFilter { attribute: "userName".into(), value: format!("full.{v}") }),
                page_size: 10,
                cookie: None,
            })
            .unwrap();
        let got = &page.objects[0].attributes;
        for (k, val) in attrs.as_object().unwrap() {
            if k != "profileUrl" {
                assert_eq!(got.get(k), Some(val), "search: {k}");
            }
        }
        // Update every updatable attribute, the host saying what changed.
        let mut changed_attrs = attrs.clone();
        let mut names = Vec::new();
        for (k, val) in changed_attrs.as_object_mut().unwrap() {
            if !matches!(k.as_str(), "userName" | "profileUrl" | "primaryEmail") {
                *val = json!(format!("{}-2", val.as_str().unwrap()));
                names.push(k.clone());
            }
        }
        changed_attrs["timezone"] = json!("Europe/Paris");
        changed_attrs["primaryEmail"] = json!(format!("full2.{v}@example.com"));
        names.push("primaryEmail".into());
        let mut rec = user("s1", changed_attrs.clone());
        rec.target_id = Some(id.clone());
        rec.changed = Some(names.clone());
        let before = env.stats()["requests_total"].as_u64().unwrap();
        let r = run1(&inst, rec);
        assert_eq!(r.outcome, Outcome::Updated, "{r:?}");
        assert_eq!(env.stats()["requests_total"].as_u64().unwrap() - before, 1, "one PATCH, no read");
        check_slack_has(&env, &format!("full.{v}"), &changed_attrs);
        // Clear every optional attribute: PingFederate cannot, we can.
        let mut cleared = json!({"userName": format!("full.{v}"), "primaryEmail": format!("full2.{v}@example.com")});
        let mut names = Vec::new();
        for k in attrs.as_object().unwrap().keys() {
            if !matches!(k.as_str(), "userName" | "primaryEmail" | "profileUrl" | "timezone" | "displayName") {
                cleared[k] = Value::Null;
                names.push(k.clone());
            }
        }
        let mut rec = user("s1", cleared.clone());
        rec.target_id = Some(id.clone());
        rec.changed = Some(names);
        assert_eq!(run1(&inst, rec).outcome, Outcome::Updated);
        check_slack_has(&env, &format!("full.{v}"), &cleared);
        // Without `changed`, the connector reads and diffs: nothing differs, nothing is sent.
        let mut rec = user("s1", cleared);
        rec.target_id = Some(id);
        let writes = env.stats()["writes"].as_u64().unwrap();
        assert_eq!(run1(&inst, rec).outcome, Outcome::Unchanged);
        assert_eq!(env.stats()["writes"].as_u64().unwrap(), writes, "no write when nothing changed");
    }
}

#[test]
fn matching_links_existing_users_by_either_identifier() {
    for v in VERSIONS {
        let env = Env::off(v);
        env.seed(json!({"users": [{"user_name": "existing", "email": "Existing@Example.com", "title": "Old"}]}));
        for (ident, key_attrs) in [
            ("userName", json!({"userName": "EXISTING", "primaryEmail": "existing@example.com"})),
            ("primaryEmail", json!({"userName": "existing", "primaryEmail": "EXISTING@example.com"})),
        ] {
            let inst = env.open(json!({"uniqueUserIdentifier": ident}));
            let mut a = key_attrs.clone();
            a["title"] = json!("New");
            let r = run1(&inst, user("e1", a.clone()));
            assert_eq!(r.outcome, Outcome::Updated, "{ident}: {r:?}");
            assert_eq!(env.user("existing").unwrap()["title"], "New");
            let writes = env.stats()["writes"].as_u64().unwrap();
            assert_eq!(run1(&inst, user("e1", a)).outcome, Outcome::Unchanged);
            assert_eq!(env.stats()["writes"].as_u64().unwrap(), writes);
            env.seed(json!({})); // keep state; next identifier
            let _ = env.http.post(format!("{}/_sim/reset", env.sim.base_url())).send();
            env.seed(json!({"users": [{"user_name": "existing", "email": "Existing@Example.com", "title": "Old"}]}));
        }
        assert_eq!(env.users().len(), 2, "no duplicate created");
    }
}

#[test]
fn large_batches_read_the_user_list_once_instead_of_one_filter_per_record() {
    let env = Env::off("v2");
    let seed: Vec<Value> =
        (0..1500).map(|i| json!({"user_name": format!("pre{i}"), "email": format!("pre{i}@example.com")})).collect();
    env.seed(json!({"users": seed}));
    let inst = env.open(json!({}));
    let before = env.stats();
    let records: Vec<Record> = (0..300).map(|i| basic(&format!("pre{i}"))).collect();
    let results = run(&inst, records);
    assert!(
        results.iter().all(|r| r.outcome == Outcome::Updated),
        "{:?}",
        results.iter().find(|r| r.outcome != Outcome::Updated)
    );
    let after = env.stats();
    let lists = after["by_endpoint"]["GET /Users"].as_u64().unwrap_or(0)
        - before["by_endpoint"]["GET /Users"].as_u64().unwrap_or(0);
    assert_eq!(lists, 1, "the first page of 1,000 resolved every key: one request instead of 300 filters");
    assert!(after["by_endpoint"].get("GET /Users/{id}").is_none(), "no per-user reads either");
    let patches = after["by_endpoint"]["PATCH /Users/{id}"].as_u64().unwrap();
    assert_eq!(patches, 300);
    // A small batch uses filters.
    let inst = env.open(json!({}));
    run(&inst, vec![basic("solo")]);
    let lists2 = env.stats()["by_endpoint"]["GET /Users"].as_u64().unwrap()
        - after["by_endpoint"]["GET /Users"].as_u64().unwrap();
    assert_eq!(lists2, 1, "one filter lookup for one record");
}

#[test]
fn reactivation_disable_delete_and_the_options() {
    for v in VERSIONS {
        let env = Env::off(v);
        let inst = env.open(json!({}));
        let id = run1(&inst, basic("alice")).target_id.unwrap();
        env.deactivate(&id);
        let r = run1(&inst, basic("alice"));
        assert_eq!((r.outcome, r.target_id.as_deref()), (Outcome::Reactivated, Some(id.as_str())));
        assert_eq!(env.user("alice").unwrap()["active"], true);
        // Re-enable known to the host: `changed: ["active"]`.
        env.deactivate(&id);
        let mut rec = basic("alice");
        rec.target_id = Some(id.clone());
        rec.changed = Some(vec!["active".into()]);
        assert_eq!(run1(&inst, rec).outcome, Outcome::Reactivated);
        // Disable.
        let mut rec = basic("alice");
        rec.event = Event::Disable;
        rec.target_id = Some(id.clone());
        assert_eq!(run1(&inst, rec.clone()).outcome, Outcome::Disabled);
        assert_eq!(env.user("alice").unwrap()["active"], false);
        assert_eq!(run1(&inst, rec).outcome, Outcome::Unchanged, "already disabled");
        // Remove User Action Delete uses DELETE.
        let inst_del = env.open(json!({"removeUserAction": "Delete"}));
        let bob = run1(&inst_del, basic("bob")).target_id.unwrap();
        let mut rec = basic("bob");
        rec.event = Event::Delete;
        rec.target_id = Some(bob);
        let deletes = env.stats()["by_method"]["DELETE"].as_u64().unwrap_or(0);
        assert_eq!(run1(&inst_del, rec).outcome, Outcome::Deleted);
        assert_eq!(env.stats()["by_method"]["DELETE"].as_u64().unwrap(), deletes + 1);
        // Options off.
        let off = env.open(json!({"userCreate": false, "userUpdate": false, "userDisable": false}));
        assert_eq!(run1(&off, basic("carol")).outcome, Outcome::Skipped);
        assert!(env.user("carol").is_none());
        let mut changed = basic("alice");
        changed.attributes.insert("title".into(), json!("Changed"));
        let r = run1(&off, changed);
        assert_eq!(r.outcome, Outcome::Skipped);
        assert!(r.warnings[0].contains("User Update is off"));
        let mut rec = basic("alice");
        rec.event = Event::Delete;
        assert_eq!(run1(&off, rec).outcome, Outcome::Skipped);
        // Provision Disabled Users: create then deactivate.
        let pdu = env.open(json!({"provisionDisabledUsers": true}));
        let mut rec = basic("dora");
        rec.event = Event::Disable;
        assert_eq!(run1(&inst, rec.clone()).outcome, Outcome::Skipped, "off by default: not created");
        assert!(env.user("dora").is_none());
        assert_eq!(run1(&pdu, rec).outcome, Outcome::Disabled);
        assert_eq!(env.user("dora").unwrap()["active"], false);
    }
}

#[test]
fn email_held_by_a_deactivated_account() {
    let env = Env::off("v1");
    let ids = env.seed(json!({"users": [{"user_name": "old.eve", "email": "eve@example.com", "active": false}]}));
    let old = ids["users"]["old.eve"].as_str().unwrap().to_owned();
    // Matching by userName: a different username holds the email: explain and fail.
    let by_name = env.open(json!({"uniqueUserIdentifier": "userName"}));
    let r = run1(&by_name, user("eve", json!({"userName": "eve", "primaryEmail": "eve@example.com"})));
    let e = r.error.unwrap();
    assert_eq!(
        (r.outcome, e.kind, e.code.as_deref()),
        (Outcome::Failed, ErrorKind::AlreadyExists, Some("email_taken"))
    );
    assert!(
        e.message.contains(&old) && e.message.contains("deactivated") && e.message.contains("primaryEmail"),
        "{}",
        e.message
    );
    assert!(!e.message.contains("eve@example.com") && !e.message.contains("old.eve"), "no values: {}", e.message);
    // Matching by primaryEmail: the old account is reactivated and updated.
    let by_email = env.open(json!({"uniqueUserIdentifier": "primaryEmail"}));
    let r = run1(&by_email, user("eve", json!({"userName": "eve", "primaryEmail": "eve@example.com"})));
    assert_eq!((r.outcome, r.target_id.as_deref()), (Outcome::Reactivated, Some(old.as_str())));
    assert_eq!(env.users().len(), 2);
}

#[test]
fn slack_errors_map_to_kinds_with_advice() {
    for v in VERSIONS {
        let env = Env::off(v);
        let inst = env.open(json!({}));
        let r =
            run1(&inst, user("l", json!({"userName": "abcdefghijklmnopqrstuvwxyz", "primaryEmail": "l@example.com"})));
        let e = r.error.unwrap();
        assert_eq!((e.kind, e.retryable), (ErrorKind::InvalidAttribute, false));
        assert!(e.code.as_deref().unwrap().contains("username"), "{e:?}");
        assert!(e.message.contains("21 characters"), "{}", e.message);
        let r = run1(&inst, user("m", json!({"userName": "m", "primaryEmail": "m@example.com", "displayName": "@m"})));
        assert_eq!(r.error.unwrap().code.as_deref(), Some("invalid_starts_with_at"));
        let owner = env.user("primary.owner").unwrap()["id"].as_str().unwrap().to_owned();
        let mut rec = basic("primary.owner");
        rec.event = Event::Disable;
        rec.target_id = Some(owner);
        let e = run1(&inst, rec).error.unwrap();
        assert_eq!(e.kind, ErrorKind::PermissionDenied);
        assert!(e.message.contains("primary owner"), "{}", e.message);
        let r = run1(&inst, user("c", json!({"userName": "general", "primaryEmail": "c@example.com"})));
        let e = r.error.unwrap();
        assert_eq!((e.kind, e.code.as_deref()), (ErrorKind::AlreadyExists, Some("username_taken")));
        assert!(e.message.contains("channel"));
        let r = run1(&inst, user("x", json!({"userName": "x", "primaryEmail": "not-an-email"})));
        assert_eq!(r.error.unwrap().kind, ErrorKind::InvalidAttribute);
    }
}

/// Every combination of User Create, User Update, User Disable and Remove User Action, on both versions.
#[test]
fn every_option_combination() {
    for v in VERSIONS {
        let env = Env::off(v);
        for create in [true, false] {
            for update in [true, false] {
                for disable in [true, false] {
                    for action in ["Disable", "Delete"] {
                        let tag =
                            format!("{}{}{}{}", create as u8, update as u8, disable as u8, &action[..2].to_lowercase());
                        let name = |who: &str| format!("{who}{tag}");
                        let ids = env.seed(json!({"users": [
                            {"user_name": name("ex"), "email": format!("{}@example.com", name("ex")), "title": "Old"},
                            {"user_name": name("di"), "email": format!("{}@example.com", name("di"))},
                            {"user_name": name("de"), "email": format!("{}@example.com", name("de"))},
                        ]}));
                        // Deprovisioning acts only on accounts the host provisioned (it sends their ids).
                        let id_of = |who: &str| ids["users"][name(who)].as_str().map(str::to_owned);
                        let inst = env.open(json!({"userCreate": create, "userUpdate": update, "userDisable": disable, "removeUserAction": action}));
                        let mut changed = basic(&name("ex"));
                        changed.attributes.insert("title".into(), json!("New"));
                        let mut dis = basic(&name("di"));
                        dis.event = Event::Disable;
                        dis.target_id = id_of("di");
                        let mut del = basic(&name("de"));
                        del.event = Event::Delete;
                        del.target_id = id_of("de");
                        let r = run(&inst, vec![basic(&name("nw")), changed, dis, del]);
                        let ctx = format!("{v} create={create} update={update} disable={disable} action={action}");
                        assert_eq!(r[0].outcome, if create { Outcome::Created } else { Outcome::Skipped }, "{ctx}");
                        assert_eq!(env.user(&name("nw")).is_some(), create, "{ctx}");
                        assert_eq!(r[1].outcome, if update { Outcome::Updated } else { Outcome::Skipped }, "{ctx}");
                        assert_eq!(
                            env.user(&name("ex")).unwrap()["title"],
                            if update { "New" } else { "Old" },
                            "{ctx}"
                        );
                        assert_eq!(r[2].outcome, if disable { Outcome::Disabled } else { Outcome::Skipped }, "{ctx}");
                        assert_eq!(env.user(&name("di")).unwrap()["active"], !disable, "{ctx}");
                        let want = match (disable, action) {
                            (false, _) => Outcome::Skipped,
                            (true, "Disable") => Outcome::Disabled,
                            _ => Outcome::Deleted,
                        };
                        assert_eq!(r[3].outcome, want, "{ctx}");
                        assert_eq!(
                            env.user(&name("de")).unwrap()["active"],
                            !disable,
                            "{ctx}: Slack deactivates either way"
                        );
                        assert!(r.iter().all(|x| x.error.is_none()), "{ctx}: {r:?}");
                    }
                }
            }
        }
    }
}

/// A Disable or Delete for a record the host never provisioned (no target id) never adopts the Slack
/// account that shares its identifier: a disabled duplicate in the directory cannot deactivate a live
/// person.
#[test]
fn deprovisioning_never_adopts_an_account_it_did_not_provision() {
    for v in VERSIONS {
        let env = Env::off(v);
        let ids = env.seed(json!({"users": [{"user_name": "live", "email": "live@example.com"}]}));
        let live = ids["users"]["live"].as_str().unwrap().to_owned();
        for settings in [json!({}), json!({"removeUserAction": "Delete"}), json!({"uniqueUserIdentifier": "userName"})]
        {
            let inst = env.open(settings.clone());
            for event in [Event::Disable, Event::Delete] {
                let mut rec = user("dup", json!({"userName": "live", "primaryEmail": "live@example.com"}));
                rec.event = event;
                let r = run1(&inst, rec);
                assert_eq!(r.outcome, Outcome::Skipped, "{v} {settings} {event:?}: {r:?}");
                assert_eq!(r.target_id, None, "{v} {settings} {event:?}");
                assert!(r.warnings.iter().any(|w| w.contains("not provisioned by this connection")), "{r:?}");
                assert_eq!(env.user("live").unwrap()["active"], true, "{v} {settings} {event:?}");
            }
        }
        // Provision Disabled Users creates a disabled account; the live one's email makes that fail.
        let pdu = env.open(json!({"provisionDisabledUsers": true}));
        let mut rec = user("dup", json!({"userName": "dup.other", "primaryEmail": "live@example.com"}));
        rec.event = Event::Disable;
        let r = run1(&pdu, rec);
        assert_eq!(r.outcome, Outcome::Failed, "{v}: {r:?}");
        assert_eq!(env.user("live").unwrap()["active"], true, "{v}");
        assert_eq!(env.user("live").unwrap()["id"], live.as_str(), "{v}");
    }
}

const GUEST: &str = "urn:ietf:params:scim:schemas:extension:slack:guest:2.0:User";

/// Multi-channel guests on both API versions: create with an expiration, read back unchanged, convert
/// guest ⇄ member, set, change and clear the expiration, an expired guest is inactive in Slack, and
/// Admins/Owners cannot be made guests.
#[test]
fn multi_channel_guests_create_convert_and_expire() {
    for v in VERSIONS {
        let env = Env::off(v);
        env.seed(json!({"settings": {"plan": "enterprise"}}));
        let inst = env.open(json!({}));
        let guest = |exp: Option<&str>| {
            let mut attrs =
                json!({"userName": "gail", "primaryEmail": "gail@example.com", "accountType": "multi_channel_guest"});
            if let Some(e) = exp {
                attrs["guestExpiration"] = json!(e);
            }
            user("gail", attrs)
        };
        let r = run1(&inst, guest(Some("2099-01-31T23:59:59Z")));
        assert_eq!(r.outcome, Outcome::Created, "{v}: {r:?}");
        let id = r.target_id.clone().unwrap();
        let u = env.user("gail").unwrap();
        assert_eq!(u[GUEST]["type"], "multi", "{v}: {u}");
        assert_eq!(u[GUEST]["expiration"], "2099-01-31T23:59:59Z", "{v}");
        let known = |mut rec: Record| {
            rec.target_id = Some(id.clone());
            rec
        };
        assert_eq!(run1(&inst, known(guest(Some("2099-01-31T23:59:59Z")))).outcome, Outcome::Unchanged, "{v}");
        // Change, then clear the expiration.
        assert_eq!(run1(&inst, known(guest(Some("2099-06-30T23:59:59Z")))).outcome, Outcome::Updated, "{v}");
        assert_eq!(env.user("gail").unwrap()[GUEST]["expiration"], "2099-06-30T23:59:59Z", "{v}");
        let mut clear = known(guest(None));
        clear.attributes.insert("guestExpiration".into(), json!(""));
        assert_eq!(run1(&inst, clear).outcome, Outcome::Updated, "{v}");
        let u = env.user("gail").unwrap();
        assert_eq!(u[GUEST]["type"], "multi", "{v}: still a guest: {u}");
        assert!(u[GUEST].get("expiration").is_none_or(Value::is_null), "{v}: {u}");
        // Guest → member, member → guest.
        let mut member = known(guest(None));
        member.attributes.insert("accountType".into(), json!("member"));
        assert_eq!(run1(&inst, member).outcome, Outcome::Updated, "{v}");
        assert!(env.user("gail").unwrap().get(GUEST).is_none_or(Value::is_null), "{v}: converted to a member");
        assert_eq!(run1(&inst, known(guest(Some("2099-01-01T00:00:00Z")))).outcome, Outcome::Updated, "{v}");
        assert_eq!(env.user("gail").unwrap()[GUEST]["type"], "multi", "{v}: a guest again");
        // An expiration in the past: Slack deactivates the guest.
        assert_eq!(run1(&inst, known(guest(Some("2001-01-01T00:00:00Z")))).outcome, Outcome::Updated, "{v}");
        assert_eq!(env.user("gail").unwrap()["active"], false, "{v}: expired guests are deactivated");
        // Owners cannot be made guests.
        let owner = env.user("primary.owner").unwrap()["id"].as_str().unwrap().to_owned();
        let mut rec = user("own", json!({"accountType": "multi_channel_guest"}));
        rec.target_id = Some(owner);
        let e = run1(&inst, rec).error.unwrap();
        assert_eq!((e.kind, e.code.as_deref()), (ErrorKind::PermissionDenied, Some("cannot_make_user_guest")), "{v}");
        assert!(e.message.contains("cannot be made guests"), "{v}: {}", e.message);
    }
}

/// A guest among a group's members: the group is created (and updated) with the full members, and the
/// guest is skipped with a warning naming its Slack id.
#[test]
fn groups_skip_guests_slack_refuses_with_a_warning() {
    for v in VERSIONS {
        let env = Env::off(v);
        env.seed(json!({"settings": {"plan": "enterprise"}}));
        let inst = env.open(json!({}));
        let full = run1(&inst, user("full", json!({"userName": "full", "primaryEmail": "full@example.com"})));
        let guest = run1(
            &inst,
            user(
                "gst",
                json!({"userName": "gst", "primaryEmail": "gst@example.com", "accountType": "multi_channel_guest"}),
            ),
        );
        let (full_id, guest_id) = (full.target_id.unwrap(), guest.target_id.unwrap());
        let members = vec![member("full", Some(&full_id)), member("gst", Some(&guest_id))];
        let r = run1(&inst, group("crew", "crew", members.clone()));
        assert_eq!(r.outcome, Outcome::Created, "{v}: {r:?}");
        assert!(r.warnings.iter().any(|w| w.contains(&guest_id) && w.contains("guest")), "{v}: {r:?}");
        let g = env.groups().into_iter().find(|g| g["displayName"] == "crew").unwrap();
        assert_eq!(g["members"].as_array().unwrap().len(), 1, "{v}: only the full member: {g}");
        // An update that adds the guest again (Merge, previous members known) skips it the same way.
        let third = run1(&inst, user("thr", json!({"userName": "thr", "primaryEmail": "thr@example.com"})));
        let mut upd = group(
            "crew",
            "crew",
            vec![
                member("full", Some(&full_id)),
                member("gst", Some(&guest_id)),
                member("thr", third.target_id.as_deref()),
            ],
        );
        upd.target_id = r.target_id.clone();
        upd.previous_members = Some(vec![member("full", Some(&full_id))]);
        upd.changed = Some(vec!["members".into()]);
        let r = run1(&inst, upd);
        assert_eq!(r.outcome, Outcome::Updated, "{v}: {r:?}");
        assert!(r.warnings.iter().any(|w| w.contains(&guest_id)), "{v}: {r:?}");
        let g = env.groups().into_iter().find(|g| g["displayName"] == "crew").unwrap();
        assert_eq!(g["members"].as_array().unwrap().len(), 2, "{v}: full and third: {g}");
    }
}
