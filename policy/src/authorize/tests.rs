//! Tests of `authorize`.

use serde_json::json;

use super::*;
use crate::model::{Allow, Grant, TokenSource};
use crate::test_support::*;

fn decide(policy: &Policy, token: &str) -> Decision {
    policy.authorize(&request(token), &TestRing::standard())
}

/// Signed token with the default header, but this header JSON instead.
fn with_header(alg: Algorithm, header: &str) -> String {
    sign_raw(alg, header, claims().to_string().as_bytes())
}

#[test]
fn happy_path_every_algorithm() {
    let policy = policy("");
    for alg in Algorithm::ALL {
        let token = mint(alg, &claims());
        let allow = expect_allow(&decide(&policy, &token));
        assert_eq!(
            allow,
            Allow {
                principal: String::from("user-1"),
                issuer: String::from(ISSUER),
                context: vec![],
                grants: vec![Grant::allow("*", "/*")],
                request_dependent: false,
                expires_at: Some(NOW + 3600),
                rule: None,
            },
            "{alg}"
        );
    }
}

/// One valid token per key family, each without `kid` in its header.
fn tokens_without_kid() -> Vec<(Algorithm, String)> {
    [
        Algorithm::Rs256,
        Algorithm::Es256,
        Algorithm::EdDsa,
        Algorithm::Hs256,
    ]
    .into_iter()
    .map(|alg| (alg, mint_with(alg, &json!({"alg": alg.name()}), &claims())))
    .collect()
}

#[test]
fn happy_path_without_kid_tries_the_keys_without_kid() {
    let policy = policy("");
    for (_, token) in tokens_without_kid() {
        // Every test key without its kid: each is tried.
        let anonymous: Vec<TestKey> = all_keys()
            .into_iter()
            .map(|mut key| {
                key.info.kid = None;
                key
            })
            .collect();
        let ring = TestRing::new().with(ISSUER, anonymous);
        expect_allow(&policy.authorize(&request(&token), &ring));
        assert_eq!(
            ring.lookups.borrow().as_slice(),
            &[(String::from(ISSUER), None)]
        );
    }
}

/// Issue 7, item 13: the README said a secret with a `kid` "matches
/// only tokens whose header kid is …", but a token without a `kid`
/// tried it too. The stricter reading holds for every key: a key with a
/// `kid` verifies only tokens that name it.
#[test]
fn a_key_with_a_kid_never_verifies_a_token_without_one() {
    let policy = policy("");
    for (alg, token) in tokens_without_kid() {
        // Today's test keys all have a kid: nothing to try.
        let deny = expect_deny(
            &policy.authorize(&request(&token), &TestRing::standard()),
            DenyReason::UnknownKey,
        );
        assert!(deny.detail.contains("no `kid`"), "{}", deny.detail);
        // Mixed: only the key without a kid is considered, and it does
        // not fit the algorithm, although a key with a kid would verify.
        let mut keys = all_keys();
        let mut other = if alg == Algorithm::Hs256 {
            es256_key()
        } else {
            hmac_key()
        };
        other.info.kid = None;
        keys.push(other);
        expect_deny(
            &policy.authorize(&request(&token), &TestRing::new().with(ISSUER, keys)),
            DenyReason::KeyMismatch,
        );
    }
}

#[test]
fn every_signed_byte_matters() {
    let policy = policy("");
    let token = mint(Algorithm::Es256, &claims());
    let (input, sig) = token.rsplit_once('.').unwrap();
    // Another valid signature, over other claims.
    let mut other = claims();
    other["sub"] = json!("mallory");
    let other = mint(Algorithm::Es256, &other);
    let other_sig = other.rsplit_once('.').unwrap().1;
    expect_deny(
        &decide(&policy, &format!("{input}.{other_sig}")),
        DenyReason::BadSignature,
    );
    // Payload swapped under the original signature.
    let parts: Vec<&str> = other.split('.').collect();
    let header = input.split('.').next().unwrap();
    expect_deny(
        &decide(&policy, &format!("{header}.{}.{sig}", parts[1])),
        DenyReason::BadSignature,
    );
    // HMAC: a flipped signature byte.
    let token = mint(Algorithm::Hs256, &claims());
    let (input, sig) = token.rsplit_once('.').unwrap();
    let mut bytes = token::decode_b64url(sig).unwrap();
    bytes[0] ^= 1;
    expect_deny(
        &decide(&policy, &format!("{input}.{}", b64(bytes))),
        DenyReason::BadSignature,
    );
}

// --- credentials -------------------------------------------------------

fn decide_sources(sources: Vec<TokenSource>) -> Decision {
    policy("").authorize(&request_with(sources), &TestRing::standard())
}

fn header_source(value: String) -> Vec<TokenSource> {
    vec![TokenSource::AuthorizationHeader(value)]
}

#[test]
fn bearer_scheme_variants_are_accepted() {
    let token = mint(Algorithm::Es256, &claims());
    for value in [
        format!("Bearer {token}"),
        format!("bearer {token}"),
        format!("BEARER {token}"),
        format!("BeArEr    {token}"),
        format!("  Bearer {token}  "),
        format!("Bearer\t{token}"),
    ] {
        expect_allow(&decide_sources(header_source(value)));
    }
    for value in [
        token.clone(),
        format!("Bearer {token}"),
        format!("bearer   {token}"),
        format!(" {token}\n"),
    ] {
        expect_allow(&decide_sources(vec![TokenSource::Raw(value)]));
    }
}

#[test]
fn missing_or_other_credentials() {
    let token = mint(Algorithm::Es256, &claims());
    expect_deny(&decide_sources(vec![]), DenyReason::MissingToken);
    for value in [
        String::new(),
        String::from("   "),
        String::from("Bearer"),
        String::from("Bearer    "),
        String::from("Basic dXNlcjpwYXNz"),
        format!("Token {token}"),
        format!("Bearer{token}"),
        token.clone(),
    ] {
        let deny = expect_deny(
            &decide_sources(header_source(value.clone())),
            DenyReason::MissingToken,
        );
        assert!(!deny.detail.contains(&token), "{}", deny.detail);
    }
    for value in ["", "  ", "Bearer "] {
        expect_deny(
            &decide_sources(vec![TokenSource::Raw(value.to_owned())]),
            DenyReason::MissingToken,
        );
    }
}

#[test]
fn several_credentials() {
    let token = mint(Algorithm::Es256, &claims());
    expect_deny(
        &decide_sources(vec![
            TokenSource::AuthorizationHeader(format!("Bearer {token}")),
            TokenSource::Raw(token.clone()),
        ]),
        DenyReason::MultipleTokens,
    );
    expect_deny(
        &decide_sources(vec![
            TokenSource::Raw(token.clone()),
            TokenSource::Raw(token.clone()),
        ]),
        DenyReason::MultipleTokens,
    );
    expect_deny(
        &decide_sources(header_source(format!("Bearer {token}, Bearer {token}"))),
        DenyReason::MultipleTokens,
    );
    expect_deny(
        &decide_sources(header_source(format!("Bearer {token},Basic abc"))),
        DenyReason::MultipleTokens,
    );
}

/// A credential outside the front door's cache key is refused whatever
/// else the request carries, a valid token included.
#[test]
fn a_credential_outside_the_cache_key_is_refused() {
    let token = mint(Algorithm::Es256, &claims());
    for sources in [
        vec![
            TokenSource::AuthorizationHeader(format!("Bearer {token}")),
            TokenSource::OutsideCacheKey,
        ],
        vec![
            TokenSource::OutsideCacheKey,
            TokenSource::Raw(token.clone()),
        ],
        vec![TokenSource::OutsideCacheKey],
    ] {
        let deny = expect_deny(&decide_sources(sources), DenyReason::MultipleTokens);
        assert!(deny.detail.contains("cache key"), "{}", deny.detail);
    }
}

// --- structure ---------------------------------------------------------

#[test]
fn segment_counts() {
    let policy = policy("");
    let token = mint(Algorithm::Es256, &claims());
    let parts: Vec<&str> = token.split('.').collect();
    let two = format!("{}.{}", parts[0], parts[1]);
    let four = format!("{token}.{}", parts[2]);
    let five = format!("{token}.{}.{}", parts[1], parts[2]);
    let one = parts[0].to_owned();
    for (t, needle) in [
        (&two, "2 segment"),
        (&four, "4 segment"),
        (&one, "1 segment"),
    ] {
        let deny = expect_deny(&decide(&policy, t), DenyReason::Malformed);
        assert!(deny.detail.contains(needle), "{}", deny.detail);
    }
    let deny = expect_deny(&decide(&policy, &five), DenyReason::Malformed);
    assert!(deny.detail.contains("JWE"), "{}", deny.detail);
    expect_deny(&decide(&policy, ".."), DenyReason::Malformed);
    expect_deny(&decide(&policy, "a.b.c"), DenyReason::Malformed);
}

#[test]
fn empty_signature_is_denied() {
    let policy = policy("");
    let token = mint(Algorithm::Hs256, &claims());
    let (input, _) = token.rsplit_once('.').unwrap();
    expect_deny(
        &decide(&policy, &format!("{input}.")),
        DenyReason::Malformed,
    );
}

#[test]
fn characters_outside_base64url() {
    let policy = policy("");
    let token = mint(Algorithm::Es256, &claims());
    let (input, sig) = token.rsplit_once('.').unwrap();
    for bad in [
        format!("{input}.{sig}="),
        format!("{input}.{sig}=="),
        format!("{input}.+{}", &sig[1..]),
        format!("{input}./{}", &sig[1..]),
        format!("{input} .{sig}"),
        format!("{input}.{sig}é"),
    ] {
        let deny = expect_deny(&decide(&policy, &bad), DenyReason::Malformed);
        assert!(!deny.detail.contains(sig));
    }
}

#[test]
fn non_canonical_base64() {
    let policy = policy("");
    let token = mint(Algorithm::Es256, &claims());
    let (input, sig) = token.rsplit_once('.').unwrap();
    // 64 bytes encode to 86 chars whose last one carries 2 unused bits.
    assert_eq!(sig.len(), 86);
    let last = sig.chars().last().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let pos = alphabet.find(last).unwrap();
    let tweaked = alphabet.chars().nth(pos ^ 1).unwrap();
    let bad = format!("{input}.{}{tweaked}", &sig[..85]);
    expect_deny(&decide(&policy, &bad), DenyReason::Malformed);
    // A length that no byte string encodes to.
    let bad = format!("{input}.{sig}AAA");
    expect_deny(&decide(&policy, &bad), DenyReason::Malformed);
    // Header with a non-canonical last character.
    let header = b64(r#"{"alg":"ES256"}"#); // 15 bytes: 20 chars, no spare bits
    assert_eq!(header.len(), 20);
    let header = b64(r#"{"alg":"ES256" }"#); // 16 bytes: 22 chars, 4 spare bits
    let mut chars: Vec<char> = header.chars().collect();
    let pos = alphabet.find(chars[21]).unwrap();
    chars[21] = alphabet.chars().nth(pos | 1).unwrap();
    let header: String = chars.into_iter().collect();
    let payload = b64(claims().to_string());
    let input = format!("{header}.{payload}");
    let sig = b64(sign_bytes(Algorithm::Es256, input.as_bytes()));
    expect_deny(
        &decide(&policy, &format!("{input}.{sig}")),
        DenyReason::Malformed,
    );
}

#[test]
fn token_size_limit_edge() {
    let base = mint(Algorithm::Es256, &claims());
    let len = base.len();
    let text = format!("[limits]\nmax_token_bytes = {len}\n{}", policy_text(""));
    let exact = Policy::from_toml(&text).unwrap();
    expect_allow(&decide(&exact, &base));
    let text = format!(
        "[limits]\nmax_token_bytes = {}\n{}",
        len - 1,
        policy_text("")
    );
    let below = Policy::from_toml(&text).unwrap();
    let deny = expect_deny(&decide(&below, &base), DenyReason::Malformed);
    assert!(
        deny.detail.contains(&(len - 1).to_string()),
        "{}",
        deny.detail
    );
}

#[test]
fn default_token_limit() {
    let policy = policy("");
    let mut claims = claims();
    claims["pad"] = json!("x".repeat(17 * 1024));
    expect_deny(
        &decide(&policy, &mint(Algorithm::Hs256, &claims)),
        DenyReason::Malformed,
    );
}

#[test]
fn header_size_limit_edge() {
    // Header JSON of exactly 100 bytes.
    let prefix = r#"{"alg":"ES256","kid":"es256","pad":""#;
    let pad = "p".repeat(100 - prefix.len() - 2);
    let header = format!("{prefix}{pad}\"}}");
    assert_eq!(header.len(), 100);
    let token = with_header(Algorithm::Es256, &header);
    let at = |limit: usize| {
        Policy::from_toml(&format!(
            "[limits]\nmax_header_bytes = {limit}\n{}",
            policy_text("")
        ))
        .unwrap()
    };
    expect_allow(&decide(&at(100), &token));
    let deny = expect_deny(&decide(&at(99), &token), DenyReason::Malformed);
    assert!(deny.detail.contains("99"), "{}", deny.detail);
    // Far above: rejected before decoding.
    let big = format!("{prefix}{}\"}}", "p".repeat(4000));
    expect_deny(
        &decide(&policy(""), &with_header(Algorithm::Es256, &big)),
        DenyReason::Malformed,
    );
}

// --- header ------------------------------------------------------------

#[test]
fn header_not_json_object() {
    let policy = policy("");
    for header in [
        "",
        "[]",
        "\"alg\"",
        "{",
        r#"{"alg":"ES256"} x"#,
        "nul",
        "\u{feff}{}",
    ] {
        expect_deny(
            &decide(&policy, &with_header(Algorithm::Es256, header)),
            DenyReason::Malformed,
        );
    }
    // Invalid UTF-8.
    let input = format!(
        "{}.{}",
        b64(b"{\"alg\":\"ES256\",\"x\":\"\xff\"}"),
        b64(claims().to_string())
    );
    let sig = b64(sign_bytes(Algorithm::Es256, input.as_bytes()));
    expect_deny(
        &decide(&policy, &format!("{input}.{sig}")),
        DenyReason::Malformed,
    );
}

#[test]
fn header_alg_rules() {
    let policy = policy("");
    let cases = [
        (r#"{"kid":"es256"}"#, DenyReason::Malformed),
        (r#"{"alg":null}"#, DenyReason::Malformed),
        (r#"{"alg":256}"#, DenyReason::Malformed),
        (r#"{"alg":["ES256"]}"#, DenyReason::Malformed),
        (r#"{"alg":"none"}"#, DenyReason::DisallowedAlgorithm),
        (r#"{"alg":"NONE"}"#, DenyReason::DisallowedAlgorithm),
        (r#"{"alg":"nOnE"}"#, DenyReason::DisallowedAlgorithm),
        (r#"{"alg":"es256"}"#, DenyReason::DisallowedAlgorithm),
        (r#"{"alg":"HS1"}"#, DenyReason::DisallowedAlgorithm),
        (r#"{"alg":"RSA-OAEP"}"#, DenyReason::DisallowedAlgorithm),
        (r#"{"alg":""}"#, DenyReason::DisallowedAlgorithm),
        (r#"{"alg":"ES256","alg":"ES256"}"#, DenyReason::Malformed),
        (r#"{"alg":"none","alg":"ES256"}"#, DenyReason::Malformed),
    ];
    for (header, reason) in cases {
        let deny = expect_deny(
            &decide(&policy, &with_header(Algorithm::Es256, header)),
            reason,
        );
        assert!(!deny.detail.is_empty(), "{header}");
    }
}

#[test]
fn unsigned_token_with_empty_signature() {
    let policy = policy("");
    let unsigned = format!(
        "{}.{}.",
        b64(r#"{"alg":"none"}"#),
        b64(claims().to_string())
    );
    expect_deny(&decide(&policy, &unsigned), DenyReason::DisallowedAlgorithm);
}

#[test]
fn long_unknown_alg_is_truncated_in_detail() {
    let policy = policy("");
    let alg = "Z".repeat(500);
    let header = format!(r#"{{"alg":"{alg}"}}"#);
    let deny = expect_deny(
        &decide(&policy, &with_header(Algorithm::Es256, &header)),
        DenyReason::DisallowedAlgorithm,
    );
    assert!(deny.detail.len() < 200, "{}", deny.detail);
}

#[test]
fn header_untrusted_members() {
    let policy = policy("");
    for header in [
        r#"{"alg":"ES256","kid":"es256","jku":"https://evil.example/jwks"}"#,
        r#"{"alg":"ES256","kid":"es256","x5u":"https://evil.example/cert"}"#,
        r#"{"alg":"ES256","kid":"es256","jwk":{"kty":"EC"}}"#,
        r#"{"alg":"ES256","kid":"es256","x5c":["MIIB"]}"#,
        r#"{"alg":"ES256","kid":"es256","jku":null}"#,
        r#"{"alg":"ES256","kid":"es256","crit":["exp"],"exp":1}"#,
        r#"{"alg":"ES256","kid":"es256","crit":[]}"#,
        r#"{"alg":"ES256","kid":"es256","b64":false,"crit":["b64"]}"#,
        r#"{"alg":"ES256","kid":"es256","b64":false}"#,
        r#"{"alg":"ES256","kid":"es256","b64":"true"}"#,
    ] {
        expect_deny(
            &decide(&policy, &with_header(Algorithm::Es256, header)),
            DenyReason::UntrustedHeader,
        );
    }
    expect_allow(&decide(
        &policy,
        &with_header(
            Algorithm::Es256,
            r#"{"alg":"ES256","kid":"es256","b64":true}"#,
        ),
    ));
    // Unknown ordinary members are fine.
    expect_allow(&decide(
        &policy,
        &with_header(
            Algorithm::Es256,
            r#"{"alg":"ES256","kid":"es256","cty":"x","zzz":[1]}"#,
        ),
    ));
}

#[test]
fn header_kid_and_typ_types() {
    let limits = "[limits]\nmax_header_bytes = 4096\n";
    let policy = Policy::from_toml(&format!("{limits}{}", policy_text(""))).unwrap();
    let long_kid = "k".repeat(MAX_KID_BYTES + 1);
    for header in [
        String::from(r#"{"alg":"ES256","kid":7}"#),
        String::from(r#"{"alg":"ES256","kid":null}"#),
        String::from(r#"{"alg":"ES256","kid":["es256"]}"#),
        format!(r#"{{"alg":"ES256","kid":"{long_kid}"}}"#),
        String::from(r#"{"alg":"ES256","kid":"es256","typ":1}"#),
        String::from(r#"{"alg":"ES256","kid":"es256","typ":null}"#),
        String::from(r#"{"alg":"ES256","kid":"es256","kid":"es256"}"#),
    ] {
        expect_deny(
            &decide(&policy, &with_header(Algorithm::Es256, &header)),
            DenyReason::Malformed,
        );
    }
    // A kid of exactly the limit is looked up (and not found); the
    // detail does not echo all of it.
    let kid = "k".repeat(MAX_KID_BYTES);
    let header = format!(r#"{{"alg":"ES256","kid":"{kid}"}}"#);
    let deny = expect_deny(
        &decide(&policy, &with_header(Algorithm::Es256, &header)),
        DenyReason::UnknownKey,
    );
    assert!(deny.detail.len() < 200, "{}", deny.detail);
}

use crate::token::MAX_KID_BYTES;

#[test]
fn typ_pinning() {
    let policy = policy(r#"typ = "at+jwt""#);
    let ok = [
        r#"{"alg":"ES256","kid":"es256","typ":"at+jwt"}"#,
        r#"{"alg":"ES256","kid":"es256","typ":"AT+JWT"}"#,
        r#"{"alg":"ES256","kid":"es256","typ":"application/at+jwt"}"#,
        r#"{"alg":"ES256","kid":"es256","typ":"Application/At+Jwt"}"#,
    ];
    for header in ok {
        expect_allow(&decide(&policy, &with_header(Algorithm::Es256, header)));
    }
    let wrong = [
        r#"{"alg":"ES256","kid":"es256"}"#,
        r#"{"alg":"ES256","kid":"es256","typ":"JWT"}"#,
        r#"{"alg":"ES256","kid":"es256","typ":""}"#,
        r#"{"alg":"ES256","kid":"es256","typ":"text/at+jwt"}"#,
        r#"{"alg":"ES256","kid":"es256","typ":"at+jwt "}"#,
    ];
    for header in wrong {
        expect_deny(
            &decide(&policy, &with_header(Algorithm::Es256, header)),
            DenyReason::WrongType,
        );
    }
    // Unpinned: any typ passes.
    expect_allow(&decide(
        &crate::test_support::policy(""),
        &with_header(
            Algorithm::Es256,
            r#"{"alg":"ES256","kid":"es256","typ":"whatever"}"#,
        ),
    ));
    // Pinned with the prefix in the config.
    let prefixed = crate::test_support::policy(r#"typ = "application/AT+JWT""#);
    expect_allow(&decide(
        &prefixed,
        &with_header(
            Algorithm::Es256,
            r#"{"alg":"ES256","kid":"es256","typ":"at+jwt"}"#,
        ),
    ));
}

#[test]
fn alg_not_allowed_for_issuer() {
    let text = format!(
        "[[issuer]]\nissuer = \"{ISSUER}\"\njwks_file = \"j.json\"\naudiences = [\"{AUDIENCE}\"]\nalgorithms = [\"ES256\"]\n"
    );
    let policy = Policy::from_toml(&text).unwrap();
    expect_allow(&decide(&policy, &mint(Algorithm::Es256, &claims())));
    for alg in [
        Algorithm::Rs256,
        Algorithm::Es384,
        Algorithm::Hs256,
        Algorithm::EdDsa,
    ] {
        let ring = TestRing::standard();
        let decision = policy.authorize(&request(&mint(alg, &claims())), &ring);
        expect_deny(&decision, DenyReason::DisallowedAlgorithm);
        assert!(ring.lookups.borrow().is_empty(), "no key lookup for {alg}");
    }
}

// --- keys --------------------------------------------------------------

#[test]
fn unknown_kid() {
    let policy = policy("");
    let token = mint_with(
        Algorithm::Es256,
        &json!({"alg":"ES256","kid":"nope"}),
        &claims(),
    );
    expect_deny(&decide(&policy, &token), DenyReason::UnknownKey);
}

#[test]
fn lookup_failures() {
    let policy = policy("");
    let token = mint(Algorithm::Es256, &claims());
    let run = |ring: TestRing| policy.authorize(&request(&token), &ring);
    expect_deny(
        &run(TestRing::new().failing(ISSUER, LookupError::KeysUnavailable)),
        DenyReason::KeysUnavailable,
    );
    expect_deny(&run(TestRing::new()), DenyReason::KeysUnavailable);
    expect_deny(
        &run(TestRing::new().failing(ISSUER, LookupError::UnknownKey)),
        DenyReason::UnknownKey,
    );
    // No kid and no keys at all.
    let no_kid = mint_with(Algorithm::Es256, &json!({"alg":"ES256"}), &claims());
    expect_deny(
        &policy.authorize(&request(&no_kid), &TestRing::new().with(ISSUER, vec![])),
        DenyReason::UnknownKey,
    );
}

#[test]
fn key_metadata_must_fit() {
    let policy = policy("");
    let token = mint(Algorithm::Es256, &claims());
    let run =
        |key: TestKey| policy.authorize(&request(&token), &TestRing::new().with(ISSUER, vec![key]));

    let mut k = es256_key();
    k.info.alg = Some(String::from("ES256"));
    k.info.key_use = Some(String::from("sig"));
    k.info.key_ops = Some(vec![String::from("sign"), String::from("verify")]);
    expect_allow(&run(k));

    let mut k = es256_key();
    k.info.alg = Some(String::from("ES384"));
    expect_deny(&run(k), DenyReason::KeyMismatch);
    let mut k = es256_key();
    k.info.key_use = Some(String::from("enc"));
    expect_deny(&run(k), DenyReason::KeyMismatch);
    let mut k = es256_key();
    k.info.key_ops = Some(vec![String::from("sign")]);
    expect_deny(&run(k), DenyReason::KeyMismatch);
    let mut k = es256_key();
    k.info.key_ops = Some(vec![]);
    expect_deny(&run(k), DenyReason::KeyMismatch);
    let mut k = es256_key();
    k.info.crv = Some(String::from("P-384"));
    expect_deny(&run(k), DenyReason::KeyMismatch);
    let mut k = es256_key();
    k.info.crv = None;
    expect_deny(&run(k), DenyReason::KeyMismatch);
    let mut k = es256_key();
    k.info.kty = String::from("ec");
    expect_deny(&run(k), DenyReason::KeyMismatch);
    let mut k = es256_key();
    k.info.kty = String::from("RSA");
    expect_deny(&run(k), DenyReason::KeyMismatch);
}

#[test]
fn key_that_refuses_the_algorithm() {
    // Metadata fits, but the host key itself says key-mismatch.
    let policy = policy("");
    let token = mint(Algorithm::Es256, &claims());
    let mut liar = rsa_key();
    liar.info = es256_key().info;
    expect_deny(
        &policy.authorize(
            &request(&token),
            &TestRing::new().with(ISSUER, vec![liar.clone()]),
        ),
        DenyReason::KeyMismatch,
    );
    // Mixed with a key that fits but does not verify: bad signature.
    let mut other = es256_key();
    other.material = Material::Ec(Algorithm::Es256, {
        let k = aws_lc_rs::signature::EcdsaKeyPair::generate(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        )
        .unwrap();
        aws_lc_rs::signature::KeyPair::public_key(&k)
            .as_ref()
            .to_vec()
    });
    expect_deny(
        &policy.authorize(
            &request(&token),
            &TestRing::new().with(ISSUER, vec![liar, other.clone()]),
        ),
        DenyReason::BadSignature,
    );
    // Two candidate keys with the same kid, the second one right.
    expect_allow(&policy.authorize(
        &request(&token),
        &TestRing::new().with(ISSUER, vec![other, es256_key()]),
    ));
}

#[test]
fn hs256_signed_with_rsa_public_key_is_refused() {
    // The classic confusion: HMAC keyed with the RSA public key bytes.
    let rsa_public = keys().rsa.public_key_bytes();
    let header = json!({"alg": "HS256", "kid": "rsa"});
    let input = format!("{}.{}", b64(header.to_string()), b64(claims().to_string()));
    let sig = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &rsa_public),
        input.as_bytes(),
    );
    let forged = format!("{input}.{}", b64(sig.as_ref()));
    // The issuer allows both RS256 and HS256, the kid names the RSA key.
    expect_deny(&decide(&policy(""), &forged), DenyReason::KeyMismatch);
    // Even a host that wrongly hands over an RSA key labelled `oct`
    // cannot be tricked: the key itself refuses HS256.
    let mut confused = rsa_key();
    confused.info.kty = String::from("oct");
    expect_deny(
        &policy("").authorize(
            &request(&forged),
            &TestRing::new().with(ISSUER, vec![confused]),
        ),
        DenyReason::KeyMismatch,
    );
    // An RS256-only issuer refuses HS256 outright.
    let text = format!(
        "[[issuer]]\nissuer = \"{ISSUER}\"\njwks_file = \"j.json\"\naudiences = [\"{AUDIENCE}\"]\nalgorithms = [\"RS256\"]\n"
    );
    let rs_only = Policy::from_toml(&text).unwrap();
    expect_deny(&decide(&rs_only, &forged), DenyReason::DisallowedAlgorithm);
}

trait PublicKeyBytes {
    fn public_key_bytes(&self) -> Vec<u8>;
}
impl PublicKeyBytes for aws_lc_rs::signature::RsaKeyPair {
    fn public_key_bytes(&self) -> Vec<u8> {
        aws_lc_rs::signature::KeyPair::public_key(self)
            .as_ref()
            .to_vec()
    }
}

// --- payload -----------------------------------------------------------

#[test]
fn payload_is_read_only_after_the_signature() {
    let policy = policy("");
    // Not JSON, validly signed: invalid claims.
    for payload in [
        &b"not json"[..],
        b"",
        b"[]",
        b"{\"iss\":1,\"iss\":2}",
        b"\xff\xfe",
    ] {
        let token = sign_raw(
            Algorithm::Es256,
            &header(Algorithm::Es256).to_string(),
            payload,
        );
        expect_deny(&decide(&policy, &token), DenyReason::InvalidClaims);
    }
    // Not JSON, badly signed: bad signature (the payload was never parsed).
    let token = sign_raw(
        Algorithm::Es256,
        &header(Algorithm::Es256).to_string(),
        b"not json",
    );
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[2] = b64(vec![0u8; 64]);
    expect_deny(&decide(&policy, &parts.join(".")), DenyReason::BadSignature);
    // Not even base64url (but in the alphabet): malformed, signed or not
    // (Wycheproof MacOfIncorrectlyEncodedMessage): an encoding check, no JSON read.
    let header_b64 = b64(header(Algorithm::Es256).to_string());
    let odd = format!("{header_b64}.A.{}", b64(vec![0u8; 64]));
    expect_deny(&decide(&policy, &odd), DenyReason::Malformed);
    let input = format!("{header_b64}.A");
    let sig = b64(sign_bytes(Algorithm::Es256, input.as_bytes()));
    expect_deny(
        &decide(&policy, &format!("{input}.{sig}")),
        DenyReason::Malformed,
    );
}

#[test]
fn duplicate_claim_names_are_refused() {
    let policy = policy("");
    let payload = format!(
        r#"{{"iss":"{ISSUER}","sub":"a","sub":"b","aud":"{AUDIENCE}","exp":{}}}"#,
        NOW + 60
    );
    let token = sign_raw(
        Algorithm::Es256,
        &header(Algorithm::Es256).to_string(),
        payload.as_bytes(),
    );
    expect_deny(&decide(&policy, &token), DenyReason::InvalidClaims);
    // Nested duplicates are not looked at.
    let payload = format!(
        r#"{{"iss":"{ISSUER}","sub":"a","aud":"{AUDIENCE}","exp":{},"x":{{"y":1,"y":2}}}}"#,
        NOW + 60
    );
    let token = sign_raw(
        Algorithm::Es256,
        &header(Algorithm::Es256).to_string(),
        payload.as_bytes(),
    );
    expect_allow(&decide(&policy, &token));
}

#[test]
fn claims_are_checked_end_to_end() {
    let policy = policy("");
    let mut c = claims();
    c["exp"] = json!(NOW - 61);
    expect_deny(
        &decide(&policy, &mint(Algorithm::Rs256, &c)),
        DenyReason::Expired,
    );
    let mut c = claims();
    c["aud"] = json!("other");
    expect_deny(
        &decide(&policy, &mint(Algorithm::EdDsa, &c)),
        DenyReason::WrongAudience,
    );
    let mut c = claims();
    c["iss"] = json!("https://other.example");
    expect_deny(
        &decide(&policy, &mint(Algorithm::Hs256, &c)),
        DenyReason::WrongIssuer,
    );
}

#[test]
fn details_never_echo_the_token() {
    let policy = policy(
        r#"required_scopes = ["s"]
typ = "at+jwt""#,
    );
    let mut tokens = vec![
        mint(Algorithm::Es256, &claims()),
        mint_with(
            Algorithm::Es256,
            &json!({"alg": "ES256", "kid": "zzz", "typ": "at+jwt"}),
            &claims(),
        ),
        mint_with(
            Algorithm::Es256,
            &json!({"alg": "ES256", "typ": "at+jwt", "jku": "x"}),
            &claims(),
        ),
        mint_with(
            Algorithm::Es256,
            &json!({"alg": "ES256", "kid": "es256", "typ": "at+jwt"}),
            &claims(),
        ),
    ];
    let good = tokens[3].clone();
    let (input, sig) = good.rsplit_once('.').unwrap();
    tokens.push(format!("{input}.{}", b64(vec![1u8; 64])));
    tokens.push(format!("{input}.{sig}.{sig}.{sig}"));
    tokens.push(format!("{input}.{sig}=="));
    tokens.push(format!("{sig}.{sig}.{sig}"));
    for token in &tokens {
        for source in [
            TokenSource::AuthorizationHeader(format!("Bearer {token}")),
            TokenSource::AuthorizationHeader(format!("Basic {token}")),
            TokenSource::AuthorizationHeader(token.clone()),
            TokenSource::Raw(token.clone()),
        ] {
            let decision = policy.authorize(&request_with(vec![source]), &TestRing::standard());
            let Decision::Deny(deny) = decision else {
                panic!("expected a deny, got {decision:?}");
            };
            for segment in token.split('.').filter(|s| s.len() > 8) {
                assert!(!deny.detail.contains(segment), "{}", deny.detail);
            }
        }
    }
}

// --- several issuers ---------------------------------------------------

const OTHER: &str = "https://other.example";

fn two_issuers() -> Policy {
    let text = format!(
        "{}\n[[issuer]]\nissuer = \"{OTHER}\"\njwks_file = \"other.json\"\naudiences = [\"other-api\"]\nalgorithms = [\"ES256\"]\n",
        policy_text("")
    );
    Policy::from_toml(&text).unwrap()
}

#[test]
fn unverified_iss_picks_the_issuer() {
    let policy = two_issuers();
    let mut c = claims();
    c["iss"] = json!(OTHER);
    c["aud"] = json!("other-api");
    let token = mint(Algorithm::Es256, &c);
    // OTHER holds the same ES256 key.
    let ring = TestRing::standard().with(OTHER, vec![es256_key()]);
    let allow = expect_allow(&policy.authorize(&request(&token), &ring));
    assert_eq!(allow.issuer, OTHER);
    assert_eq!(ring.lookups.borrow()[0].0, OTHER);

    // OTHER's keys do not include the signing key: the signature is
    // checked with OTHER's keys, not with the first issuer's.
    let mut stranger = es256_key();
    stranger.material = Material::Ec(Algorithm::Es256, {
        let k = aws_lc_rs::signature::EcdsaKeyPair::generate(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        )
        .unwrap();
        aws_lc_rs::signature::KeyPair::public_key(&k)
            .as_ref()
            .to_vec()
    });
    let ring = TestRing::standard().with(OTHER, vec![stranger]);
    expect_deny(
        &policy.authorize(&request(&token), &ring),
        DenyReason::BadSignature,
    );
    assert_eq!(ring.lookups.borrow().len(), 1);

    // OTHER only allows ES256.
    let token = mint(Algorithm::Rs256, &c);
    let ring = TestRing::standard().with(OTHER, vec![rsa_key()]);
    expect_deny(
        &policy.authorize(&request(&token), &ring),
        DenyReason::DisallowedAlgorithm,
    );

    // The first issuer still works.
    let token = mint(Algorithm::Rs256, &claims());
    expect_allow(&policy.authorize(&request(&token), &ring));
}

#[test]
fn several_issuers_need_a_readable_iss() {
    let policy = two_issuers();
    let ring = TestRing::standard();
    let run = |payload: &[u8]| {
        let token = sign_raw(
            Algorithm::Es256,
            &header(Algorithm::Es256).to_string(),
            payload,
        );
        policy.authorize(&request(&token), &ring)
    };
    expect_deny(&run(b"not json"), DenyReason::InvalidClaims);
    expect_deny(&run(b"[1]"), DenyReason::InvalidClaims);
    expect_deny(&run(br#"{"sub":"x"}"#), DenyReason::MissingClaim);
    expect_deny(&run(br#"{"iss":42}"#), DenyReason::InvalidClaims);
    expect_deny(
        &run(br#"{"iss":"https://evil.example"}"#),
        DenyReason::WrongIssuer,
    );
    expect_deny(
        &run(br#"{"iss":"https://issuer.example/"}"#),
        DenyReason::WrongIssuer,
    );
    expect_deny(
        &run(br#"{"iss":"HTTPS://ISSUER.EXAMPLE"}"#),
        DenyReason::WrongIssuer,
    );
    assert!(ring.lookups.borrow().is_empty());
}

#[test]
fn context_and_principal_end_to_end() {
    let policy = policy(r#"context_claims = ["email", "scope", "groups", "absent"]"#);
    let mut c = claims();
    c["email"] = json!("a@example.com");
    c["scope"] = json!("orders.read orders.write");
    c["groups"] = json!(["admin", "dev"]);
    let allow = expect_allow(&decide(&policy, &mint(Algorithm::Es256, &c)));
    assert_eq!(
        allow.context,
        vec![
            (String::from("email"), String::from("\"a@example.com\"")),
            (
                String::from("scope"),
                String::from("\"orders.read orders.write\"")
            ),
            (String::from("groups"), String::from("[\"admin\",\"dev\"]")),
        ]
    );
}
