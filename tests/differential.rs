//! The same decision through the component and natively.
//!
//! The module is `tollgate-policy` compiled to WebAssembly, where some of
//! its code may take paths the native build does not (a module built with
//! `simd128` decodes base64url sixteen characters at a time, for one), and
//! where the compiler and the component boundary differ. Here every
//! token, valid or edited, is decided by the component in the host and by
//! the same policy compiled natively over the host's own key store, and
//! the two decisions must be equal, field by field.

// Tests: a failed expectation is a panic, and fixtures are indexed directly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use serde_json::json;
use tollgate_host::Authorizer;
use tollgate_host::model::Decision;
use tollgate_keys::StoreRing;
use tollgate_keys::mint::SigningKey;
use tollgate_tests::{ScratchDir, bearer_request, dir_authorizer, test_key};

const POLICY: &str = r#"[[issuer]]
issuer = "https://issuer.example"
jwks_file = "jwks.json"
audiences = ["api"]
algorithms = ["RS256", "ES256", "EdDSA", "HS256"]

[[issuer.secrets]]
kid = "hmac-1"
file = "hmac-1.secret"
encoding = "base64url"
algorithm = "HS256"
"#;

struct Fixture {
    authorizer: Authorizer,
    native: tollgate_policy::Policy,
    keys: Vec<SigningKey>,
    _dir: ScratchDir,
}

fn fixture() -> Fixture {
    let keys: Vec<SigningKey> = ["rsa-1", "ec-1", "ed-1", "hmac-1"]
        .into_iter()
        .map(test_key)
        .collect();
    let dir = ScratchDir::new("differential");
    let public: Vec<_> = keys[..3].iter().map(SigningKey::public_jwk).collect();
    std::fs::write(
        dir.0.join("jwks.json"),
        json!({ "keys": public }).to_string(),
    )
    .unwrap();
    let secret = keys[3].public_jwk()["k"].as_str().unwrap().to_string();
    std::fs::write(dir.0.join("hmac-1.secret"), secret).unwrap();
    let authorizer = dir_authorizer(POLICY, &dir.0).unwrap();
    let native = tollgate_policy::Policy::from_toml(POLICY).unwrap();
    Fixture {
        authorizer,
        native,
        keys,
        _dir: dir,
    }
}

/// A small xorshift: the same edits on every run.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Decide `token` both ways; panics with both decisions if they differ.
#[track_caller]
fn same_decision(fixture: &Fixture, token: &str, now: i64) -> Decision {
    let request = bearer_request(token, now);
    let component = fixture.authorizer.authorize(&request);
    let native = fixture
        .native
        .authorize(&request, &StoreRing(fixture.authorizer.keys()));
    assert_eq!(component, native, "{token}");
    component
}

#[test]
fn valid_and_edited_tokens_are_decided_alike_by_the_component_and_natively() {
    let fixture = fixture();
    let now = 1_800_000_000;
    let mut random = Random(0x0d1f_f0e5);
    // Bytes an edit puts in: the alphabet's edges, the separators and
    // padding of other encodings, a space, and a non-ASCII character.
    let edits = [
        "A", "Z", "a", "z", "0", "9", "-", "_", "+", "/", "=", ".", " ", "é",
    ];
    let (mut allowed, mut denied) = (0, 0);
    for i in 0..2_000 {
        let key = &fixture.keys[i % fixture.keys.len()];
        // Claims of varied lengths, so every segment ends at every offset
        // of a sixteen-character block sooner or later.
        let claims = json!({
            "iss": "https://issuer.example",
            "aud": "api",
            "sub": "u".repeat(1 + random.below(40)),
            "scope": "read ".repeat(random.below(12)).trim_end(),
            "exp": now + 300,
            "iat": now - 10,
            "jti": format!("{:x}", random.next()),
        });
        let token = key.sign_jwt(&claims, None).unwrap();
        match same_decision(&fixture, &token, now) {
            Decision::Allow(_) => allowed += 1,
            other => panic!("a valid {} token is refused: {other:?}", key.alg().name()),
        }
        // The same token with one character replaced (or one removed).
        let at = random.below(token.len());
        let mut edited = token.clone();
        edited.replace_range(at..at + 1, edits[random.below(edits.len())]);
        if random.below(8) == 0 {
            edited.remove(at);
        }
        if !matches!(same_decision(&fixture, &edited, now), Decision::Allow(_)) {
            denied += 1;
        }
    }
    assert_eq!(allowed, 2_000);
    // Most edits break the signature or the encoding; a few land on a
    // byte that decodes to the same bits and still verify.
    assert!(denied > 1_800, "only {denied} edited tokens were refused");
}
