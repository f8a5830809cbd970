//! Native unit tests: the rules on a parsed policy, no wasm and no keys.

// Tests: a failed expectation is a panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use tollgate_sdk::Rules;
use tollgate_sdk::model::{Allow, ConfigError, Decision, DenyReason, Effect, Grant, Request};
use tollgate_sdk::policy::serde_json::{Value, json};
use tollgate_sdk::policy::{Policy, VerifiedToken};

use super::{BusinessHours, RULE, Utc};

/// Monday 2026-01-05 10:00 UTC.
const MONDAY_10: i64 = 1_767_607_200;
/// Saturday 2026-01-03 10:00 UTC.
const SATURDAY_10: i64 = 1_767_434_400;
const HOUR: i64 = 3600;

/// The example's own policy document.
fn policy() -> Policy {
    Policy::from_toml(include_str!("../policy.toml")).unwrap()
}

fn rules(policy: &Policy) -> BusinessHours {
    BusinessHours::configure(policy.module_settings(), policy).unwrap()
}

/// A verified token for `alice` with `scope`.
fn token(scope: &str) -> VerifiedToken {
    let Value::Object(claims) = json!({"sub": "alice", "aud": "orders-api", "scope": scope}) else {
        unreachable!()
    };
    VerifiedToken {
        issuer: "https://issuer.example".into(),
        principal: "alice".into(),
        claims,
        expires_at: None,
        context: Vec::new(),
    }
}

/// What the module decides: the route rules, then the business hours.
fn decide(method: &str, path: &str, now: i64, scope: &str) -> Decision {
    let policy = policy();
    let request = Request {
        method: method.into(),
        path: path.into(),
        now,
        ..Request::default()
    };
    let token = token(scope);
    let routes = policy.decide(&request, &token);
    rules(&policy).decide(&request, &token, routes)
}

fn allowed(decision: Decision) -> Allow {
    match decision {
        Decision::Allow(allow) => allow,
        other => panic!("not an allow: {other:?}"),
    }
}

const WRITER: &str = "orders.read orders.write";

#[test]
fn the_clock_reads_weekday_hour_and_minute_in_utc() {
    // 1970-01-01 00:00 was a Thursday; 2026-01-05 a Monday.
    assert_eq!(Utc::at(0).to_string(), "thu 00:00 UTC");
    assert_eq!(Utc::at(MONDAY_10 + 59 * 60).to_string(), "mon 10:59 UTC");
    assert_eq!(Utc::at(SATURDAY_10).to_string(), "sat 10:00 UTC");
    assert_eq!(Utc::at(-1).to_string(), "wed 23:59 UTC");
}

#[test]
fn writes_in_business_hours_are_allowed_and_request_dependent() {
    for now in [MONDAY_10 - 2 * HOUR, MONDAY_10, MONDAY_10 + 8 * HOUR - 1] {
        let allow = allowed(decide("POST", "/orders/1", now, WRITER));
        assert_eq!(allow.rule.as_deref(), Some("write orders"));
        assert!(allow.request_dependent);
        // The route rules' grants, unchanged: writes included.
        assert!(allow.grants.contains(&Grant::allow("POST", "/orders/*")));
        assert!(allow.grants.iter().all(|g| g.effect == Effect::Allow));
    }
}

#[test]
fn writes_out_of_hours_are_forbidden_naming_the_hours_and_the_time() {
    for (now, when) in [
        (MONDAY_10 - 2 * HOUR - 1, "mon 07:59 UTC"),
        (MONDAY_10 + 8 * HOUR, "mon 18:00 UTC"),
        (SATURDAY_10, "sat 10:00 UTC"),
    ] {
        let Decision::Deny(deny) = decide("DELETE", "/orders/1", now, WRITER) else {
            panic!("allowed at {when}");
        };
        assert_eq!(deny.reason, DenyReason::Forbidden);
        assert_eq!(deny.principal.as_deref(), Some("alice"));
        assert_eq!(deny.rule.as_deref(), Some(RULE));
        assert_eq!(
            deny.detail,
            format!(
                "writes are allowed from 08:00 to 18:00 UTC on mon, tue, wed, thu, fri; it is {when}"
            )
        );
    }
}

#[test]
fn reads_out_of_hours_are_allowed_with_the_writes_taken_out_of_the_grants() {
    let allow = allowed(decide("GET", "/orders/1", SATURDAY_10, WRITER));
    assert_eq!(allow.rule.as_deref(), Some("read orders"));
    assert!(allow.request_dependent);
    let closed: Vec<Grant> = ["POST", "PUT", "PATCH", "DELETE"]
        .into_iter()
        .map(|m| Grant::deny(m, "/*"))
        .collect();
    assert_eq!(allow.grants[..4], closed[..]);
    // Whatever the route rules granted follows, so a door checking another
    // route against these grants refuses every write and allows reads.
    use tollgate_sdk::model::grants::route_granted;
    assert!(route_granted(&allow.grants, "GET", "/orders/2"));
    assert!(!route_granted(&allow.grants, "POST", "/orders/2"));
}

#[test]
fn tokens_that_may_not_write_are_not_the_hours_business() {
    // No write grant: the time changes nothing, so the allow stays cacheable.
    let allow = allowed(decide("GET", "/orders/1", SATURDAY_10, "orders.read"));
    assert!(!allow.request_dependent);
    assert!(
        allow
            .grants
            .iter()
            .all(|g| (g.method == "GET" || g.method == "HEAD") && g.effect == Effect::Allow),
        "{:?}",
        allow.grants
    );
    // The route rules' refusals pass unchanged, in or out of hours.
    for now in [MONDAY_10, SATURDAY_10] {
        let Decision::Deny(deny) = decide("POST", "/orders/1", now, "orders.read") else {
            panic!("a reader wrote");
        };
        assert_eq!(deny.reason, DenyReason::InsufficientScope);
        assert_eq!(deny.rule.as_deref(), Some("write orders"));
    }
}

fn configure(module: &str) -> Result<BusinessHours, ConfigError> {
    let text = format!(
        "[[issuer]]\nissuer = \"https://issuer.example\"\nalgorithms = [\"ES256\"]\njwks_file = \"jwks.json\"\nany_audience = true\n{module}"
    );
    let policy = Policy::from_toml(&text).unwrap();
    BusinessHours::configure(policy.module_settings(), &policy)
}

fn config_error(module: &str) -> (String, String) {
    let e = configure(module).unwrap_err();
    (e.field, e.message)
}

#[test]
fn days_default_to_monday_to_friday() {
    let hours = configure("[module]\nopen_hour = 0\nclose_hour = 24").unwrap();
    assert!(hours.is_open(MONDAY_10));
    assert!(!hours.is_open(SATURDAY_10));
    let weekend = configure("[module]\nopen_hour = 9\nclose_hour = 12\ndays = [\"sat\"]").unwrap();
    assert!(weekend.is_open(SATURDAY_10));
    assert!(!weekend.is_open(MONDAY_10));
}

#[test]
fn bad_settings_name_their_field_and_what_to_write() {
    let cases: [(&str, &str, &str); 9] = [
        (
            "",
            "module",
            "missing; this module needs its business hours: add [module] with open_hour = 8 and close_hour = 18 (UTC)",
        ),
        (
            "[module]\nopen_hour = 8\nclose_hour = 18\nclosing = 1",
            "module.closing",
            "unknown field `closing`; expected one of open_hour, close_hour, days",
        ),
        (
            "[module]\nclose_hour = 18",
            "module.open_hour",
            "missing; write open_hour = an hour from 0 to 23 (UTC), as in [module] with open_hour = 8 and close_hour = 18 (UTC)",
        ),
        (
            "[module]\nopen_hour = 8\nclose_hour = 25",
            "module.close_hour",
            "25 is out of range; write an hour from 1 to 24 (UTC)",
        ),
        (
            "[module]\nopen_hour = \"8\"\nclose_hour = 18",
            "module.open_hour",
            "expected an integer, found string; write an hour from 0 to 23 (UTC)",
        ),
        (
            "[module]\nopen_hour = 18\nclose_hour = 8",
            "module.close_hour",
            "8 is not after open_hour (18); business hours end later the same day (no overnight windows)",
        ),
        (
            "[module]\nopen_hour = 8\nclose_hour = 18\ndays = []",
            "module.days",
            "empty, so writes would never be allowed; write e.g. days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]",
        ),
        (
            "[module]\nopen_hour = 8\nclose_hour = 18\ndays = [\"mon\", \"Tue\"]",
            "module.days[1]",
            "\"Tue\" is not a day; write one of mon, tue, wed, thu, fri, sat, sun",
        ),
        (
            "[module]\nopen_hour = 8\nclose_hour = 18\ndays = [\"mon\", \"mon\"]",
            "module.days[1]",
            "\"mon\" is listed twice; list it once",
        ),
    ];
    for (module, field, message) in cases {
        assert_eq!(
            config_error(module),
            (field.to_string(), message.to_string()),
            "{module}"
        );
    }
}
