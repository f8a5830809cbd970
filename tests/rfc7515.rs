//! RFC 7515 Appendix A example JWSs (A.1 HS256, A.2 RS256, A.3 ES256)
//! decided by the real policy component in the real host, on a fixed clock.
//!
//! The payload of every example is
//! `{"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true}`;
//! none of the example headers carries a `kid`, so every key of the issuer is
//! a candidate.

// Tests: a failed expectation is a panic, and fixtures are indexed directly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use serde_json::json;
use tollgate_host::Authorizer;
use tollgate_host::model::{Decision, DenyReason};
use tollgate_tests::{ScratchDir, authorizer, bearer_request, dir_authorizer};

/// The example payload's `exp`.
const EXP: i64 = 1_300_819_380;

/// The payload segment shared by every Appendix A example.
const PAYLOAD: &str = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";

/// Appendix A.2.1: the RSA public key (no `kid`, as in the RFC).
fn a2_jwk() -> serde_json::Value {
    json!({
        "kty": "RSA",
        "n": "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ",
        "e": "AQAB",
    })
}

/// Appendix A.2.1: the compact JWS, header `{"alg":"RS256"}`.
fn a2_token() -> String {
    format!(
        "eyJhbGciOiJSUzI1NiJ9.{PAYLOAD}.\
         cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7\
         AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4\
         BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K\
         0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqv\
         hJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrB\
         p0igcN_IoypGlUPQGe77Rw"
    )
}

/// Appendix A.3.1: the P-256 public key (no `kid`, as in the RFC).
fn a3_jwk() -> serde_json::Value {
    json!({
        "kty": "EC",
        "crv": "P-256",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    })
}

/// Appendix A.3.1: the compact JWS, header `{"alg":"ES256"}`.
fn a3_token() -> String {
    format!(
        "eyJhbGciOiJFUzI1NiJ9.{PAYLOAD}.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
    )
}

/// Appendix A.1.1: the HMAC key (base64url) and the compact JWS, header
/// `{"typ":"JWT",\r\n "alg":"HS256"}`.
const A1_KEY: &str =
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";

fn a1_token() -> String {
    format!(
        "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.{PAYLOAD}.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    )
}

/// A one-issuer policy for "joe" allowing `alg`, keys from `jwks.json`.
fn policy(alg: &str) -> String {
    format!(
        r#"[[issuer]]
issuer = "joe"
jwks_file = "jwks.json"
any_audience = true
algorithms = ["{alg}"]
principal_claims = ["iss"]
context_claims = ["http://example.com/is_root"]
"#
    )
}

fn jwks_authorizer(alg: &str, jwk: serde_json::Value) -> Authorizer {
    authorizer(
        &policy(alg),
        &[("jwks.json", json!({ "keys": [jwk] }).to_string())],
    )
}

fn expect_allow(decision: &Decision, what: &str) {
    match decision {
        Decision::Allow(allow) => {
            assert_eq!(allow.principal, "joe", "{what}");
            assert_eq!(allow.issuer, "joe", "{what}");
            assert_eq!(allow.expires_at, Some(EXP), "{what}");
            assert_eq!(
                allow.context,
                vec![("http://example.com/is_root".to_string(), "true".to_string())],
                "{what}"
            );
        }
        other => panic!("{what}: expected an allow, got {other:?}"),
    }
}

fn expect_deny(decision: &Decision, reason: DenyReason, what: &str) {
    match decision {
        Decision::Deny(deny) => assert_eq!(deny.reason, reason, "{what}: {}", deny.detail),
        other => panic!("{what}: expected a {} deny, got {other:?}", reason.as_str()),
    }
}

/// Flip one character in the middle of the signature segment (a character
/// whose 6 bits all count, so the result is still canonical base64url).
fn flip_signature_char(token: &str) -> String {
    let (input, signature) = token.rsplit_once('.').expect("three segments");
    let mut chars: Vec<char> = signature.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    let flipped: String = chars.into_iter().collect();
    assert_ne!(flipped, signature);
    format!("{input}.{flipped}")
}

/// The clock-dependent outcomes every example must show.
fn check_clock(authorizer: &Authorizer, token: &str, what: &str) {
    expect_allow(
        &authorizer.authorize(&bearer_request(token, EXP - 1000)),
        &format!("{what} well before exp"),
    );
    expect_allow(
        &authorizer.authorize(&bearer_request(token, EXP)),
        &format!("{what} at exp (within the leeway)"),
    );
    expect_allow(
        &authorizer.authorize(&bearer_request(token, EXP + 59)),
        &format!("{what} at exp + 59 (within the 60 s leeway)"),
    );
    expect_deny(
        &authorizer.authorize(&bearer_request(token, EXP + 60)),
        DenyReason::Expired,
        &format!("{what} at exp + 60"),
    );
    expect_deny(
        &authorizer.authorize(&bearer_request(token, EXP + 1_000_000)),
        DenyReason::Expired,
        &format!("{what} long after exp"),
    );
}

#[test]
fn a2_rs256_allows_on_a_fixed_clock() {
    let authorizer = jwks_authorizer("RS256", a2_jwk());
    check_clock(&authorizer, &a2_token(), "A.2");
}

#[test]
fn a2_rs256_tampered_signature_is_a_bad_signature() {
    let authorizer = jwks_authorizer("RS256", a2_jwk());
    let tampered = flip_signature_char(&a2_token());
    expect_deny(
        &authorizer.authorize(&bearer_request(&tampered, EXP - 1000)),
        DenyReason::BadSignature,
        "A.2 with one signature character flipped",
    );
}

#[test]
fn a2_rs256_against_an_es256_only_policy_is_a_disallowed_algorithm() {
    let authorizer = jwks_authorizer("ES256", a3_jwk());
    expect_deny(
        &authorizer.authorize(&bearer_request(&a2_token(), EXP - 1000)),
        DenyReason::DisallowedAlgorithm,
        "A.2 (RS256) against an ES256-only issuer",
    );
}

#[test]
fn a2_rs256_with_the_wrong_rsa_algorithm_allowed_is_refused() {
    // PS256 allowed, RS256 not: the token's own alg is refused first.
    let authorizer = jwks_authorizer("PS256", a2_jwk());
    expect_deny(
        &authorizer.authorize(&bearer_request(&a2_token(), EXP - 1000)),
        DenyReason::DisallowedAlgorithm,
        "A.2 (RS256) against a PS256-only issuer",
    );
}

#[test]
fn a3_es256_allows_on_a_fixed_clock() {
    let authorizer = jwks_authorizer("ES256", a3_jwk());
    check_clock(&authorizer, &a3_token(), "A.3");
}

/// A key with a `kid` verifies only tokens that name it: the A.3 key given
/// a `kid` no longer verifies the A.3 token, whose header has none.
#[test]
fn a3_es256_without_kid_does_not_find_a_key_that_has_one() {
    let mut jwk = a3_jwk();
    jwk["kid"] = json!("e9bc097a-ce51-4036-9562-d2ade882db0d");
    let authorizer = jwks_authorizer("ES256", jwk);
    expect_deny(
        &authorizer.authorize(&bearer_request(&a3_token(), EXP - 1000)),
        DenyReason::UnknownKey,
        "A.3 against its key given a kid",
    );
}

#[test]
fn a3_es256_tampered_signature_is_a_bad_signature() {
    let authorizer = jwks_authorizer("ES256", a3_jwk());
    let tampered = flip_signature_char(&a3_token());
    expect_deny(
        &authorizer.authorize(&bearer_request(&tampered, EXP - 1000)),
        DenyReason::BadSignature,
        "A.3 with one signature character flipped",
    );
}

#[test]
fn a3_es256_against_an_rs256_only_policy_is_a_disallowed_algorithm() {
    let authorizer = jwks_authorizer("RS256", a2_jwk());
    expect_deny(
        &authorizer.authorize(&bearer_request(&a3_token(), EXP - 1000)),
        DenyReason::DisallowedAlgorithm,
        "A.3 (ES256) against an RS256-only issuer",
    );
}

#[test]
fn a3_es256_with_the_a2_key_only_is_a_key_mismatch() {
    // ES256 allowed, but the only key is the A.2 RSA key: no key fits.
    let authorizer = authorizer(
        &format!(
            "{}\n",
            policy("ES256").replace(
                "algorithms = [\"ES256\"]",
                "algorithms = [\"ES256\", \"RS256\"]"
            )
        ),
        &[("jwks.json", json!({ "keys": [a2_jwk()] }).to_string())],
    );
    expect_deny(
        &authorizer.authorize(&bearer_request(&a3_token(), EXP - 1000)),
        DenyReason::KeyMismatch,
        "A.3 (ES256) with only an RSA key configured",
    );
    // Both keys configured: each example finds its own key without a kid.
    let both = authorizer_with_both_keys();
    expect_allow(
        &both.authorize(&bearer_request(&a2_token(), EXP - 1000)),
        "A.2 with both keys",
    );
    expect_allow(
        &both.authorize(&bearer_request(&a3_token(), EXP - 1000)),
        "A.3 with both keys",
    );
}

fn authorizer_with_both_keys() -> Authorizer {
    authorizer(
        &policy("RS256").replace(
            "algorithms = [\"RS256\"]",
            "algorithms = [\"RS256\", \"ES256\"]",
        ),
        &[(
            "jwks.json",
            json!({ "keys": [a2_jwk(), a3_jwk()] }).to_string(),
        )],
    )
}

#[test]
fn a1_hs256_allows_with_a_local_secret() {
    let dir = ScratchDir::new("rfc7515-a1");
    std::fs::write(dir.0.join("a1.key"), A1_KEY).expect("write the secret");
    let policy = r#"[[issuer]]
issuer = "joe"
any_audience = true
algorithms = ["HS256"]
principal_claims = ["iss"]
context_claims = ["http://example.com/is_root"]

[[issuer.secrets]]
file = "a1.key"
encoding = "base64url"
algorithm = "HS256"
"#;
    let authorizer = dir_authorizer(policy, &dir.0).expect("the A.1 policy is valid");
    check_clock(&authorizer, &a1_token(), "A.1");
    expect_deny(
        &authorizer.authorize(&bearer_request(
            &flip_signature_char(&a1_token()),
            EXP - 1000,
        )),
        DenyReason::BadSignature,
        "A.1 with one signature character flipped",
    );
}
