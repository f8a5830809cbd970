//! Every vector of Wycheproof's `json_web_signature_test.json`
//! (`tests/data/wycheproof/`) through the real policy component.
//!
//! Each test group gets a one-issuer policy trusting exactly the group's key
//! (a JWK Set file for public keys, a local base64url secret for `oct` keys),
//! with `any_audience = true`. Then:
//!
//! - a `valid` vector must pass parsing, the header checks, key selection and
//!   signature verification, so its decision is a deny from the claims stage
//!   (the payloads are not JWT claims: `invalid-claims`). Its signature is
//!   also verified directly with `tollgate_keys::NativeKey`;
//! - an `invalid` vector must never be allowed, never be an error, and be
//!   refused before the claims stage (parsing, header, key or signature).
//!
//! Each token is tried both as `Authorization: Bearer <jws>` and as a raw
//! credential (the JSON-serialization vectors hold commas, which the header
//! form refuses as several credentials before looking at the token).
//!
//! Deviations from the file, all test-only and listed below with their
//! reasons: two JWK `alg` values are corrected, two `valid` vectors that need
//! a lenient base64 decoder are expected to be refused as malformed, and two
//! `invalid` vectors that are byte-identical to a `valid` one are expected to
//! be decided like it.

// Tests: a failed expectation is a panic, and fixtures are indexed directly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value, json};
use tollgate_host::model::{Algorithm, Decision, DenyReason, Request, TokenSource};
use tollgate_keys::NativeKey;
use tollgate_tests::{
    ScratchDir, b64url_decode, bearer_request, data_dir, dir_authorizer, is_claims_stage,
    try_authorizer,
};

/// Decision time; no vector carries time claims.
const NOW: i64 = 1_700_000_000;

/// The issuer name used in every generated policy.
const ISSUER: &str = "https://wycheproof.example";

/// `valid` vectors tollgate refuses on purpose: Wycheproof's reference
/// decoder skips characters outside the base64url alphabet (the MAC is over
/// the text without the inserted `?`), while tollgate refuses any token
/// holding such a character (`malformed`, see `policy/src/token.rs`). Their
/// signature is checked directly over the input without the `?`.
const VALID_NEEDS_LENIENT_BASE64: [(u64, &str); 2] = [
    (372, "InvalidCharacterInsertedInHeader"),
    (373, "InvalidCharacterInsertedInPayload"),
];

/// `invalid` vectors whose `jws` is byte-for-byte the `jws` of the `valid`
/// vector 357 (`ValidMac`): the padding their comments describe is absent
/// from the file, so no verifier can tell them apart from 357. They must be
/// decided exactly like 357; the test fails if the file is ever corrected.
const INVALID_IDENTICAL_TO_357: [(u64, &str); 2] = [
    (367, "invalidBase64Padding"),
    (370, "invalidBase64PaddingInPayload"),
];

/// The file's JWKs with two test-only corrections:
///
/// - the RFC 7520 P-521 key says `"alg": "ES521"`, which is not a JOSE name
///   (RFC 7518 calls it `ES512`; tollgate rightly refuses `ES521`);
/// - the RFC 7520 RSA key says `"alg": "PS256"`, but its vectors (RFC 7520
///   Figure 20, tcId 346 and 350) are PS384 signatures. A key that declares
///   `alg` may only be used with it (RFC 7517 4.4), so tollgate would refuse
///   PS384 with it. The RFC's own JWK has no `alg`; we label it `PS384`.
fn corrected_jwk(jwk: &Value, vector_algs: &[String]) -> Value {
    let mut jwk = jwk.clone();
    if jwk["alg"] == "ES521" {
        jwk["alg"] = json!("ES512");
    }
    if jwk["alg"] == "PS256"
        && jwk["kid"] == "bilbo.baggins@hobbiton.example"
        && vector_algs.iter().all(|a| a == "PS384")
    {
        jwk["alg"] = json!("PS384");
    }
    jwk
}

/// The algorithms a JWK can verify: its `alg`, else what its type allows.
fn algorithms_for(jwk: &Value) -> Vec<String> {
    if let Some(alg) = jwk["alg"].as_str() {
        return vec![alg.to_string()];
    }
    let names: &[&str] = match (jwk["kty"].as_str(), jwk["crv"].as_str()) {
        (Some("RSA"), _) => &["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"],
        (Some("EC"), Some("P-256")) => &["ES256"],
        (Some("EC"), Some("P-384")) => &["ES384"],
        (Some("EC"), Some("P-521")) => &["ES512"],
        (Some("OKP"), Some("Ed25519")) => &["EdDSA"],
        (Some("oct"), _) => &["HS256", "HS384", "HS512"],
        other => panic!("no algorithm for key type {other:?}"),
    };
    names.iter().map(|s| s.to_string()).collect()
}

/// The `alg` of a compact vector's header, when it decodes.
fn header_alg(jws: &str) -> Option<String> {
    let header = jws.split('.').next()?;
    let bytes = b64url_decode(header).ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    value["alg"].as_str().map(str::to_string)
}

/// A vector's token text: the compact string, or the JSON serialization's text.
fn token_text(jws: &Value) -> String {
    match jws {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One group's configured authorizer, or why setup refused its key.
struct Group {
    jwk: Value,
    symmetric: bool,
    authorizer: tollgate_host::Authorizer,
    /// Why loading the key from disk failed (then `authorizer` got the JWK
    /// Set in memory, where an unusable key is skipped, not fatal).
    setup_refused: Option<String>,
    _dir: ScratchDir,
}

fn build_group(index: usize, group: &Value) -> Group {
    let (raw_jwk, symmetric) = match (group.get("public"), group.get("private")) {
        (Some(public), _) => (public.clone(), false),
        (None, Some(private)) if private["kty"] == "oct" => (private.clone(), true),
        _ => panic!("group {index}: no public key and no oct private key"),
    };
    let vector_algs: Vec<String> = group["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .filter_map(|t| t["jws"].as_str().and_then(header_alg))
        .collect();
    let jwk = corrected_jwk(&raw_jwk, &vector_algs);
    let algorithms = algorithms_for(&jwk);
    let list = algorithms
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let dir = ScratchDir::new(&format!("wycheproof-{index}"));
    let mut policy =
        format!("[[issuer]]\nissuer = \"{ISSUER}\"\nany_audience = true\nalgorithms = [{list}]\n");
    if symmetric {
        let k = jwk["k"].as_str().expect("oct key has k");
        std::fs::write(dir.0.join("secret.b64u"), k).expect("write secret");
        let alg = jwk["alg"].as_str().expect("oct key has alg");
        writeln!(
            policy,
            "\n[[issuer.secrets]]\nkid = {}\nfile = \"secret.b64u\"\nencoding = \"base64url\"\nalgorithm = \"{alg}\"",
            jwk["kid"]
        )
        .expect("write to string");
    } else {
        std::fs::write(
            dir.0.join("jwks.json"),
            json!({ "keys": [jwk.clone()] }).to_string(),
        )
        .expect("write jwks");
        policy.push_str("jwks_file = \"jwks.json\"\n");
    }
    let (authorizer, setup_refused) = match dir_authorizer(&policy, &dir.0) {
        Ok(a) => (a, None),
        Err(tollgate_host::AuthorizerError::Keys { source, .. }) if !symmetric => {
            // A JWK Set file without a usable key is a setup error; served
            // from memory the key is skipped and lookups find nothing.
            let jwks = json!({ "keys": [jwk.clone()] }).to_string();
            let fallback = try_authorizer(&policy, &[("jwks.json", jwks)]).unwrap_or_else(|e| {
                panic!("group {index}: the in-memory fallback is refused too: {e}")
            });
            (fallback, Some(source.to_string()))
        }
        Err(other) => panic!("group {index}: the generated policy is refused: {other}\n{policy}"),
    };
    Group {
        jwk,
        symmetric,
        authorizer,
        setup_refused,
        _dir: dir,
    }
}

/// The key as tollgate would load it, for direct verification.
fn verification_key(group: &Group) -> NativeKey {
    if group.symmetric {
        let secret = b64url_decode(group.jwk["k"].as_str().expect("k")).expect("k is base64url");
        let alg = Algorithm::from_name(group.jwk["alg"].as_str().expect("alg")).expect("HS alg");
        NativeKey::from_secret(&secret, group.jwk["kid"].as_str().map(String::from), alg)
            .expect("secret")
    } else {
        NativeKey::from_jwk(&group.jwk).expect("valid vectors have usable keys")
    }
}

/// Verify a compact JWS's signature directly (the vector's own `alg`).
fn verify_directly(group: &Group, jws: &str) -> Result<(), String> {
    let (input, signature) = jws.rsplit_once('.').ok_or("no signature segment")?;
    let signature = b64url_decode(signature).map_err(|e| format!("signature: {e}"))?;
    let alg = header_alg(jws).ok_or("header does not decode")?;
    let alg = Algorithm::from_name(&alg).ok_or_else(|| format!("unknown alg {alg}"))?;
    verification_key(group)
        .verify(alg, input.as_bytes(), &signature)
        .map_err(|e| format!("{alg}: {e}"))
}

/// A short label for a decision.
fn label(decision: &Decision) -> String {
    match decision {
        Decision::Allow(allow) => format!("ALLOW({})", allow.principal),
        Decision::Deny(deny) => deny.reason.as_str().to_string(),
        Decision::Error { reason, .. } => format!("ERROR({reason})"),
    }
}

fn raw_request(token: &str) -> Request {
    Request {
        token_sources: vec![TokenSource::Raw(token.to_string())],
        method: "GET".into(),
        path: "/".into(),
        now: NOW,
        ..Request::default()
    }
}

fn deny_reason(decision: &Decision) -> Option<DenyReason> {
    match decision {
        Decision::Deny(deny) => Some(deny.reason),
        _ => None,
    }
}

#[test]
fn every_wycheproof_jws_vector() {
    let path = data_dir().join("wycheproof/json_web_signature_test.json");
    let text = std::fs::read_to_string(&path).expect("read the vectors");
    let file: Value = serde_json::from_str(&text).expect("vectors are JSON");
    let groups = file["testGroups"].as_array().expect("testGroups");

    let jws_357 = groups
        .iter()
        .flat_map(|g| g["tests"].as_array().expect("tests"))
        .find(|t| t["tcId"] == 357)
        .map(|t| token_text(&t["jws"]))
        .expect("vector 357");

    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures: Vec<String> = Vec::new();
    let (mut valid, mut invalid) = (0usize, 0usize);

    for (index, group_doc) in groups.iter().enumerate() {
        let group = build_group(index, group_doc);
        for test in group_doc["tests"].as_array().expect("tests") {
            let tc_id = test["tcId"].as_u64().expect("tcId");
            let comment = test["comment"].as_str().unwrap_or_default();
            let result = test["result"].as_str().expect("result");
            let jws = token_text(&test["jws"]);
            let name = format!("tcId {tc_id} ({result}, {comment:?}, group {index})");
            let mut fail = |message: String| failures.push(format!("{name}: {message}"));

            if let (Some(why), "valid") = (&group.setup_refused, result) {
                fail(format!("setup refused the key of a valid vector: {why}"));
            }
            let authorizer = &group.authorizer;
            let bearer = authorizer.authorize(&bearer_request(&jws, NOW));
            let raw = authorizer.authorize(&raw_request(&jws));
            let mut outcome = if label(&bearer) == label(&raw) {
                label(&raw)
            } else {
                format!("{} (bearer: {})", label(&raw), label(&bearer))
            };
            if group.setup_refused.is_some() {
                outcome = format!("key refused at setup; in memory: {outcome}");
            }
            *tally.entry(format!("{result}: {outcome}")).or_default() += 1;

            match result {
                "valid" => {
                    valid += 1;
                    if let Some((_, why)) = VALID_NEEDS_LENIENT_BASE64
                        .iter()
                        .find(|(id, _)| *id == tc_id)
                    {
                        // Known exception: strict base64url refuses it.
                        for d in [&bearer, &raw] {
                            if deny_reason(d) != Some(DenyReason::Malformed) {
                                fail(format!(
                                    "{why}: expected malformed (strict base64url), got {d:?}"
                                ));
                            }
                        }
                        let cleaned: String = jws.chars().filter(|c| *c != '?').collect();
                        if let Err(e) = verify_directly(&group, &cleaned) {
                            fail(format!("the signature without `?` does not verify: {e}"));
                        }
                        continue;
                    }
                    for (form, d) in [("bearer", &bearer), ("raw", &raw)] {
                        if !deny_reason(d).is_some_and(is_claims_stage) {
                            fail(format!(
                                "{form}: expected a claims-stage deny (signature verified), got {d:?}"
                            ));
                        }
                    }
                    if let Err(e) = verify_directly(&group, &jws) {
                        fail(format!("direct verification failed: {e}"));
                    }
                }
                "invalid" => {
                    invalid += 1;
                    if let Some((_, why)) =
                        INVALID_IDENTICAL_TO_357.iter().find(|(id, _)| *id == tc_id)
                    {
                        // Known exception: the same bytes as the valid 357.
                        if jws != jws_357 {
                            fail(format!(
                                "{why}: no longer identical to 357; remove it from INVALID_IDENTICAL_TO_357"
                            ));
                        }
                        for d in [&bearer, &raw] {
                            if !deny_reason(d).is_some_and(is_claims_stage) {
                                fail(format!("{why}: expected 357's outcome, got {d:?}"));
                            }
                        }
                        continue;
                    }
                    for (form, d) in [("bearer", &bearer), ("raw", &raw)] {
                        match deny_reason(d) {
                            Some(reason) if !is_claims_stage(reason) => {}
                            _ => fail(format!(
                                "{form}: expected a deny before the claims stage, got {d:?}"
                            )),
                        }
                    }
                }
                other => fail(format!("unexpected result {other:?}")),
            }
        }
    }

    eprintln!("Wycheproof JWS vectors: {valid} valid, {invalid} invalid");
    for (outcome, count) in &tally {
        eprintln!("  {count:4}  {outcome}");
    }
    assert!(
        failures.is_empty(),
        "{} vector(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(file["numberOfTests"], json!(401), "the file changed");
    assert_eq!(valid + invalid, 401, "every vector ran");
    assert_eq!(valid, 46, "valid vectors");
    assert_eq!(invalid, 355, "invalid vectors");
}
