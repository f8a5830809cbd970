//! Tests of the route rules: matching, requirements, grants, config errors.

use serde_json::{Value, json};

use super::*;
use crate::Policy;
use crate::model::grants::route_granted;
use crate::model::{Decision, DenyReason, DenyStatus, Request, TokenSource};
use crate::test_support::Xorshift as Rng;
use crate::test_support::*;

fn with_routes(routes: &str) -> Policy {
    let text = format!("{}\n{routes}", policy_text(""));
    match Policy::from_toml(&text) {
        Ok(p) => p,
        Err(e) => panic!("policy rejected: {e}\n{text}"),
    }
}

fn routes_error(routes: &str) -> (String, String) {
    let text = format!("{}\n{routes}", policy_text(""));
    match Policy::from_toml(&text) {
        Ok(_) => panic!("accepted:\n{routes}"),
        Err(e) => (e.field, e.message),
    }
}

fn ask(policy: &Policy, method: &str, path: &str, extra_claims: Value) -> Decision {
    let mut claims = claims();
    if let (Some(c), Some(extra)) = (claims.as_object_mut(), extra_claims.as_object()) {
        for (k, v) in extra {
            c.insert(k.clone(), v.clone());
        }
    }
    let token = mint(Algorithm::Rs256, &claims);
    let mut request = request(&token);
    request.method = method.into();
    request.path = path.into();
    policy.authorize(&request, &TestRing::standard())
}

fn anonymous(policy: &Policy, method: &str, path: &str) -> Decision {
    let request = Request {
        method: method.into(),
        path: path.into(),
        now: NOW,
        ..Request::default()
    };
    policy.authorize(&request, &TestRing::standard())
}

fn verdict(decision: &Decision) -> String {
    match decision {
        Decision::Allow(a) => format!("allow {}", a.rule.as_deref().unwrap_or("-")),
        Decision::Deny(d) => format!(
            "deny {} {}",
            d.reason.as_str(),
            d.rule.as_deref().unwrap_or("-")
        ),
        Decision::Error { reason, .. } => format!("error {reason}"),
    }
}

use crate::model::Algorithm;

const ORDERS: &str = r#"
[[route]]
name = "all orders"
methods = ["GET"]
path = "/orders/*"
scopes = ["orders.read"]

[[route]]
name = "admin"
methods = ["GET"]
path = "/orders/admin"
groups = ["admins"]

[[route]]
name = "health"
path = "/health"
public = true
"#;

#[test]
fn no_rules_keep_the_old_meaning_every_valid_token_everywhere() {
    let policy = policy("");
    for (method, path) in [("GET", "/"), ("DELETE", "/anything/at/all"), ("", "")] {
        let Decision::Allow(allow) = ask(&policy, method, path, json!({})) else {
            panic!("denied {method} {path}");
        };
        assert_eq!(allow.grants, vec![Grant::allow("*", "/*")]);
        assert_eq!(allow.rule, None);
    }
    assert!(policy.manifest().rules.is_empty());
}

#[test]
fn the_most_specific_rule_decides_whatever_the_writing_order() {
    let policy = with_routes(ORDERS);
    let reader = json!({"scope": "orders.read"});
    assert_eq!(
        verdict(&ask(&policy, "GET", "/orders/1", reader.clone())),
        "allow all orders"
    );
    // The general rule comes first in the file but cannot shadow the specific one.
    assert_eq!(
        verdict(&ask(&policy, "GET", "/orders/admin", reader.clone())),
        "deny forbidden admin"
    );
    assert_eq!(
        verdict(&ask(
            &policy,
            "GET",
            "/orders/admin",
            json!({"cognito:groups": ["admins"]})
        )),
        "allow admin"
    );
    // Methods are case-sensitive: `get` matches neither GET rule, so it
    // falls to the default (deny), never to a more lenient rule.
    assert_eq!(
        verdict(&ask(
            &policy,
            "get",
            "/orders/admin",
            json!({"scope": "orders.read"})
        )),
        "deny forbidden -"
    );
    // Unmatched routes default to deny once rules exist.
    assert_eq!(
        verdict(&ask(&policy, "POST", "/orders/1", reader.clone())),
        "deny forbidden -"
    );
    assert_eq!(
        verdict(&ask(&policy, "GET", "/orders", reader)),
        "deny forbidden -"
    );
    assert_eq!(
        policy.manifest().rules,
        vec!["all orders", "admin", "health"]
    );
}

#[test]
fn a_rule_no_request_can_reach_is_a_config_error_naming_both() {
    for (routes, first, second) in [
        (
            "[[route]]\nmethods=[\"GET\"]\npath=\"/a/{id}\"\n[[route]]\nmethods=[\"GET\",\"POST\"]\npath=\"/a/{other}\"",
            "route[0] (`GET,HEAD /a/{id}`)",
            "route[1] (`GET,POST,HEAD /a/{other}`)",
        ),
        (
            "[[route]]\npath=\"/a/*\"\n[[route]]\nname=\"again\"\npath=\"/a/{rest+}\"",
            "route[0] (`* /a/*`)",
            "again (`* /a/{rest+}`)",
        ),
    ] {
        let (field, message) = routes_error(routes);
        assert_eq!(field, "route[1].path");
        assert!(
            message.contains(first) && message.contains(second),
            "{message}"
        );
    }
    // Any method and one method on the same path: both reachable.
    with_routes("[[route]]\npath=\"/a\"\n[[route]]\nmethods=[\"GET\"]\npath=\"/a\"");
}

#[test]
fn public_routes_need_no_token_but_a_bad_token_still_denies() {
    let policy = with_routes(ORDERS);
    let Decision::Allow(allow) = anonymous(&policy, "GET", "/health") else {
        panic!("public route refused");
    };
    assert_eq!(allow.principal, "");
    assert_eq!(allow.rule.as_deref(), Some("health"));
    // Anonymous grants: the public routes only.
    assert_eq!(allow.grants, vec![Grant::allow("*", "/health")]);
    // No token elsewhere: 401.
    match anonymous(&policy, "GET", "/orders/1") {
        Decision::Deny(d) => assert_eq!(d.reason, DenyReason::MissingToken),
        other => panic!("{other:?}"),
    }
    // A present but invalid token on a public route: no silent downgrade.
    let mut request = request("not-a-token");
    request.path = "/health".into();
    match policy.authorize(&request, &TestRing::standard()) {
        Decision::Deny(d) => assert_eq!(d.reason, DenyReason::Malformed),
        other => panic!("{other:?}"),
    }
    let mut expired = claims();
    expired["exp"] = json!(NOW - 1000);
    let mut request = self::request(&mint(Algorithm::Es256, &expired));
    request.path = "/health".into();
    assert!(matches!(
        policy.authorize(&request, &TestRing::standard()),
        Decision::Deny(ref d) if d.reason == DenyReason::Expired
    ));
    // A valid token on a public route is an authenticated allow.
    let Decision::Allow(allow) = ask(&policy, "GET", "/health", json!({})) else {
        panic!("refused");
    };
    assert_eq!(allow.principal, "user-1");
    // A request that carried a second credential outside the cache key is not "no token".
    let mut request = request_with(vec![TokenSource::OutsideCacheKey]);
    request.path = "/health".into();
    assert!(matches!(
        policy.authorize(&request, &TestRing::standard()),
        Decision::Deny(_)
    ));
}

#[test]
fn requirements_scopes_groups_claims_issuer_audience() {
    let policy = with_routes(
        r#"
[routes]
groups_claim = "realm_access.roles"

[[route]]
path = "/all-scopes"
scopes = ["a", "b"]
[[route]]
path = "/any-scope"
any_scopes = ["a", "b"]
[[route]]
path = "/groups"
groups = ["admin", "ops"]
[[route]]
path = "/any-group"
any_groups = ["admin", "ops"]
[[route]]
path = "/claims"
claims = [
  { claim = "tier", equals = "gold" },
  { claim = "level", one_of = [3, 4] },
  { claim = "tags", contains = "beta" },
  { claim = "email", prefix = "ops@" },
  { claim = "verified", exists = true },
  { claim = "banned", exists = false },
  { claim = ["https://example.com/org"], equals = "acme" },
]
[[route]]
path = "/issuer"
issuers = ["https://issuer.example"]
[[route]]
path = "/audience"
audiences = ["orders-api"]
[[route]]
path = "/either"
requires_any = [ { scopes = ["x"] }, { groups = ["admin"], requires_all = [ { any_scopes = ["y"] } ] } ]
"#,
    );
    let cases: Vec<(&str, Value, &str)> = vec![
        ("/all-scopes", json!({"scope": "a b"}), "allow"),
        (
            "/all-scopes",
            json!({"scope": "a"}),
            "deny insufficient-scope",
        ),
        ("/all-scopes", json!({"scp": ["b", "a"]}), "allow"),
        ("/all-scopes", json!({"scope": 7}), "deny invalid-claims"),
        ("/audience", json!({"scope": 7}), "allow"),
        ("/any-scope", json!({"scope": "b"}), "allow"),
        (
            "/any-scope",
            json!({"scope": "c"}),
            "deny insufficient-scope",
        ),
        (
            "/groups",
            json!({"realm_access": {"roles": ["ops", "admin"]}}),
            "allow",
        ),
        (
            "/groups",
            json!({"realm_access": {"roles": ["ops"]}}),
            "deny forbidden",
        ),
        (
            "/groups",
            json!({"cognito:groups": ["ops", "admin"]}),
            "deny forbidden",
        ),
        (
            "/any-group",
            json!({"realm_access": {"roles": ["ops"]}}),
            "allow",
        ),
        (
            "/any-group",
            json!({"realm_access": {"roles": "ops"}}),
            "allow",
        ),
        (
            "/any-group",
            json!({"realm_access": {"roles": [1]}}),
            "deny forbidden",
        ),
        (
            "/claims",
            json!({"tier": "gold", "level": 4, "tags": ["a", "beta"], "email": "ops@x", "verified": true, "https://example.com/org": "acme"}),
            "allow",
        ),
        (
            "/claims",
            json!({"tier": "gold", "level": 4, "tags": ["a", "beta"], "email": "ops@x", "verified": true, "https://example.com/org": "acme", "banned": true}),
            "deny forbidden",
        ),
        (
            "/claims",
            json!({"tier": "gold", "level": "4", "tags": ["beta"], "email": "ops@x", "verified": 1, "https://example.com/org": "acme"}),
            "deny forbidden",
        ),
        (
            "/claims",
            json!({"tier": "gold", "level": 3, "tags": "beta", "email": "ops@x", "verified": 1, "https://example.com/org": "acme"}),
            "allow",
        ),
        ("/issuer", json!({}), "allow"),
        ("/audience", json!({}), "allow"),
        ("/either", json!({"scope": "x"}), "allow"),
        (
            "/either",
            json!({"cognito:groups": ["admin"], "scope": "y"}),
            "deny forbidden",
        ),
        (
            "/either",
            json!({"realm_access": {"roles": ["admin"]}, "scope": "z"}),
            "deny insufficient-scope",
        ),
        (
            "/either",
            json!({"realm_access": {"roles": ["admin"]}, "scope": "y"}),
            "allow",
        ),
        (
            "/either",
            json!({"realm_access": {"roles": ["admin"]}}),
            "deny insufficient-scope",
        ),
        ("/either", json!({"scope": "y"}), "deny forbidden"),
    ];
    for (path, claims, want) in cases {
        let got = verdict(&ask(&policy, "GET", path, claims.clone()));
        assert!(got.starts_with(want), "{path} {claims}: {got}, want {want}");
    }
}

#[test]
fn a_scope_deny_names_the_scopes_and_the_rule() {
    let policy = with_routes(ORDERS);
    match ask(&policy, "GET", "/orders/1", json!({"scope": "other"})) {
        Decision::Deny(d) => {
            assert_eq!(d.reason, DenyReason::InsufficientScope);
            assert_eq!(d.required_scopes, vec!["orders.read"]);
            assert_eq!(d.rule.as_deref(), Some("all orders"));
            assert_eq!(d.principal.as_deref(), Some("user-1"));
            assert!(d.detail.contains("orders.read"), "{}", d.detail);
        }
        other => panic!("{other:?}"),
    }
}

const TENANTS: &str = r#"
[[route]]
path = "/tenants/{tenant}/*"
bind = { tenant = "tenant_id" }
"#;

#[test]
fn a_capture_bound_to_a_claim_matches_only_a_plain_segment() {
    let policy = with_routes(TENANTS);
    let acme = json!({"tenant_id": "acme"});
    assert_eq!(
        verdict(&ask(&policy, "GET", "/tenants/acme/x", acme.clone())),
        "allow route[0]"
    );
    assert_eq!(
        verdict(&ask(&policy, "GET", "/tenants/other/x", acme.clone())),
        "deny forbidden route[0]"
    );
    let Decision::Allow(allow) = ask(&policy, "GET", "/tenants/acme/x", acme) else {
        panic!()
    };
    // The grant is concrete: the token's tenant, not the capture.
    assert_eq!(allow.grants, vec![Grant::allow("*", "/tenants/acme/*")]);
    // A claim value never becomes a wildcard, a traversal or two segments.
    for bad in [
        "*", "..", ".", "", "a/b", "%2e%2e", "a?b", "{x}", "a\\b", "a;b",
    ] {
        let claims = json!({ "tenant_id": bad });
        let path = format!("/tenants/{bad}/x");
        let got = verdict(&ask(&policy, "GET", &path, claims.clone()));
        assert!(got.starts_with("deny"), "{bad:?}: {got}");
        let Decision::Deny(_) = ask(&policy, "GET", "/tenants/x/y", claims) else {
            panic!("{bad:?} allowed elsewhere");
        };
    }
    // Numbers are not segments either.
    assert!(
        verdict(&ask(
            &policy,
            "GET",
            "/tenants/7/x",
            json!({"tenant_id": 7})
        ))
        .starts_with("deny")
    );
}

#[test]
fn context_maps_nested_claims_and_arrays_without_control_characters() {
    let policy = with_routes(
        r#"
[limits]
max_context_bytes = 60

[[context]]
claim = "realm_access.roles"
name = "roles"
arrays = "comma"
[[context]]
claim = "realm_access.roles"
name = "roles_json"
[[context]]
claim = "note"
[[context]]
claim = "big"
[[context]]
claim = "small"
"#,
    );
    let claims = json!({
        "realm_access": {"roles": ["a", "b"]},
        "note": "line\r\nSet-Cookie: x",
        "big": "x".repeat(40),
        "small": 1,
    });
    let Decision::Allow(allow) = ask(&policy, "GET", "/", claims) else {
        panic!()
    };
    assert_eq!(
        allow.context,
        vec![
            ("roles".to_string(), "\"a,b\"".to_string()),
            ("roles_json".to_string(), "[\"a\",\"b\"]".to_string()),
            ("small".to_string(), "1".to_string()),
        ]
    );
}

#[test]
fn config_errors_name_the_field_and_what_to_write() {
    let cases = [
        (
            "[[route]]\npath = \"orders\"",
            "route[0].path",
            "start with `/`",
        ),
        (
            "[[route]]\npath = \"/a//b\"",
            "route[0].path",
            "empty segment",
        ),
        (
            "[[route]]\npath = \"/a/{x+}/b\"",
            "route[0].path",
            "last segment",
        ),
        ("[[route]]\npath = \"/a/b*\"", "route[0].path", "mixes text"),
        (
            "[[route]]\npath = \"/a/{x}/{x}\"",
            "route[0].path",
            "appears twice",
        ),
        (
            "[[route]]\nmethods = []\npath = \"/a\"",
            "route[0].methods",
            "empty",
        ),
        (
            "[[route]]\nmethods = [\"GE T\"]\npath = \"/a\"",
            "route[0].methods[0]",
            "not an HTTP method",
        ),
        (
            "[[route]]\npath = \"/a\"\nscopes = [\"a b\"]",
            "route[0].scopes[0]",
            "contains a space",
        ),
        (
            "[[route]]\npath = \"/a\"\npublic = true\nscopes = [\"a\"]",
            "route[0].public",
            "public",
        ),
        (
            "[[route]]\npath = \"/a/{x}\"\nbind = { y = \"sub\" }",
            "route[0].bind.y",
            "no capture",
        ),
        (
            "[[route]]\npath = \"/a/{x+}\"\nbind = { x = \"sub\" }",
            "route[0].bind.x",
            "one-segment",
        ),
        (
            "[[route]]\npath = \"/a\"\nclaims = [{ claim = \"t\" }]",
            "route[0].claims[0]",
            "exactly one",
        ),
        (
            "[[route]]\npath = \"/a\"\nrequires_any = []",
            "route[0].requires_any",
            "empty",
        ),
        (
            "[[route]]\npath = \"/a\"\nrequires_any = [{ scope = [\"a\"] }]",
            "route[0].requires_any[0].scope",
            "unknown field",
        ),
        (
            "[[route]]\npath = \"/a\"\nmethod = \"GET\"",
            "route[0].method",
            "unknown field",
        ),
        (
            "[routes]\ndefault = \"allow\"\n[[route]]\npath = \"/a\"",
            "routes.default",
            "authenticated",
        ),
        (
            "[routes]\ndefault = \"deny\"",
            "routes.default",
            "refuses every request",
        ),
        (
            "[[route]]\nname = \"x\"\npath = \"/a\"\n[[route]]\nname = \"x\"\npath = \"/b\"",
            "route[1].name",
            "unique",
        ),
        ("[[context]]\nname = \"x\"", "context[0].claim", "missing"),
        (
            "[[route]]\nmethods = [\"ANY\"]\npath = \"/a\"",
            "route[0].methods[0]",
            "[\"*\"]",
        ),
        (
            "[[route]]\npath = \"/a\"\n[[route]]\nname = \"route[0]\"\npath = \"/b\"",
            "route[1].name",
            "automatic label",
        ),
        (
            "[[route]]\npath = \"/a\"\nissuers = [\"https://typo.example\"]",
            "route[0].issuers",
            "not configured",
        ),
        (
            "[[route]]\npath = \"/a\"\nrequires_any = [{ issuers = [\"x\"] }]",
            "route[0].issuers",
            "`x` is not configured",
        ),
        (
            "[[context]]\nclaim = \"a\"\nname = \"a b\"",
            "context[0].name",
            "header name",
        ),
    ];
    let clash = Policy::from_toml(&format!(
        "{}\n[[context]]\nclaim = \"email\"",
        policy_text("context_claims = [\"email\"]")
    ))
    .unwrap_err();
    assert_eq!(clash.field, "context[0].name");
    assert!(
        clash.message.contains("issuer[0].context_claims"),
        "{}",
        clash.message
    );
    let empty = Policy::from_toml(&format!("route = []\n{}", policy_text(""))).unwrap_err();
    assert_eq!(empty.field, "route");
    assert!(empty.message.contains("empty list"), "{}", empty.message);
    for (routes, field, needle) in cases {
        let (got_field, message) = routes_error(routes);
        assert_eq!(got_field, field, "{routes}: {message}");
        assert!(message.contains(needle), "{routes}: {message}");
    }
}

#[test]
fn default_authenticated_allows_unmatched_routes_and_grants_say_so() {
    let policy = with_routes(&format!("[routes]\ndefault = \"authenticated\"\n{ORDERS}"));
    let Decision::Allow(allow) = ask(&policy, "POST", "/anything", json!({})) else {
        panic!()
    };
    assert_eq!(allow.rule, None);
    assert_eq!(
        allow.grants,
        vec![
            Grant::allow("*", "/health"),
            Grant::deny("GET", "/orders/admin"),
            Grant::deny("HEAD", "/orders/admin"),
            Grant::deny("GET", "/orders/*"),
            Grant::deny("HEAD", "/orders/*"),
            Grant::allow("*", "/*"),
        ]
    );
}

#[test]
fn grants_leave_out_denies_that_no_later_allow_needs() {
    let policy = with_routes(ORDERS);
    let Decision::Allow(allow) = ask(&policy, "GET", "/orders/1", json!({"scope": "orders.read"}))
    else {
        panic!()
    };
    assert_eq!(
        allow.grants,
        vec![
            Grant::allow("*", "/health"),
            Grant::deny("GET", "/orders/admin"),
            Grant::deny("HEAD", "/orders/admin"),
            Grant::allow("GET", "/orders/*"),
            Grant::allow("HEAD", "/orders/*"),
        ]
    );
}

fn random_rules(rng: &mut Rng) -> String {
    let segments = ["a", "b", "*", "{x}"];
    let lasts = ["a", "b", "*", "{x}", "{rest+}"];
    let methods = [
        "",
        "methods = [\"GET\"]",
        "methods = [\"POST\"]",
        "methods = [\"GET\", \"POST\"]",
    ];
    let requirements = [
        "",
        "scopes = [\"s1\"]",
        "any_scopes = [\"s1\", \"s2\"]",
        "groups = [\"g\"]",
        "public = true",
        "bind = { x = \"tenant\" }",
    ];
    let mut text = String::new();
    if rng.next().is_multiple_of(3) {
        text.push_str("[routes]\ndefault = \"authenticated\"\n");
    }
    for _ in 0..(2 + rng.next() % 6) {
        let depth = 1 + rng.next() % 3;
        let mut path = String::new();
        for i in 0..depth {
            path.push('/');
            let segment = if i + 1 == depth {
                rng.pick(&lasts)
            } else {
                rng.pick(&segments)
            };
            path.push_str(segment);
        }
        let mut requirement = rng.pick(&requirements);
        if requirement.starts_with("bind") && !path.contains("{x}") {
            requirement = "";
        }
        text.push_str(&format!(
            "[[route]]\npath = \"{path}\"\n{}\n{requirement}\n",
            rng.pick(&methods)
        ));
    }
    text
}

fn all_paths() -> Vec<String> {
    let alphabet = ["a", "b", "c", "acme", ""];
    let mut paths = vec![String::from("/")];
    let mut frontier = vec![String::new()];
    for _ in 0..3 {
        let mut next = Vec::new();
        for prefix in &frontier {
            for s in alphabet {
                next.push(format!("{prefix}/{s}"));
            }
        }
        paths.extend(next.iter().cloned());
        frontier = next;
    }
    paths
}

/// For generated rule sets and tokens, the first matching grant answers
/// every route exactly as the rules do: grants are cache-safe.
#[test]
fn grants_answer_every_route_exactly_as_the_rules() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let tokens = [
        json!({}),
        json!({"scope": "s1", "tenant": "acme"}),
        json!({"scope": "s2", "cognito:groups": ["g"], "tenant": "b"}),
        json!({"scope": "s1 s2", "cognito:groups": ["g"], "tenant": "*"}),
    ];
    let paths = all_paths();
    let mut sets = 0;
    while sets < 150 {
        let text = random_rules(&mut rng);
        let full = format!("{}\n{text}", policy_text(""));
        let Ok(policy) = Policy::from_toml(&full) else {
            continue; // an unreachable rule: the generator wrote a duplicate
        };
        sets += 1;
        for claims in &tokens {
            let mut all = self::claims();
            for (k, v) in claims.as_object().unwrap() {
                all[k] = v.clone();
            }
            let token = mint(Algorithm::Hs256, &all);
            let mut grants = None;
            for method in ["GET", "POST", "DELETE"] {
                for path in &paths {
                    let mut request = request(&token);
                    request.method = method.into();
                    request.path = path.clone();
                    let decision = policy.authorize(&request, &TestRing::standard());
                    let allowed = matches!(decision, Decision::Allow(_));
                    // The grants are the same whatever route was asked.
                    // A 403 carries them too, for a per-token cache.
                    let these = match &decision {
                        Decision::Allow(a) => Some(a.grants.clone()),
                        Decision::Deny(d) if d.status == DenyStatus::Forbidden => {
                            Some(d.grants.clone())
                        }
                        Decision::Deny(d) => {
                            assert!(d.grants.is_empty(), "a 401 carries no grants");
                            None
                        }
                        Decision::Error { .. } => None,
                    };
                    if let (Some(g), Some(t)) = (&grants, &these) {
                        assert_eq!(g, t, "grants depend on the route\n{text}");
                    }
                    if grants.is_none() {
                        grants = these;
                    }
                    if let Some(g) = &grants {
                        assert_eq!(
                            route_granted(g, method, path),
                            allowed,
                            "{method} {path} for {claims}: rules say {}, grants {g:?}\n{text}",
                            verdict(&decision)
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn anonymous_grants_cover_exactly_the_public_routes() {
    let mut rng = Rng(42);
    let paths = all_paths();
    let mut sets = 0;
    while sets < 100 {
        let text = random_rules(&mut rng);
        let Ok(policy) = Policy::from_toml(&format!("{}\n{text}", policy_text(""))) else {
            continue;
        };
        sets += 1;
        let grants = policy.routes().anonymous_grants().to_vec();
        for method in ["GET", "POST"] {
            for path in &paths {
                let allowed = matches!(anonymous(&policy, method, path), Decision::Allow(_));
                assert_eq!(
                    route_granted(&grants, method, path),
                    allowed,
                    "{method} {path}\n{text}"
                );
            }
        }
    }
}

#[test]
fn matching_is_a_trie_walk_that_prefers_literals_then_wildcards_then_rests() {
    let policy = with_routes(
        r#"
[[route]]
name = "rest"
path = "/a/*"
[[route]]
name = "one-then-literal"
path = "/a/{x}/c"
[[route]]
name = "literal-then-rest"
path = "/a/b/*"
[[route]]
name = "get-only"
methods = ["GET"]
path = "/a/b/c"
"#,
    );
    let routes = policy.routes();
    let found = |m: &str, p: &str| routes.find(m, p).map(|r| r.label.clone());
    assert_eq!(found("GET", "/a/b/c").as_deref(), Some("get-only"));
    assert_eq!(
        found("POST", "/a/b/c").as_deref(),
        Some("literal-then-rest")
    );
    assert_eq!(found("POST", "/a/z/c").as_deref(), Some("one-then-literal"));
    assert_eq!(
        found("POST", "/a//c").as_deref(),
        Some("rest"),
        "{{x}} needs a non-empty segment"
    );
    assert_eq!(found("POST", "/a/z/d").as_deref(), Some("rest"));
    assert_eq!(found("POST", "/a"), None);
    assert_eq!(found("POST", "a/b"), None);
    assert!(routes.rank("get-only") < routes.rank("literal-then-rest"));
    assert!(routes.rank("literal-then-rest") < routes.rank("one-then-literal"));
    assert!(routes.rank("one-then-literal") < routes.rank("rest"));
}

#[test]
fn configure_warns_about_grants_an_iam_cache_cannot_hold() {
    // Plain, disjoint or simply nested rules: no warning.
    assert!(with_routes(ORDERS).manifest().warnings.is_empty());
    let w = with_routes(TENANTS).manifest().warnings;
    assert!(w.is_empty(), "{w:?}");
    // admin inside orders.read inside the default allow.
    let nested = with_routes(&format!("[routes]\ndefault = \"authenticated\"\n{ORDERS}"));
    let warnings = nested.manifest().warnings;
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains(
            "admin (`GET,HEAD /orders/admin`) lies inside all orders (`GET,HEAD /orders/*`)"
        ) && warnings[0].contains("TTL to 0"),
        "{warnings:?}"
    );
    // A bound capture before the default allow.
    let bound = with_routes(&format!("[routes]\ndefault = \"authenticated\"\n{TENANTS}"));
    let warnings = bound.manifest().warnings;
    assert!(
        warnings.len() == 1 && warnings[0].contains("binds a path segment to a claim"),
        "{warnings:?}"
    );
    // A one-segment wildcard before a rest, not right before it.
    let shape = with_routes("[[route]]\npath = \"/a/{x}/b/*\"\n[[route]]\npath = \"/c/{x}/*\"");
    let warnings = shape.manifest().warnings;
    assert!(
        warnings.len() == 1
            && warnings[0].contains(
                "route[0] (`* /a/{x}/b/*`) has a one-segment wildcard before a final rest"
            ),
        "{warnings:?}"
    );
    // {id} next to {id}/items.
    let deeper = with_routes(
        "[[route]]\npath = \"/orders/{id}\"\nscopes = [\"a\"]\n[[route]]\npath = \"/orders/{id}/items\"\nscopes = [\"b\"]",
    );
    let warnings = deeper.manifest().warnings;
    assert!(
        warnings.len() == 1
            && warnings[0]
                .contains("route[0] (`* /orders/{id}`) has a one-segment wildcard and route[1]"),
        "{warnings:?}"
    );
}

#[test]
fn methods_are_case_sensitive_tokens() {
    let policy = with_routes(
        "[[route]]\nmethods = [\"GET\"]\npath = \"/public/{rest+}\"\npublic = true\n\
         [[route]]\npath = \"/any/{rest+}\"\npublic = true",
    );
    assert!(matches!(
        anonymous(&policy, "GET", "/public/x"),
        Decision::Allow(_)
    ));
    // `get` is another method: it never matches a `GET` rule by accident.
    assert!(matches!(
        anonymous(&policy, "get", "/public/x"),
        Decision::Deny(_)
    ));
    // A rule for any method matches any token.
    assert!(matches!(
        anonymous(&policy, "get", "/any/x"),
        Decision::Allow(_)
    ));
    // And a grant for GET does not cover `get` either.
    let Decision::Allow(allow) = anonymous(&policy, "GET", "/public/x") else {
        panic!("allow");
    };
    assert!(route_granted(&allow.grants, "GET", "/public/x"));
    assert!(!route_granted(&allow.grants, "get", "/public/x"));
    // Rules are written in upper case: a lower-case one is an error.
    let (field, message) = routes_error("[[route]]\nmethods = [\"get\"]\npath = \"/a\"");
    assert_eq!(field, "route[0].methods[0]");
    assert!(message.contains("write \"GET\""), "{message}");
}

#[test]
fn head_matches_get_rules_only_where_the_upstream_does_so() {
    let rules = "[[route]]\nmethods = [\"GET\"]\npath = \"/docs/{rest+}\"\npublic = true";
    let strict = with_routes(&format!("[routes]\nhead_as_get = false\n{rules}"));
    let warnings = strict.manifest().warnings;
    assert!(
        warnings.len() == 1 && warnings[0].contains("head_as_get = false"),
        "{warnings:?}"
    );
    assert!(with_routes(rules).manifest().warnings.is_empty());
    assert!(matches!(
        anonymous(&strict, "HEAD", "/docs/x"),
        Decision::Deny(_)
    ));
    // The default: the upstream serves HEAD with its GET route, so the GET
    // rule governs HEAD (and a protected GET rule protects it: HEAD never
    // falls through to a broader rule).
    for lenient in [
        with_routes(rules),
        with_routes(&format!("[routes]\nhead_as_get = true\n{rules}")),
    ] {
        let Decision::Allow(allow) = anonymous(&lenient, "HEAD", "/docs/x") else {
            panic!("HEAD is served by the GET route");
        };
        assert!(route_granted(&allow.grants, "HEAD", "/docs/x"));
        assert!(matches!(
            anonymous(&lenient, "POST", "/docs/x"),
            Decision::Deny(_)
        ));
    }
    let protected = with_routes(
        "[[route]]\nmethods = [\"GET\"]\npath = \"/reports/{id}\"\nscopes = [\"reports:read\"]\n\
         [[route]]\npath = \"/{rest+}\"\npublic = true",
    );
    assert!(matches!(
        anonymous(&protected, "HEAD", "/reports/1"),
        Decision::Deny(_)
    ));
    let (field, _) = routes_error("[routes]\nhead_as_get = \"yes\"\n[[route]]\npath = \"/a\"");
    assert_eq!(field, "routes.head_as_get");
}

#[test]
fn rule_paths_are_written_in_canonical_form() {
    // A literal that requests can never have in canonical form is an error
    // saying what to write.
    for (paths, rule, hint) in [
        ("", "/%61dmin", "write `admin`"),
        ("", "/a;b", "refuses such paths"),
        ("", "/a%2Fb", "refuses such paths"),
        ("", "/caf\u{e9}", "write `caf%C3%A9`"),
        ("[paths]\ncase = \"lower\"\n", "/Admin", "write `admin`"),
    ] {
        let (field, message) = routes_error(&format!(
            "{paths}[[route]]\npath = \"{rule}\"\npublic = true"
        ));
        assert_eq!(field, "route[0].path", "{rule}");
        assert!(message.contains(hint), "{rule}: {message}");
    }
    // What the options make canonical is accepted.
    with_routes(
        "[paths]\nencoded_delimiters = \"keep\"\n[[route]]\npath = \"/a%2Fb\"\npublic = true",
    );
    with_routes("[paths]\npath_parameters = \"keep\"\n[[route]]\npath = \"/a;b\"\npublic = true");
    with_routes("[[route]]\npath = \"/caf%C3%A9/{id}\"\npublic = true");
}
