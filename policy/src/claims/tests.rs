//! Tests of `claims`.

use serde_json::{Value, json};

use super::*;
use crate::test_support::{AUDIENCE, ISSUER, NOW, claims as base, policy};

fn run(extra: &str, claims: &Value) -> Result<Checked, Deny> {
    let policy = policy(extra);
    assert!(claims.is_object(), "claims must be an object");
    // The claims as the module reads them: the payload's text, parsed.
    let text = serde_json::to_vec(claims).unwrap();
    let object = crate::json::parse_object(&text).unwrap();
    check(&policy.issuers()[0], &object, NOW)
}

#[track_caller]
fn deny(extra: &str, claims: &Value, reason: DenyReason) -> Deny {
    match run(extra, claims) {
        Err(d) => {
            assert_eq!(d.reason, reason, "detail: {}", d.detail);
            d
        }
        Ok(a) => panic!("expected {reason:?}, got {a:?}"),
    }
}

#[track_caller]
fn allow(extra: &str, claims: &Value) -> Checked {
    match run(extra, claims) {
        Ok(a) => a,
        Err(d) => panic!("expected allow, got {d:?}"),
    }
}

fn with(pairs: &[(&str, Value)]) -> Value {
    let mut c = base();
    for (k, v) in pairs {
        c[*k] = v.clone();
    }
    c
}

fn without(names: &[&str]) -> Value {
    let mut c = base();
    for n in names {
        c.as_object_mut().unwrap().remove(*n);
    }
    c
}

#[test]
fn iss_rules() {
    deny("", &without(&["iss"]), DenyReason::MissingClaim);
    deny("", &with(&[("iss", json!(1))]), DenyReason::InvalidClaims);
    deny(
        "",
        &with(&[("iss", json!(null))]),
        DenyReason::InvalidClaims,
    );
    deny(
        "",
        &with(&[("iss", json!([ISSUER]))]),
        DenyReason::InvalidClaims,
    );
    deny(
        "",
        &with(&[("iss", json!("https://issuer.example/"))]),
        DenyReason::WrongIssuer,
    );
    let long = "x".repeat(1000);
    let d = deny("", &with(&[("iss", json!(long))]), DenyReason::WrongIssuer);
    assert!(d.detail.len() < 200, "{}", d.detail);
}

#[test]
fn exp_boundaries() {
    // Default leeway 60: expired iff now >= exp + 60.
    allow("", &with(&[("exp", json!(NOW - 59))]));
    deny("", &with(&[("exp", json!(NOW - 60))]), DenyReason::Expired);
    deny("", &with(&[("exp", json!(NOW - 61))]), DenyReason::Expired);
    // Zero leeway: expired at exp.
    allow("leeway_seconds = 0", &with(&[("exp", json!(NOW + 1))]));
    deny(
        "leeway_seconds = 0",
        &with(&[("exp", json!(NOW))]),
        DenyReason::Expired,
    );
    let a = allow("", &with(&[("exp", json!(NOW + 5))]));
    assert_eq!(a.expires_at, Some(NOW + 5));
}

#[test]
fn exp_presence() {
    deny("", &without(&["exp"]), DenyReason::MissingClaim);
    let a = allow("require_exp = false", &without(&["exp"]));
    assert_eq!(a.expires_at, None);
    // Still checked when present.
    deny(
        "require_exp = false",
        &with(&[("exp", json!(0))]),
        DenyReason::Expired,
    );
}

#[test]
fn numeric_dates_types() {
    // Floats are floored.
    let a = allow("", &with(&[("exp", json!((NOW + 100) as f64 + 0.9))]));
    assert_eq!(a.expires_at, Some(NOW + 100));
    allow(
        "leeway_seconds = 0",
        &with(&[("exp", json!(NOW as f64 + 1.5))]),
    );
    deny(
        "leeway_seconds = 0",
        &with(&[("exp", json!(NOW as f64 + 0.5))]),
        DenyReason::Expired,
    );
    // Huge values saturate.
    let a = allow("", &with(&[("exp", json!(1e300))]));
    assert_eq!(a.expires_at, Some(i64::MAX));
    let a = allow("", &with(&[("exp", json!(u64::MAX))]));
    assert_eq!(a.expires_at, Some(i64::MAX));
    deny("", &with(&[("exp", json!(-1e300))]), DenyReason::Expired);
    deny("", &with(&[("exp", json!(i64::MIN))]), DenyReason::Expired);
    for name in ["exp", "nbf", "iat"] {
        for bad in [
            json!("1700000000"),
            json!(null),
            json!(true),
            json!([1]),
            json!({}),
        ] {
            deny("", &with(&[(name, bad)]), DenyReason::InvalidClaims);
        }
    }
}

#[test]
fn nbf_boundaries() {
    // Not yet valid iff now + leeway < nbf.
    allow("", &with(&[("nbf", json!(NOW + 60))]));
    deny(
        "",
        &with(&[("nbf", json!(NOW + 61))]),
        DenyReason::NotYetValid,
    );
    allow("leeway_seconds = 0", &with(&[("nbf", json!(NOW))]));
    deny(
        "leeway_seconds = 0",
        &with(&[("nbf", json!(NOW + 1))]),
        DenyReason::NotYetValid,
    );
    allow("", &with(&[("nbf", json!(i64::MIN))]));
    deny("", &with(&[("nbf", json!(1e300))]), DenyReason::NotYetValid);
}

#[test]
fn iat_boundaries() {
    allow("", &with(&[("iat", json!(NOW + 60))]));
    deny(
        "",
        &with(&[("iat", json!(NOW + 61))]),
        DenyReason::IssuedInFuture,
    );
    allow("leeway_seconds = 0", &with(&[("iat", json!(NOW))]));
    deny(
        "leeway_seconds = 0",
        &with(&[("iat", json!(NOW + 1))]),
        DenyReason::IssuedInFuture,
    );
    allow("", &without(&["iat"]));
}

#[test]
fn max_lifetime() {
    let cfg = "max_lifetime_seconds = 3600";
    allow(
        cfg,
        &with(&[("iat", json!(NOW)), ("exp", json!(NOW + 3600))]),
    );
    deny(
        cfg,
        &with(&[("iat", json!(NOW)), ("exp", json!(NOW + 3601))]),
        DenyReason::LifetimeTooLong,
    );
    deny(cfg, &without(&["iat"]), DenyReason::MissingClaim);
    deny(
        &format!("{cfg}\nrequire_exp = false"),
        &without(&["exp"]),
        DenyReason::MissingClaim,
    );
    // Saturating: no overflow with extreme values.
    deny(
        cfg,
        &with(&[("iat", json!(i64::MIN)), ("exp", json!(NOW + 10))]),
        DenyReason::LifetimeTooLong,
    );
}

#[test]
fn audiences() {
    allow("", &with(&[("aud", json!(AUDIENCE))]));
    allow("", &with(&[("aud", json!(["x", AUDIENCE]))]));
    allow(r#"audiences = ["a", "b"]"#, &with(&[("aud", json!("b"))]));
    deny("", &with(&[("aud", json!([]))]), DenyReason::WrongAudience);
    deny(
        "",
        &with(&[("aud", json!("orders"))]),
        DenyReason::WrongAudience,
    );
    deny(
        "",
        &with(&[("aud", json!("ORDERS-API"))]),
        DenyReason::WrongAudience,
    );
    deny(
        "",
        &with(&[("aud", json!(["x", "y"]))]),
        DenyReason::WrongAudience,
    );
    deny("", &without(&["aud"]), DenyReason::MissingClaim);
    deny("", &with(&[("aud", json!(1))]), DenyReason::InvalidClaims);
    deny(
        "",
        &with(&[("aud", json!(null))]),
        DenyReason::InvalidClaims,
    );
    deny(
        "",
        &with(&[("aud", json!([AUDIENCE, 1]))]),
        DenyReason::InvalidClaims,
    );
    deny(
        "",
        &with(&[("aud", json!({"a": AUDIENCE}))]),
        DenyReason::InvalidClaims,
    );
}

#[test]
fn client_ids() {
    let cfg = r#"client_ids = ["abc"]"#;
    let c = with(&[("client_id", json!("abc"))]);
    let mut c2 = c.clone();
    c2.as_object_mut().unwrap().remove("aud");
    allow(cfg, &c2);
    // Via aud (ID tokens), string or array.
    allow(cfg, &with(&[("aud", json!("abc"))]));
    allow(cfg, &with(&[("aud", json!(["zzz", "abc"]))]));
    // client_id wins over aud.
    deny(
        cfg,
        &with(&[("client_id", json!("zzz")), ("aud", json!("abc"))]),
        DenyReason::WrongClient,
    );
    deny(
        cfg,
        &with(&[("aud", json!("zzz"))]),
        DenyReason::WrongClient,
    );
    deny(cfg, &without(&["aud"]), DenyReason::MissingClaim);
    deny(
        cfg,
        &with(&[("client_id", json!(7))]),
        DenyReason::InvalidClaims,
    );
    deny(cfg, &with(&[("aud", json!(7))]), DenyReason::InvalidClaims);
    // Both configured: both must pass.
    let both = format!("{cfg}\naudiences = [\"{AUDIENCE}\"]");
    allow(&both, &with(&[("client_id", json!("abc"))]));
    deny(
        &both,
        &with(&[("client_id", json!("no"))]),
        DenyReason::WrongClient,
    );
    deny(
        &both,
        &with(&[("aud", json!("abc")), ("client_id", json!("abc"))]),
        DenyReason::WrongAudience,
    );
}

#[test]
fn token_use() {
    let cfg = r#"token_use = "access""#;
    allow(cfg, &with(&[("token_use", json!("access"))]));
    deny(
        cfg,
        &with(&[("token_use", json!("id"))]),
        DenyReason::WrongTokenUse,
    );
    deny(
        cfg,
        &with(&[("token_use", json!("ACCESS"))]),
        DenyReason::WrongTokenUse,
    );
    deny(cfg, &base(), DenyReason::MissingClaim);
    deny(
        cfg,
        &with(&[("token_use", json!(["access"]))]),
        DenyReason::InvalidClaims,
    );
    allow(r#"token_use = "id""#, &with(&[("token_use", json!("id"))]));
    // Not configured: ignored.
    allow("", &with(&[("token_use", json!(42))]));
}

#[test]
fn required_claims() {
    let cfg = r#"required_claims = ["email", "tenant"]"#;
    allow(cfg, &with(&[("email", json!("a@b")), ("tenant", json!(0))]));
    allow(
        cfg,
        &with(&[("email", json!(false)), ("tenant", json!([]))]),
    );
    let d = deny(
        cfg,
        &with(&[("email", json!("a@b"))]),
        DenyReason::MissingClaim,
    );
    assert!(d.detail.contains("tenant"), "{}", d.detail);
    deny(
        cfg,
        &with(&[("email", json!(null)), ("tenant", json!("t"))]),
        DenyReason::MissingClaim,
    );
}

#[test]
fn scopes() {
    let cfg = r#"required_scopes = ["orders.read", "orders.write"]"#;
    allow(
        cfg,
        &with(&[("scope", json!("orders.write openid orders.read"))]),
    );
    allow(
        cfg,
        &with(&[("scope", json!("  orders.read   orders.write "))]),
    );
    allow(
        cfg,
        &with(&[("scp", json!(["orders.read", "orders.write"]))]),
    );
    allow(cfg, &with(&[("scp", json!("orders.read orders.write"))]));
    let d = deny(
        cfg,
        &with(&[("scope", json!("orders.read"))]),
        DenyReason::InsufficientScope,
    );
    assert!(d.detail.contains("orders.write"), "{}", d.detail);
    assert_eq!(d.status, crate::model::DenyStatus::Forbidden);
    // The scopes a new token needs, for a door's RFC 6750 challenge.
    assert_eq!(d.required_scopes, ["orders.read", "orders.write"]);
    deny(
        cfg,
        &with(&[("scope", json!("orders.readorders.write"))]),
        DenyReason::InsufficientScope,
    );
    deny(
        cfg,
        &with(&[("scope", json!(""))]),
        DenyReason::InsufficientScope,
    );
    deny(
        cfg,
        &with(&[("scp", json!([]))]),
        DenyReason::InsufficientScope,
    );
    let d = deny(cfg, &base(), DenyReason::InsufficientScope);
    assert_eq!(d.status, crate::model::DenyStatus::Forbidden);
    assert_eq!(d.required_scopes, ["orders.read", "orders.write"]);
    deny(
        cfg,
        &with(&[("scope", json!(["orders.read"]))]),
        DenyReason::InvalidClaims,
    );
    deny(
        cfg,
        &with(&[("scp", json!(["orders.read", 1]))]),
        DenyReason::InvalidClaims,
    );
    deny(cfg, &with(&[("scp", json!(1))]), DenyReason::InvalidClaims);
    // `scope` wins over `scp`.
    deny(
        cfg,
        &with(&[
            ("scope", json!("orders.read")),
            ("scp", json!(["orders.read", "orders.write"])),
        ]),
        DenyReason::InsufficientScope,
    );
    // Not configured: ignored.
    allow("", &with(&[("scope", json!(5))]));
}

/// Issue 7, item 8: `scope` was split on any Unicode whitespace, so
/// `"x\u{a0}orders.read"` granted `orders.read`. RFC 6749 section 3.3
/// separates scope tokens by a space (%x20) only.
#[test]
fn scope_tokens_are_separated_by_spaces_only() {
    let cfg = r#"required_scopes = ["orders.read"]"#;
    for separator in [
        "\u{a0}", "\t", "\n", "\r", "\u{2003}", "\u{3000}", "\u{85}", "\u{b}",
    ] {
        for claim in ["scope", "scp"] {
            let value = format!("x{separator}orders.read");
            let d = deny(
                cfg,
                &with(&[(claim, json!(value))]),
                DenyReason::InsufficientScope,
            );
            assert!(
                d.detail.contains("orders.read"),
                "{claim} {value:?}: {}",
                d.detail
            );
        }
    }
    // Spaces (one or many) still separate.
    allow(cfg, &with(&[("scope", json!("x orders.read"))]));
    allow(cfg, &with(&[("scope", json!("x   orders.read "))]));
    allow(cfg, &with(&[("scp", json!(" orders.read"))]));
}

/// Issue 7, item 7: a 403 named no principal (the Lambda door answered
/// `principalId: "anonymous"`) although the caller authenticated.
#[test]
fn a_forbidden_deny_names_the_authenticated_principal() {
    let cfg = r#"required_scopes = ["orders.read"]"#;
    let d = deny(
        cfg,
        &with(&[("scope", json!("profile"))]),
        DenyReason::InsufficientScope,
    );
    assert_eq!(d.principal.as_deref(), Some("user-1"));
    let d = deny(cfg, &base(), DenyReason::InsufficientScope);
    assert_eq!(d.principal.as_deref(), Some("user-1"));
    // No usable principal: not authenticated, whatever the scopes say.
    let mut c = without(&["sub"]);
    c["scope"] = json!("profile");
    let d = deny(cfg, &c, DenyReason::MissingClaim);
    assert_eq!(d.principal, None);
    // Unauthenticated denies never name one.
    let d = deny(
        "",
        &with(&[("exp", json!(NOW - 3600))]),
        DenyReason::Expired,
    );
    assert_eq!(d.principal, None);
}

#[test]
fn principal() {
    assert_eq!(allow("", &base()).principal, "user-1");
    let c = {
        let mut c = without(&["sub"]);
        c["client_id"] = json!("machine");
        c
    };
    assert_eq!(allow("", &c).principal, "machine");
    // Empty or non-string sub falls through.
    let mut c2 = c.clone();
    c2["sub"] = json!("");
    assert_eq!(allow("", &c2).principal, "machine");
    c2["sub"] = json!(12);
    assert_eq!(allow("", &c2).principal, "machine");
    deny("", &without(&["sub"]), DenyReason::MissingClaim);
    let cfg = r#"principal_claims = ["email", "sub"]"#;
    assert_eq!(
        allow(cfg, &with(&[("email", json!("a@b"))])).principal,
        "a@b"
    );
    assert_eq!(allow(cfg, &base()).principal, "user-1");
    let d = deny(
        r#"principal_claims = ["email"]"#,
        &base(),
        DenyReason::MissingClaim,
    );
    assert!(d.detail.contains("email"), "{}", d.detail);
}

#[test]
fn context() {
    let cfg = r#"context_claims = ["n", "f", "s", "b", "null", "obj", "arr", "missing", "sub"]"#;
    let c = with(&[
        ("n", json!(42)),
        ("f", json!(1.5)),
        ("s", json!("he said \"hi\"")),
        ("b", json!(true)),
        ("null", json!(null)),
        ("obj", json!({"b": 1, "a": [2]})),
        ("arr", json!(["x"])),
    ]);
    let a = allow(cfg, &c);
    let pairs: Vec<(&str, &str)> = a
        .context
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        pairs,
        vec![
            ("n", "42"),
            ("f", "1.5"),
            ("s", r#""he said \"hi\"""#),
            ("b", "true"),
            ("null", "null"),
            ("obj", r#"{"a":[2],"b":1}"#),
            ("arr", r#"["x"]"#),
            ("sub", r#""user-1""#),
        ]
    );
    for (_, v) in &a.context {
        serde_json::from_str::<Value>(v).unwrap();
    }
}

#[test]
fn allow_shape() {
    let a = allow("", &base());
    assert_eq!(a.issuer, ISSUER);
    assert_eq!(a.principal, "user-1");
    assert!(a.context.is_empty());
}

#[test]
fn check_order() {
    // Expired beats wrong audience; wrong audience beats scopes.
    let cfg = r#"required_scopes = ["x"]"#;
    deny(
        cfg,
        &with(&[("exp", json!(0)), ("aud", json!("nope"))]),
        DenyReason::Expired,
    );
    deny(
        cfg,
        &with(&[("aud", json!("nope"))]),
        DenyReason::WrongAudience,
    );
    // Wrong issuer beats a malformed exp.
    deny(
        "",
        &with(&[("iss", json!("x")), ("exp", json!("soon"))]),
        DenyReason::WrongIssuer,
    );
}
