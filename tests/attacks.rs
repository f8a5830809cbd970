//! A data-driven attack corpus: every `tests/corpus/attacks/*.json` file is
//! one case, run through the real policy component in the real host.
//!
//! Adding a case is adding a file. The test runs every case (in file-name
//! order), collects all failures, and fails at the end naming each failing
//! case. The keys are committed in `tests/data/keys/` (tollgate signing key
//! files); nothing is generated at test time.
//!
//! # Case format
//!
//! ```json
//! {
//!   "description": "what the attack is and why it must fail",
//!   "policy": "default",
//!   "sign": "rsa-1",
//!   "header": { "kid": "../../etc/passwd" },
//!   "claims": { "exp": "$now-60" },
//!   "token": "{h}.{p}.{s}",
//!   "source": "bearer",
//!   "expect": "unknown-key"
//! }
//! ```
//!
//! - `policy`: `default` (issuer `https://issuer.example`, audience `api`,
//!   RS256/ES256/EdDSA, keys rsa-1, ec-1, ed-1), `with-hmac` (the same plus
//!   HS256 with the local secret of key hmac-1) or `two-issuers` (default plus
//!   `https://second.example`, audience `api`, RS256/ES256, key ec-2) or
//!   `no-kids` (the default issuer's keys published without `kid`, and
//!   HS256 with hmac-1's secret configured without `kid`: a key with a
//!   `kid` verifies only tokens that name it). Default `default`.
//! - `sign`: a key of `tests/data/keys/` (`rsa-1`, `ec-1`, `ed-1`, `ec-2`,
//!   `hmac-1`, `attacker-rsa`: an RSA key whose kid is also `rsa-1`); `none`
//!   (empty signature); or HS256 keyed with rsa-1's public key in some form:
//!   `hmac-with-rsa-jwk` (its public JWK's JSON text), `hmac-with-rsa-jwks`
//!   (the JWK Set file's text, as served), `hmac-with-rsa-pkcs1-der`,
//!   `hmac-with-rsa-spki-der`, `hmac-with-rsa-pkcs1-pem`,
//!   `hmac-with-rsa-spki-pem`. Default `rsa-1`. The signature is always made
//!   with that key's own algorithm, whatever the header says.
//! - `header`: merged over `{"alg": <signer's alg>, "typ": "JWT", "kid":
//!   <signer's kid>}` (`none` has no kid; the `hmac-with-rsa-*` signers use
//!   alg `HS256`, kid `rsa-1`); a `null` member removes the default.
//! - `claims`: merged over `{"iss": "https://issuer.example", "sub": "user-1",
//!   "aud": "api", "iat": "$now-10", "exp": "$now+300"}`; `null` removes.
//! - `raw_header` / `raw_payload`: exact JSON text instead (still signed).
//! - `header_pad_to`: pad the header (member `hpad`) to exactly this many
//!   decoded bytes. `pad_to`: pad the claims (member `pad`, and the header
//!   if needed) so the whole token is exactly this many bytes.
//! - `other_claims`: merged over the case's claims to sign a second token,
//!   whose segments are `{other_h}`, `{other_p}`, `{other_s}` in `token`.
//! - `token`: a template for the final token; default `{h}.{p}.{s}` (the
//!   signed segments). Also `{h_pad}`, `{p_pad}`, `{s_pad}` (with `=`
//!   padding), `{s_std}` (standard base64 alphabet, `+` `/`),
//!   `{s_zero_prefixed}` (a zero byte before the signature), `{s_der}` (an
//!   ECDSA signature re-encoded as ASN.1 DER),
//!   `{repeat:TEXT:N}`, and `{{` `}}` for literal braces.
//! - `source`: `bearer` (`Authorization: Bearer <token>`, the default),
//!   `raw` (a bare credential), `header:<template>` (the whole header value,
//!   with `{token}` and the placeholders above), `raw:<template>` (a bare
//!   credential from a template likewise), `two-headers` (two Bearer
//!   headers), `two-raw`, `bearer+raw`, or `none` (no credential).
//! - `expect`: `allow` or a deny reason (`bad-signature`, ...).
//!   `expect_principal` / `expect_issuer` check an allow further.
//!
//! Value macros in `header`/`claims`/`other_claims` strings: `$now`,
//! `$now+N`, `$now-N` (numbers around the fixed clock `NOW`),
//! `$repeat:TEXT:N`, `$jwk:<key>` (that key's public JWK) and `$null`
//! (a real JSON `null`).

// Tests: a failed expectation is a panic, and fixtures are indexed directly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tollgate_host::Authorizer;
use tollgate_host::model::{Decision, Request, TokenSource};
use tollgate_keys::mint::SigningKey;
use tollgate_tests::{ScratchDir, b64url, b64url_decode, dir_authorizer, test_key};

/// The fixed decision time.
const NOW: i64 = 1_750_000_000;
const ISSUER: &str = "https://issuer.example";
const AUDIENCE: &str = "api";

/// The committed keys (`tests/data/keys/<name>.json`).
const KEY_NAMES: [&str; 6] = ["rsa-1", "ec-1", "ed-1", "ec-2", "hmac-1", "attacker-rsa"];

/// At least this many cases must be in the corpus.
const MIN_CASES: usize = 30;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    description: String,
    #[serde(default = "default_policy")]
    policy: String,
    #[serde(default = "default_signer")]
    sign: String,
    #[serde(default)]
    header: Map<String, Value>,
    #[serde(default)]
    claims: Map<String, Value>,
    raw_header: Option<String>,
    raw_payload: Option<String>,
    header_pad_to: Option<usize>,
    pad_to: Option<usize>,
    other_claims: Option<Map<String, Value>>,
    token: Option<String>,
    #[serde(default = "default_source")]
    source: String,
    expect: String,
    expect_principal: Option<String>,
    expect_issuer: Option<String>,
}

fn default_policy() -> String {
    "default".into()
}
fn default_signer() -> String {
    "rsa-1".into()
}
fn default_source() -> String {
    "bearer".into()
}

/// The keys, the policies' authorizers, and the files they read.
struct Fixture {
    keys: BTreeMap<&'static str, SigningKey>,
    jwks_text: String,
    authorizers: BTreeMap<&'static str, Authorizer>,
    _dir: ScratchDir,
}

fn jwks_of(keys: &BTreeMap<&'static str, SigningKey>, names: &[&str]) -> String {
    let list: Vec<Value> = names.iter().map(|n| keys[n].public_jwk()).collect();
    serde_json::to_string_pretty(&json!({ "keys": list })).expect("serialize JWKS")
}

const DEFAULT_ISSUER_TOML: &str = r#"[[issuer]]
issuer = "https://issuer.example"
jwks_file = "jwks.json"
audiences = ["api"]
"#;

fn policies() -> [(&'static str, String); 4] {
    let default = format!("{DEFAULT_ISSUER_TOML}algorithms = [\"RS256\", \"ES256\", \"EdDSA\"]\n");
    let with_hmac = format!(
        r#"{DEFAULT_ISSUER_TOML}algorithms = ["RS256", "ES256", "EdDSA", "HS256"]

[[issuer.secrets]]
kid = "hmac-1"
file = "hmac-1.secret"
encoding = "base64url"
algorithm = "HS256"
"#
    );
    let two_issuers = format!(
        r#"{default}
[[issuer]]
issuer = "https://second.example"
jwks_file = "second-jwks.json"
audiences = ["api"]
algorithms = ["RS256", "ES256"]
"#
    );
    // The default issuer's keys published without `kid`, and its HS256
    // secret configured without one: what tokens without `kid` can use.
    let no_kids = r#"[[issuer]]
issuer = "https://issuer.example"
jwks_file = "jwks-no-kids.json"
audiences = ["api"]
algorithms = ["RS256", "ES256", "EdDSA", "HS256"]

[[issuer.secrets]]
file = "hmac-1.secret"
encoding = "base64url"
algorithm = "HS256"
"#
    .to_string();
    [
        ("default", default),
        ("with-hmac", with_hmac),
        ("two-issuers", two_issuers),
        ("no-kids", no_kids),
    ]
}

impl Fixture {
    fn new() -> Fixture {
        let keys: BTreeMap<&'static str, SigningKey> =
            KEY_NAMES.iter().map(|n| (*n, test_key(n))).collect();
        // The committed files must still be what the corpus assumes.
        for (name, alg, kid) in [
            ("rsa-1", "RS256", "rsa-1"),
            ("attacker-rsa", "RS256", "rsa-1"),
            ("ec-1", "ES256", "ec-1"),
            ("ec-2", "ES256", "ec-2"),
            ("ed-1", "EdDSA", "ed-1"),
            ("hmac-1", "HS256", "hmac-1"),
        ] {
            assert_eq!(keys[name].alg().name(), alg, "{name}");
            assert_eq!(keys[name].kid(), kid, "{name}");
        }
        assert_ne!(
            keys["rsa-1"].public_jwk(),
            keys["attacker-rsa"].public_jwk(),
            "the attacker key must differ from rsa-1"
        );

        let dir = ScratchDir::new("attacks");
        let jwks_text = jwks_of(&keys, &["rsa-1", "ec-1", "ed-1"]);
        write(&dir.0, "jwks.json", &jwks_text);
        write(&dir.0, "second-jwks.json", &jwks_of(&keys, &["ec-2"]));
        let mut no_kids: Value = serde_json::from_str(&jwks_text).expect("JWKS JSON");
        for jwk in no_kids["keys"].as_array_mut().expect("keys") {
            jwk.as_object_mut().expect("a JWK").remove("kid");
        }
        write(&dir.0, "jwks-no-kids.json", &no_kids.to_string());
        let secret = keys["hmac-1"].public_jwk()["k"]
            .as_str()
            .expect("an HS256 key's JWK holds k")
            .to_string();
        write(&dir.0, "hmac-1.secret", &secret);

        let authorizers = policies()
            .into_iter()
            .map(|(name, text)| {
                let a = dir_authorizer(&text, &dir.0)
                    .unwrap_or_else(|e| panic!("policy {name} is refused: {e}\n{text}"));
                (name, a)
            })
            .collect();
        Fixture {
            keys,
            jwks_text,
            authorizers,
            _dir: dir,
        }
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap_or_else(|e| panic!("write {name}: {e}"));
}

// --- DER/PEM forms of the RSA public key (for the HMAC confusion) ---------

fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn der_uint(magnitude: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = magnitude.iter().copied().skip_while(|b| *b == 0).collect();
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend(trimmed);
    der_tlv(0x02, &content)
}

/// PKCS#1 `RSAPublicKey` DER of an RSA JWK.
fn rsa_pkcs1_der(jwk: &Value) -> Vec<u8> {
    let n = b64url_decode(jwk["n"].as_str().expect("n")).expect("n is base64url");
    let e = b64url_decode(jwk["e"].as_str().expect("e")).expect("e is base64url");
    der_tlv(0x30, &[der_uint(&n), der_uint(&e)].concat())
}

/// X.509 `SubjectPublicKeyInfo` DER of an RSA JWK.
fn rsa_spki_der(jwk: &Value) -> Vec<u8> {
    const RSA_ENCRYPTION: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    let algorithm = der_tlv(
        0x30,
        &[der_tlv(0x06, &RSA_ENCRYPTION), vec![0x05, 0x00]].concat(),
    );
    let bits = der_tlv(0x03, &[&[0u8][..], &rsa_pkcs1_der(jwk)].concat());
    der_tlv(0x30, &[algorithm, bits].concat())
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// An HS256 signing key whose secret is `secret`.
fn hmac_key(secret: &[u8]) -> SigningKey {
    let doc = json!({
        "tollgate_signing_key": 1,
        "alg": "HS256",
        "kid": "rsa-1",
        "secret": b64url(secret),
    });
    SigningKey::from_json(&doc.to_string()).expect("an HS256 key from these bytes")
}

// --- building a case's token ----------------------------------------------

/// The signer and its default header members.
struct Signer {
    key: Option<SigningKey>,
    alg: String,
    kid: Option<String>,
}

fn signer(fixture: &Fixture, name: &str) -> Result<Signer, String> {
    let rsa_jwk = fixture.keys["rsa-1"].public_jwk();
    let confused = |secret: Vec<u8>| Signer {
        key: Some(hmac_key(&secret)),
        alg: "HS256".into(),
        kid: Some("rsa-1".into()),
    };
    Ok(match name {
        "none" => Signer {
            key: None,
            alg: "none".into(),
            kid: None,
        },
        "hmac-with-rsa-jwk" => confused(serde_json::to_vec(&rsa_jwk).map_err(|e| e.to_string())?),
        "hmac-with-rsa-jwks" => confused(fixture.jwks_text.clone().into_bytes()),
        "hmac-with-rsa-pkcs1-der" => confused(rsa_pkcs1_der(&rsa_jwk)),
        "hmac-with-rsa-spki-der" => confused(rsa_spki_der(&rsa_jwk)),
        "hmac-with-rsa-pkcs1-pem" => {
            confused(pem("RSA PUBLIC KEY", &rsa_pkcs1_der(&rsa_jwk)).into_bytes())
        }
        "hmac-with-rsa-spki-pem" => {
            confused(pem("PUBLIC KEY", &rsa_spki_der(&rsa_jwk)).into_bytes())
        }
        key => {
            let file = fixture
                .keys
                .get(key)
                .ok_or_else(|| format!("unknown signer {key:?}"))?;
            let text = file.to_json();
            Signer {
                key: Some(SigningKey::from_json(&text).map_err(|e| e.to_string())?),
                alg: file.alg().name().into(),
                kid: Some(file.kid().into()),
            }
        }
    })
}

/// Expand the value macros (see the module docs) in `value`.
fn expand(fixture: &Fixture, value: &Value) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) if s == "$now" => json!(NOW),
        Value::String(s) if s == "$null" => Value::Null,
        Value::String(s) if s.starts_with("$now+") || s.starts_with("$now-") => {
            let n: i64 = s[5..].parse().map_err(|_| format!("bad offset in {s:?}"))?;
            json!(if s.as_bytes()[4] == b'+' {
                NOW + n
            } else {
                NOW - n
            })
        }
        Value::String(s) if s.starts_with("$repeat:") => Value::String(repeat(&s[8..])?),
        Value::String(s) if s.starts_with("$jwk:") => fixture
            .keys
            .get(&s[5..])
            .map(SigningKey::public_jwk)
            .ok_or_else(|| format!("unknown key in {s:?}"))?,
        Value::String(s) if s.starts_with('$') => return Err(format!("unknown macro {s:?}")),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| expand(fixture, v))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), expand(fixture, v)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// `TEXT:N` → TEXT repeated N times (TEXT may contain `:`).
fn repeat(spec: &str) -> Result<String, String> {
    let (text, count) = spec
        .rsplit_once(':')
        .ok_or_else(|| format!("repeat needs TEXT:N, got {spec:?}"))?;
    let count: usize = count
        .parse()
        .map_err(|_| format!("bad repeat count in {spec:?}"))?;
    Ok(text.repeat(count))
}

/// `base` with `overrides` merged over it (`null` removes), macros expanded.
fn merged(
    fixture: &Fixture,
    base: Map<String, Value>,
    overrides: &Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    let mut out = base;
    for (name, value) in overrides {
        if value.is_null() {
            out.remove(name);
        } else {
            out.insert(name.clone(), expand(fixture, value)?);
        }
    }
    Ok(out)
}

fn default_claims() -> Map<String, Value> {
    let Value::Object(map) = json!({
        "iss": ISSUER,
        "sub": "user-1",
        "aud": AUDIENCE,
        "iat": NOW - 10,
        "exp": NOW + 300,
    }) else {
        unreachable!()
    };
    map
}

/// A signed compact JWS's three segments.
struct Segments {
    h: String,
    p: String,
    s: String,
}

fn sign(signer: &Signer, header: &[u8], payload: &[u8]) -> Result<Segments, String> {
    let h = b64url(header);
    let p = b64url(payload);
    let s = match &signer.key {
        None => String::new(),
        Some(key) => b64url(
            key.sign(format!("{h}.{p}").as_bytes())
                .map_err(|e| e.to_string())?,
        ),
    };
    Ok(Segments { h, p, s })
}

fn json_bytes(map: &Map<String, Value>) -> Vec<u8> {
    serde_json::to_vec(map).expect("serialize")
}

/// Unpadded base64url length of `n` bytes.
fn b64_len(n: usize) -> usize {
    (4 * n).div_ceil(3)
}

/// Header and payload bytes for `claims_over` (the case's claims, or the
/// other token's), honouring the raw and padding options.
fn header_and_payload(
    fixture: &Fixture,
    case: &Case,
    signer: &Signer,
    claims_over: &Map<String, Value>,
) -> Result<(Vec<u8>, Vec<u8>), String> {
    let mut header = Map::new();
    header.insert("alg".into(), json!(signer.alg));
    header.insert("typ".into(), json!("JWT"));
    if let Some(kid) = &signer.kid {
        header.insert("kid".into(), json!(kid));
    }
    let mut header = merged(fixture, header, &case.header)?;
    let mut claims = merged(fixture, default_claims(), claims_over)?;

    if let Some(target) = case.header_pad_to {
        header.insert("hpad".into(), json!(""));
        let base = json_bytes(&header).len();
        let n = target
            .checked_sub(base)
            .ok_or_else(|| format!("header_pad_to {target} is below the header's {base} bytes"))?;
        header.insert("hpad".into(), json!("A".repeat(n)));
    }

    if let Some(target) = case.pad_to {
        // Signature sizes do not depend on the message.
        let sig_len = sign(signer, b"{}", b"{}")?.s.len();
        claims.insert("pad".into(), json!(""));
        let payload_base = json_bytes(&claims).len();
        // Try header paddings until some payload padding hits the target.
        let mut found = None;
        'search: for hpad in 0..8usize {
            let mut h = header.clone();
            if hpad > 0 {
                h.insert("hpad".into(), json!("A".repeat(hpad)));
            }
            let fixed = b64_len(json_bytes(&h).len()) + 2 + sig_len;
            let Some(want) = target.checked_sub(fixed) else {
                break;
            };
            let guess = want * 3 / 4;
            for len in guess.saturating_sub(2)..=guess + 2 {
                if b64_len(len) == want && len >= payload_base {
                    found = Some((h, len - payload_base));
                    break 'search;
                }
            }
        }
        let (h, n) = found.ok_or_else(|| format!("cannot pad the token to {target} bytes"))?;
        header = h;
        claims.insert("pad".into(), json!("A".repeat(n)));
    }

    let header = match &case.raw_header {
        Some(raw) => raw.clone().into_bytes(),
        None => json_bytes(&header),
    };
    let payload = match &case.raw_payload {
        Some(raw) => raw.clone().into_bytes(),
        None => json_bytes(&claims),
    };
    Ok((header, payload))
}

/// Expand `{name}` placeholders in a template.
fn fill(template: &str, vars: &BTreeMap<&str, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("{{") {
            out.push('{');
            rest = after;
        } else if let Some(after) = tail.strip_prefix("}}") {
            out.push('}');
            rest = after;
        } else if tail.starts_with('}') {
            return Err(format!("unmatched `}}` in template {template:?}"));
        } else {
            let end = tail
                .find('}')
                .ok_or_else(|| format!("unclosed `{{` in template {template:?}"))?;
            let name = &tail[1..end];
            if let Some(spec) = name.strip_prefix("repeat:") {
                out.push_str(&repeat(spec)?);
            } else {
                out.push_str(
                    vars.get(name)
                        .ok_or_else(|| format!("unknown placeholder {{{name}}}"))?,
                );
            }
            rest = &tail[end + 1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// A fixed-width ECDSA `r || s` signature as an ASN.1 DER `Ecdsa-Sig-Value`
/// (the X.509 form JWS does not use).
fn ecdsa_der(fixed: &[u8]) -> Vec<u8> {
    let (r, s) = fixed.split_at(fixed.len() / 2);
    der_tlv(0x30, &[der_uint(r), der_uint(s)].concat())
}

/// Re-encode an unpadded base64url segment with `=` padding.
fn padded(segment: &str) -> String {
    let bytes = b64url_decode(segment).unwrap_or_default();
    URL_SAFE.encode(bytes)
}

/// Re-encode an unpadded base64url segment in the standard alphabet (no padding).
fn standard_alphabet(segment: &str) -> String {
    segment.replace('-', "+").replace('_', "/")
}

fn request(sources: Vec<TokenSource>) -> Request {
    Request {
        token_sources: sources,
        method: "GET".into(),
        path: "/".into(),
        now: NOW,
        ..Request::default()
    }
}

/// Build the case's request.
fn build(fixture: &Fixture, case: &Case) -> Result<Request, String> {
    let signer = signer(fixture, &case.sign)?;
    let (header, payload) = header_and_payload(fixture, case, &signer, &case.claims)?;
    let seg = sign(&signer, &header, &payload)?;

    let mut vars: BTreeMap<&str, String> = BTreeMap::new();
    vars.insert("h_pad", padded(&seg.h));
    vars.insert("p_pad", padded(&seg.p));
    vars.insert("s_pad", padded(&seg.s));
    vars.insert("s_std", standard_alphabet(&seg.s));
    let signature = b64url_decode(&seg.s).unwrap_or_default();
    vars.insert("s_zero_prefixed", b64url([&[0u8][..], &signature].concat()));
    vars.insert("s_der", b64url(ecdsa_der(&signature)));
    if let Some(other) = &case.other_claims {
        let mut claims = case.claims.clone();
        claims.extend(other.clone());
        let (h, p) = header_and_payload(fixture, case, &signer, &claims)?;
        let o = sign(&signer, &h, &p)?;
        vars.insert("other_h", o.h);
        vars.insert("other_p", o.p);
        vars.insert("other_s", o.s);
    }
    vars.insert("h", seg.h);
    vars.insert("p", seg.p);
    vars.insert("s", seg.s);

    let token = fill(case.token.as_deref().unwrap_or("{h}.{p}.{s}"), &vars)?;
    if let Some(target) = case.pad_to
        && token.len() != target
    {
        return Err(format!(
            "padding produced {} bytes, not {target}",
            token.len()
        ));
    }
    vars.insert("token", token.clone());

    let bearer = || TokenSource::AuthorizationHeader(format!("Bearer {token}"));
    let sources = match case.source.as_str() {
        "bearer" => vec![bearer()],
        "raw" => vec![TokenSource::Raw(token.clone())],
        "two-headers" => vec![bearer(), bearer()],
        "two-raw" => vec![
            TokenSource::Raw(token.clone()),
            TokenSource::Raw(token.clone()),
        ],
        "bearer+raw" => vec![bearer(), TokenSource::Raw(token.clone())],
        "none" => vec![],
        other => match (other.strip_prefix("header:"), other.strip_prefix("raw:")) {
            (Some(template), _) => vec![TokenSource::AuthorizationHeader(fill(template, &vars)?)],
            (_, Some(template)) => vec![TokenSource::Raw(fill(template, &vars)?)],
            _ => return Err(format!("unknown source {other:?}")),
        },
    };
    Ok(request(sources))
}

fn outcome(decision: &Decision) -> String {
    match decision {
        Decision::Allow(_) => "allow".into(),
        Decision::Deny(deny) => deny.reason.as_str().into(),
        Decision::Error { reason, .. } => format!("error:{reason}"),
    }
}

/// Run one case; `Err` describes the failure.
fn run(fixture: &Fixture, case: &Case) -> Result<String, String> {
    let authorizer = fixture
        .authorizers
        .get(case.policy.as_str())
        .ok_or_else(|| format!("unknown policy {:?}", case.policy))?;
    let request = build(fixture, case)?;
    let decision = authorizer.authorize(&request);
    let got = outcome(&decision);
    if got != case.expect {
        let detail = match &decision {
            Decision::Deny(deny) => deny.detail.clone(),
            Decision::Error { message, .. } => message.clone(),
            Decision::Allow(allow) => format!("{allow:?}"),
        };
        return Err(format!("expected {}, got {got} ({detail})", case.expect));
    }
    if let Decision::Allow(allow) = &decision {
        if let Some(p) = &case.expect_principal
            && *p != allow.principal
        {
            return Err(format!(
                "expected principal {p:?}, got {:?}",
                allow.principal
            ));
        }
        if let Some(i) = &case.expect_issuer
            && *i != allow.issuer
        {
            return Err(format!("expected issuer {i:?}, got {:?}", allow.issuer));
        }
    }
    Ok(got)
}

#[test]
fn attack_corpus() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/attacks");
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("read {}: {e}", folder.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= MIN_CASES,
        "the corpus has {} cases; expected at least {MIN_CASES}",
        files.len()
    );

    let fixture = Fixture::new();
    let mut failures = Vec::new();
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    for path in &files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let result = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| {
                serde_json::from_str::<Case>(&text).map_err(|e| format!("bad case file: {e}"))
            })
            .and_then(|case| {
                run(&fixture, &case).map_err(|e| format!("{e}\n    ({})", case.description))
            });
        match result {
            Ok(got) => *tally.entry(got).or_default() += 1,
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    eprintln!("attack corpus: {} cases", files.len());
    for (outcome, count) in &tally {
        eprintln!("  {count:3}  {outcome}");
    }
    assert!(
        failures.is_empty(),
        "{} of {} attack case(s) failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
