//! Test keys (aws-lc-rs), a test key ring, token minting and policy helpers.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::OnceLock;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use aws_lc_rs::{hmac, signature::UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::config::Policy;
use crate::model::{
    Algorithm, Decision, Deny, DenyReason, KeyInfo, KeyRing, LookupError, Request, TokenSource,
    VerificationKey, VerifyError,
};

/// The issuer of the default test policy.
pub const ISSUER: &str = "https://issuer.example";
/// The audience of the default test policy.
pub const AUDIENCE: &str = "orders-api";
/// The time of every test request.
pub const NOW: i64 = 1_700_000_000;
/// The HMAC test secret.
pub const HMAC_SECRET: &[u8] = b"a-test-secret-of-at-least-32-bytes!!";

/// Every private test key, generated once per test binary.
pub struct Keys {
    pub rsa: RsaKeyPair,
    pub es256: EcdsaKeyPair,
    pub es384: EcdsaKeyPair,
    pub es512: EcdsaKeyPair,
    pub ed: Ed25519KeyPair,
}

pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        rsa: RsaKeyPair::generate(KeySize::Rsa2048).expect("rsa key"),
        es256: EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
            .expect("p256 key"),
        es384: EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_FIXED_SIGNING)
            .expect("p384 key"),
        es512: EcdsaKeyPair::generate(&signature::ECDSA_P521_SHA512_FIXED_SIGNING)
            .expect("p521 key"),
        ed: Ed25519KeyPair::generate().expect("ed25519 key"),
    })
}

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The signature of `input` with the test key for `alg`.
pub fn sign_bytes(alg: Algorithm, input: &[u8]) -> Vec<u8> {
    let k = keys();
    let rng = SystemRandom::new();
    let rsa = |padding: &'static dyn signature::RsaEncoding| {
        let mut sig = vec![0; k.rsa.public_modulus_len()];
        k.rsa
            .sign(padding, &rng, input, &mut sig)
            .expect("rsa sign");
        sig
    };
    let hs = |a: hmac::Algorithm| {
        hmac::sign(&hmac::Key::new(a, HMAC_SECRET), input)
            .as_ref()
            .to_vec()
    };
    match alg {
        Algorithm::Rs256 => rsa(&signature::RSA_PKCS1_SHA256),
        Algorithm::Rs384 => rsa(&signature::RSA_PKCS1_SHA384),
        Algorithm::Rs512 => rsa(&signature::RSA_PKCS1_SHA512),
        Algorithm::Ps256 => rsa(&signature::RSA_PSS_SHA256),
        Algorithm::Ps384 => rsa(&signature::RSA_PSS_SHA384),
        Algorithm::Ps512 => rsa(&signature::RSA_PSS_SHA512),
        Algorithm::Es256 => k.es256.sign(&rng, input).expect("sign").as_ref().to_vec(),
        Algorithm::Es384 => k.es384.sign(&rng, input).expect("sign").as_ref().to_vec(),
        Algorithm::Es512 => k.es512.sign(&rng, input).expect("sign").as_ref().to_vec(),
        Algorithm::EdDsa => k.ed.sign(input).as_ref().to_vec(),
        Algorithm::Hs256 => hs(hmac::HMAC_SHA256),
        Algorithm::Hs384 => hs(hmac::HMAC_SHA384),
        Algorithm::Hs512 => hs(hmac::HMAC_SHA512),
    }
}

/// A compact JWS of raw header and payload bytes, signed with `alg`'s test key.
pub fn sign_raw(alg: Algorithm, header: &str, payload: &[u8]) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let sig = sign_bytes(alg, input.as_bytes());
    format!("{input}.{}", b64(sig))
}

/// The kid of `alg`'s test key.
pub fn kid_for(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::Rs256
        | Algorithm::Rs384
        | Algorithm::Rs512
        | Algorithm::Ps256
        | Algorithm::Ps384
        | Algorithm::Ps512 => "rsa",
        Algorithm::Es256 => "es256",
        Algorithm::Es384 => "es384",
        Algorithm::Es512 => "es512",
        Algorithm::EdDsa => "ed",
        Algorithm::Hs256 | Algorithm::Hs384 | Algorithm::Hs512 => "hs",
    }
}

/// The default header for `alg`: `{"alg", "kid", "typ": "JWT"}`.
pub fn header(alg: Algorithm) -> Value {
    json!({"alg": alg.name(), "kid": kid_for(alg), "typ": "JWT"})
}

/// Claims the default policy accepts.
pub fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "sub": "user-1",
        "aud": AUDIENCE,
        "iat": NOW - 10,
        "exp": NOW + 3600,
    })
}

/// A token with `header` and `claims`, signed with the test key of `alg`.
pub fn mint_with(alg: Algorithm, header: &Value, claims: &Value) -> String {
    sign_raw(alg, &header.to_string(), claims.to_string().as_bytes())
}

/// A token with the default header of `alg` and these claims.
pub fn mint(alg: Algorithm, claims: &Value) -> String {
    mint_with(alg, &header(alg), claims)
}

/// A request carrying `Authorization: Bearer <token>` at [`NOW`].
pub fn request(token: &str) -> Request {
    request_with(vec![TokenSource::AuthorizationHeader(format!(
        "Bearer {token}"
    ))])
}

/// A request with these sources at [`NOW`].
pub fn request_with(token_sources: Vec<TokenSource>) -> Request {
    Request {
        token_sources,
        method: String::from("GET"),
        path: String::from("/orders/1"),
        now: NOW,
        ..Request::default()
    }
}

/// Every algorithm, as a TOML array.
pub const ALL_ALGS: &str = r#"["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "HS256", "HS384", "HS512"]"#;

const SECRETS: &str = r#"
[[issuer.secrets]]
kid = "hs"
env = "SECRET"
algorithm = "HS256"
[[issuer.secrets]]
kid = "hs"
env = "SECRET"
algorithm = "HS384"
[[issuer.secrets]]
kid = "hs"
env = "SECRET"
algorithm = "HS512"
"#;

/// The default policy text with `extra` lines in the issuer table.
pub fn policy_text(extra: &str) -> String {
    format!(
        "[[issuer]]\nissuer = \"{ISSUER}\"\njwks_file = \"jwks.json\"\nalgorithms = {ALL_ALGS}\n{}\n{extra}\n{SECRETS}",
        if extra.contains("audiences") || extra.contains("client_ids") {
            String::new()
        } else {
            format!("audiences = [\"{AUDIENCE}\"]")
        }
    )
}

/// The default policy (every algorithm, audience `orders-api`) plus `extra`.
pub fn policy(extra: &str) -> Policy {
    let text = policy_text(extra);
    match Policy::from_toml(&text) {
        Ok(p) => p,
        Err(e) => panic!("test policy rejected: {e}\n{text}"),
    }
}

/// Key material of a test key.
#[derive(Debug, Clone)]
pub enum Material {
    Rsa(Vec<u8>),
    Ec(Algorithm, Vec<u8>),
    Ed(Vec<u8>),
    Hmac(Vec<u8>),
}

/// A test verification key.
#[derive(Debug, Clone)]
pub struct TestKey {
    pub info: KeyInfo,
    pub material: Material,
}

impl VerificationKey for TestKey {
    fn info(&self) -> KeyInfo {
        self.info.clone()
    }

    fn verify(&self, alg: Algorithm, message: &[u8], sig: &[u8]) -> Result<(), VerifyError> {
        let public = |a: &'static dyn signature::VerificationAlgorithm, key: &[u8]| {
            UnparsedPublicKey::new(a, key.to_vec())
                .verify(message, sig)
                .map_err(|_| VerifyError::BadSignature)
        };
        match (&self.material, alg) {
            (Material::Rsa(k), Algorithm::Rs256) => {
                public(&signature::RSA_PKCS1_2048_8192_SHA256, k)
            }
            (Material::Rsa(k), Algorithm::Rs384) => {
                public(&signature::RSA_PKCS1_2048_8192_SHA384, k)
            }
            (Material::Rsa(k), Algorithm::Rs512) => {
                public(&signature::RSA_PKCS1_2048_8192_SHA512, k)
            }
            (Material::Rsa(k), Algorithm::Ps256) => public(&signature::RSA_PSS_2048_8192_SHA256, k),
            (Material::Rsa(k), Algorithm::Ps384) => public(&signature::RSA_PSS_2048_8192_SHA384, k),
            (Material::Rsa(k), Algorithm::Ps512) => public(&signature::RSA_PSS_2048_8192_SHA512, k),
            (Material::Ec(Algorithm::Es256, k), Algorithm::Es256) => {
                public(&signature::ECDSA_P256_SHA256_FIXED, k)
            }
            (Material::Ec(Algorithm::Es384, k), Algorithm::Es384) => {
                public(&signature::ECDSA_P384_SHA384_FIXED, k)
            }
            (Material::Ec(Algorithm::Es512, k), Algorithm::Es512) => {
                public(&signature::ECDSA_P521_SHA512_FIXED, k)
            }
            (Material::Ed(k), Algorithm::EdDsa) => public(&signature::ED25519, k),
            (Material::Hmac(k), Algorithm::Hs256 | Algorithm::Hs384 | Algorithm::Hs512) => {
                let a = match alg {
                    Algorithm::Hs256 => hmac::HMAC_SHA256,
                    Algorithm::Hs384 => hmac::HMAC_SHA384,
                    _ => hmac::HMAC_SHA512,
                };
                hmac::verify(&hmac::Key::new(a, k), message, sig)
                    .map_err(|_| VerifyError::BadSignature)
            }
            _ => Err(VerifyError::KeyMismatch),
        }
    }
}

fn info(kid: &str, kty: &str, crv: Option<&str>, bits: u32) -> KeyInfo {
    KeyInfo {
        kid: Some(kid.to_owned()),
        kty: kty.to_owned(),
        crv: crv.map(str::to_owned),
        bits,
        ..KeyInfo::default()
    }
}

pub fn rsa_key() -> TestKey {
    TestKey {
        info: info("rsa", "RSA", None, 2048),
        material: Material::Rsa(keys().rsa.public_key().as_ref().to_vec()),
    }
}

pub fn es256_key() -> TestKey {
    TestKey {
        info: info("es256", "EC", Some("P-256"), 256),
        material: Material::Ec(
            Algorithm::Es256,
            keys().es256.public_key().as_ref().to_vec(),
        ),
    }
}

pub fn es384_key() -> TestKey {
    TestKey {
        info: info("es384", "EC", Some("P-384"), 384),
        material: Material::Ec(
            Algorithm::Es384,
            keys().es384.public_key().as_ref().to_vec(),
        ),
    }
}

pub fn es512_key() -> TestKey {
    TestKey {
        info: info("es512", "EC", Some("P-521"), 521),
        material: Material::Ec(
            Algorithm::Es512,
            keys().es512.public_key().as_ref().to_vec(),
        ),
    }
}

pub fn ed_key() -> TestKey {
    TestKey {
        info: info("ed", "OKP", Some("Ed25519"), 256),
        material: Material::Ed(keys().ed.public_key().as_ref().to_vec()),
    }
}

pub fn hmac_key() -> TestKey {
    TestKey {
        info: info("hs", "oct", None, 8 * HMAC_SECRET.len() as u32),
        material: Material::Hmac(HMAC_SECRET.to_vec()),
    }
}

/// Every test key.
pub fn all_keys() -> Vec<TestKey> {
    vec![
        rsa_key(),
        es256_key(),
        es384_key(),
        es512_key(),
        ed_key(),
        hmac_key(),
    ]
}

/// A key ring over fixed per-issuer answers, recording every lookup.
#[derive(Debug, Default)]
pub struct TestRing {
    pub issuers: BTreeMap<String, Result<Vec<TestKey>, LookupError>>,
    pub lookups: RefCell<Vec<(String, Option<String>)>>,
}

impl TestRing {
    /// [`ISSUER`] with every test key.
    pub fn standard() -> TestRing {
        TestRing::new().with(ISSUER, all_keys())
    }

    pub fn new() -> TestRing {
        TestRing::default()
    }

    pub fn with(mut self, issuer: &str, keys: Vec<TestKey>) -> TestRing {
        self.issuers.insert(issuer.to_owned(), Ok(keys));
        self
    }

    pub fn failing(mut self, issuer: &str, error: LookupError) -> TestRing {
        self.issuers.insert(issuer.to_owned(), Err(error));
        self
    }
}

impl KeyRing for TestRing {
    type Key = TestKey;

    fn lookup(&self, issuer: &str, kid: Option<&str>) -> Result<Vec<TestKey>, LookupError> {
        self.lookups
            .borrow_mut()
            .push((issuer.to_owned(), kid.map(str::to_owned)));
        let keys = self
            .issuers
            .get(issuer)
            .ok_or(LookupError::UnknownIssuer)?
            .clone()?;
        match kid {
            None => Ok(keys),
            Some(kid) => {
                let found: Vec<TestKey> = keys
                    .into_iter()
                    .filter(|k| k.info.kid.as_deref() == Some(kid))
                    .collect();
                if found.is_empty() {
                    Err(LookupError::UnknownKey)
                } else {
                    Ok(found)
                }
            }
        }
    }
}

/// The deny of `decision`, failing the test on anything else.
#[track_caller]
pub fn expect_deny(decision: &Decision, reason: DenyReason) -> Deny {
    match decision {
        Decision::Deny(deny) => {
            assert_eq!(deny.reason, reason, "wrong reason; detail: {}", deny.detail);
            assert_eq!(deny.status, reason.status());
            assert!(!deny.detail.is_empty());
            deny.clone()
        }
        other => panic!("expected deny {reason:?}, got {other:?}"),
    }
}

/// The allow of `decision`, failing the test on anything else.
#[track_caller]
pub fn expect_allow(decision: &Decision) -> crate::model::Allow {
    match decision {
        Decision::Allow(allow) => allow.clone(),
        other => panic!("expected allow, got {other:?}"),
    }
}

/// A small deterministic generator (xorshift64), so a failing random test
/// reproduces from its seed.
pub(crate) struct Xorshift(pub(crate) u64);

impl Xorshift {
    /// The next value (the seed must not be zero).
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A value below `n`.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// One of `items`.
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}
