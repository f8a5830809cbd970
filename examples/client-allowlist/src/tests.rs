//! Native unit tests: the rules on a parsed policy, no wasm and no keys.

// Tests: a failed expectation is a panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use tollgate_sdk::Rules;
use tollgate_sdk::model::grants::route_granted;
use tollgate_sdk::model::{Decision, DenyReason, Grant, Request};
use tollgate_sdk::policy::serde_json::{Value, json};
use tollgate_sdk::policy::{Policy, VerifiedToken};

use super::{ClientAllowlist, RULE};

/// The example's own policy document.
fn policy() -> Policy {
    Policy::from_toml(include_str!("../policy.toml")).unwrap()
}

/// A verified token for `alice` with `claims` on top of her scope.
fn token(claims: Value) -> VerifiedToken {
    let Value::Object(mut all) =
        json!({"sub": "alice", "aud": "shop-api", "scope": "orders", "cognito:groups": ["admins"]})
    else {
        unreachable!()
    };
    if let Value::Object(extra) = claims {
        all.extend(extra);
    }
    VerifiedToken {
        issuer: "https://issuer.example".into(),
        principal: "alice".into(),
        claims: all,
        expires_at: None,
        context: Vec::new(),
    }
}

/// What the module decides: the route rules, then the allow-list.
fn decide(method: &str, path: &str, claims: Value) -> Decision {
    let policy = policy();
    let rules = ClientAllowlist::configure(policy.module_settings(), &policy).unwrap();
    let request = Request {
        method: method.into(),
        path: path.into(),
        ..Request::default()
    };
    let token = token(claims);
    let routes = policy.decide(&request, &token);
    rules.decide(&request, &token, routes)
}

fn forbidden_detail(decision: Decision) -> String {
    let Decision::Deny(deny) = decision else {
        panic!("not a deny: {decision:?}");
    };
    assert_eq!(deny.reason, DenyReason::Forbidden);
    assert_eq!(deny.rule.as_deref(), Some(RULE));
    assert_eq!(deny.principal.as_deref(), Some("alice"));
    deny.detail
}

#[test]
fn the_compiled_in_list_parses_longest_prefix_first() {
    let list = ClientAllowlist::parse(super::ALLOWLIST).unwrap();
    let paths: Vec<&str> = list.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["/orders/refunds", "/orders", "/admin"]);
}

#[test]
fn listed_clients_pass_and_their_grants_keep_them_out_of_the_rest() {
    let Decision::Allow(allow) = decide("GET", "/orders/1", json!({"client_id": "web-shop"}))
    else {
        panic!("web-shop may read orders");
    };
    assert!(!allow.request_dependent, "the client is in the token");
    assert_eq!(
        allow.grants[..4],
        [
            Grant::deny("*", "/orders/refunds"),
            Grant::deny("*", "/orders/refunds/*"),
            Grant::deny("*", "/admin"),
            Grant::deny("*", "/admin/*"),
        ]
    );
    for (method, path, granted) in [
        ("POST", "/orders/2", true),
        ("POST", "/orders/refunds/2", false),
        ("GET", "/admin/users", false),
        ("GET", "/catalog/shoes", true),
    ] {
        assert_eq!(
            route_granted(&allow.grants, method, path),
            granted,
            "{method} {path}"
        );
    }
    // ops-console is on every list: nothing to take out.
    let Decision::Allow(ops) = decide(
        "POST",
        "/orders/refunds/7",
        json!({"client_id": "ops-console"}),
    ) else {
        panic!("ops-console may refund");
    };
    assert!(route_granted(&ops.grants, "GET", "/admin/users"));
}

#[test]
fn other_clients_are_forbidden_with_a_clear_detail() {
    assert_eq!(
        forbidden_detail(decide(
            "POST",
            "/orders/refunds/7",
            json!({"client_id": "web-shop"})
        )),
        "client \"web-shop\" is not on the allow-list for /orders/refunds"
    );
    assert_eq!(
        forbidden_detail(decide(
            "GET",
            "/orders/1",
            json!({"client_id": "partner-x\n"})
        )),
        "client \"partner-x\\n\" is not on the allow-list for /orders"
    );
    assert_eq!(
        forbidden_detail(decide("GET", "/admin/users", json!({}))),
        "a token without a client (`client_id` or `azp` claim) is not on the allow-list for /admin"
    );
    // `azp` names the client when `client_id` is absent.
    assert!(matches!(
        decide("GET", "/orders/1", json!({"azp": "mobile-app"})),
        Decision::Allow(_)
    ));
}

#[test]
fn prefixes_cover_whole_segments_and_unlisted_paths_are_the_route_rules_business() {
    // /catalog is on no list: any client the route rules allow.
    assert!(matches!(
        decide("GET", "/catalog/shoes", json!({"client_id": "partner-x"})),
        Decision::Allow(_)
    ));
    let list = ClientAllowlist::parse(super::ALLOWLIST).unwrap();
    assert_eq!(
        list.entry_for("/orders").map(|e| e.path.as_str()),
        Some("/orders")
    );
    assert_eq!(list.entry_for("/orders-archive"), None);
    assert_eq!(
        list.entry_for("/orders/refunds/1").map(|e| e.path.as_str()),
        Some("/orders/refunds")
    );
    // A route rule's refusal passes unchanged.
    let Decision::Deny(deny) = decide(
        "GET",
        "/admin/users",
        json!({"client_id": "ops-console", "cognito:groups": []}),
    ) else {
        panic!("the route rules refuse non-admins");
    };
    assert_eq!(deny.rule.as_deref(), Some("admin"));
}

#[test]
fn a_broken_list_is_a_config_error_naming_the_field() {
    for (text, field, message) in [
        (
            "[[prefix]]\npath = \"/a/\"\nclients = [\"x\"]",
            "allowlist.toml: prefix[0].path",
            "\"/a/\" is not a plain path below /; write e.g. \"/orders\" (covers /orders and below; no trailing /, no wildcards)",
        ),
        (
            "[[prefix]]\npath = \"/a\"\nclients = []",
            "allowlist.toml: prefix[0].clients",
            "empty; list the clients that may call it, e.g. clients = [\"web-shop\"]",
        ),
        (
            "[[prefix]]\npath = \"/a\"\nclients = [\"x\", \"x\"]",
            "allowlist.toml: prefix[0].clients[1]",
            "\"x\" is listed twice",
        ),
        (
            "[[prefix]]\npath = \"/a\"\nclients = [\"x\"]\n[[prefix]]\npath = \"/a/b\"\nclients = [\"x\", \"y\"]",
            "allowlist.toml: prefix[1].clients",
            "\"y\" may not call /a (the prefix above it), so /a/b cannot let it in; a nested prefix only narrows its clients",
        ),
        (
            "[[prefix]]\npath = \"/a\"\nclients = [\"x\"]\n[[prefix]]\npath = \"/a\"\nclients = [\"y\"]",
            "allowlist.toml: prefix[1].path",
            "/a is already prefix[0]; merge the two",
        ),
        (
            "[[prefix]]\npath = \"/a\"\nclient = [\"x\"]",
            "allowlist.toml: prefix[0].client",
            "unknown field `client`; expected path, clients",
        ),
    ] {
        let e = ClientAllowlist::parse(text).unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.message.as_str()),
            (field, message),
            "{text}"
        );
    }
}

#[test]
fn the_module_takes_no_settings() {
    let text = format!(
        "{}\n[module]\nclients = []\n",
        include_str!("../policy.toml")
    );
    let policy = Policy::from_toml(&text).unwrap();
    let e = ClientAllowlist::configure(policy.module_settings(), &policy).unwrap_err();
    assert_eq!(e.field, "module");
    assert!(
        e.message.starts_with("this module takes no settings"),
        "{}",
        e.message
    );
}
