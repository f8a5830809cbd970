//! Demo/test key generation and token minting.
//!
//! Nothing here is on the verification path. It exists so demos and tests can
//! create signing keys, publish their JWKs, and mint (including deliberately
//! malformed) tokens.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{self, SystemRandom};
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair, RsaEncoding, RsaKeyPair,
};
use serde_json::{Map, Value, json};

use crate::algorithm::min_secret_len;
use crate::der::decode_rsa_public_key;
use crate::{Algorithm, b64};

/// The `tollgate_signing_key` format version written and accepted.
const FORMAT_VERSION: u64 = 1;

/// Why a signing key could not be generated, loaded, or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MintError {
    /// Key generation failed in the crypto library.
    #[error("could not generate a {alg} key: {reason}")]
    Generate {
        /// The algorithm.
        alg: Algorithm,
        /// What failed.
        reason: String,
    },
    /// The text is not a tollgate signing key file.
    #[error(
        "not a tollgate signing key file: {0}; expected {{\"tollgate_signing_key\": 1, \"alg\": \"ES256\", \"kid\": \"...\", \"pkcs8\": \"<base64url>\"}} (or \"secret\" for HS*)"
    )]
    InvalidKeyFile(String),
    /// The key file names an algorithm tollgate does not know.
    #[error(
        "signing key file alg {0:?} is not supported; use one of RS256/384/512, PS256/384/512, ES256/384/512, EdDSA, HS256/384/512"
    )]
    UnknownAlgorithm(String),
    /// The key file's private key does not parse or does not fit its algorithm.
    #[error(
        "the {alg} private key in the signing key file is invalid: {reason}; regenerate the key"
    )]
    KeyRejected {
        /// The algorithm.
        alg: Algorithm,
        /// What is wrong.
        reason: String,
    },
    /// An HMAC secret shorter than the hash output size.
    #[error("the {alg} secret is {actual} bytes but must be at least {min}; regenerate the key")]
    SecretTooShort {
        /// The algorithm.
        alg: Algorithm,
        /// Required minimum in bytes.
        min: usize,
        /// Actual length in bytes.
        actual: usize,
    },
    /// Signing failed in the crypto library.
    #[error("signing with the {0} key failed")]
    Sign(Algorithm),
    /// The header or claims could not be serialized.
    #[error("could not serialize the token header or claims: {0}")]
    Json(#[from] serde_json::Error),
}

enum Private {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Hmac(Vec<u8>),
}

/// A private signing key plus its metadata.
///
/// Serialized by [`SigningKey::to_json`] as a "tollgate signing key" file:
/// `{"tollgate_signing_key": 1, "alg": "ES256", "kid": "...", "pkcs8": "<base64url PKCS#8 v1 DER>"}`,
/// or for HS* `{"tollgate_signing_key": 1, "alg": "HS256", "kid": "...", "secret": "<base64url>"}`.
/// `Debug` shows only the algorithm and kid.
pub struct SigningKey {
    alg: Algorithm,
    kid: String,
    private: Private,
    /// PKCS#8 DER (asymmetric) or the secret (HMAC): what `to_json` writes.
    stored: Vec<u8>,
    public_jwk: Value,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn ecdsa_signing(alg: Algorithm) -> Option<&'static EcdsaSigningAlgorithm> {
    match alg {
        Algorithm::Es256 => Some(&signature::ECDSA_P256_SHA256_FIXED_SIGNING),
        Algorithm::Es384 => Some(&signature::ECDSA_P384_SHA384_FIXED_SIGNING),
        Algorithm::Es512 => Some(&signature::ECDSA_P521_SHA512_FIXED_SIGNING),
        _ => None,
    }
}

fn rsa_encoding(alg: Algorithm) -> Option<&'static dyn RsaEncoding> {
    let e: &'static dyn RsaEncoding = match alg {
        Algorithm::Rs256 => &signature::RSA_PKCS1_SHA256,
        Algorithm::Rs384 => &signature::RSA_PKCS1_SHA384,
        Algorithm::Rs512 => &signature::RSA_PKCS1_SHA512,
        Algorithm::Ps256 => &signature::RSA_PSS_SHA256,
        Algorithm::Ps384 => &signature::RSA_PSS_SHA384,
        Algorithm::Ps512 => &signature::RSA_PSS_SHA512,
        _ => return None,
    };
    Some(e)
}

fn hmac_algorithm(alg: Algorithm) -> Option<hmac::Algorithm> {
    match alg {
        Algorithm::Hs256 => Some(hmac::HMAC_SHA256),
        Algorithm::Hs384 => Some(hmac::HMAC_SHA384),
        Algorithm::Hs512 => Some(hmac::HMAC_SHA512),
        _ => None,
    }
}

/// JWK `crv` for an ECDSA algorithm.
fn curve_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::Es384 => "P-384",
        Algorithm::Es512 => "P-521",
        _ => "P-256",
    }
}

impl SigningKey {
    /// Generate a fresh key for `alg` with key id `kid`.
    ///
    /// RS*/PS*: RSA 2048; ES256/ES384/ES512: P-256/P-384/P-521; EdDSA:
    /// Ed25519; HS256/HS384/HS512: 32/48/64 random bytes.
    pub fn generate(alg: Algorithm, kid: &str) -> Result<Self, MintError> {
        let fail = |reason: &str| MintError::Generate {
            alg,
            reason: reason.to_string(),
        };
        let (private, stored) = if let Some(min) = min_secret_len(alg) {
            let mut secret = vec![0u8; min];
            rand::fill(&mut secret).map_err(|_| fail("the system random generator failed"))?;
            (Private::Hmac(secret.clone()), secret)
        } else if let Some(signing) = ecdsa_signing(alg) {
            let pair =
                EcdsaKeyPair::generate(signing).map_err(|_| fail("EC key generation failed"))?;
            let der = pair
                .to_pkcs8v1()
                .map_err(|_| fail("PKCS#8 encoding failed"))?;
            let stored = der.as_ref().to_vec();
            (Private::Ecdsa(pair), stored)
        } else if alg == Algorithm::EdDsa {
            let pair =
                Ed25519KeyPair::generate().map_err(|_| fail("Ed25519 key generation failed"))?;
            let der = pair
                .to_pkcs8v1()
                .map_err(|_| fail("PKCS#8 encoding failed"))?;
            let stored = der.as_ref().to_vec();
            (Private::Ed25519(pair), stored)
        } else {
            let pair = RsaKeyPair::generate(KeySize::Rsa2048)
                .map_err(|_| fail("RSA key generation failed"))?;
            let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der<'static>>::as_der(&pair)
                .map_err(|_| fail("PKCS#8 encoding failed"))?;
            let stored = der.as_ref().to_vec();
            (Private::Rsa(pair), stored)
        };
        Self::assemble(alg, kid.to_string(), private, stored)
    }

    /// An HMAC key (`HS256`, `HS384`, `HS512`) from its secret bytes, e.g.
    /// read from the file [`SigningKey::secret_file_text`] wrote. The secret
    /// must be at least 32 / 48 / 64 bytes.
    pub fn from_secret(alg: Algorithm, kid: &str, secret: &[u8]) -> Result<Self, MintError> {
        let Some(min) = min_secret_len(alg) else {
            return Err(MintError::InvalidKeyFile(format!(
                "an HMAC secret signs with HS256, HS384 or HS512, not {alg}"
            )));
        };
        if secret.len() < min {
            return Err(MintError::SecretTooShort {
                alg,
                min,
                actual: secret.len(),
            });
        }
        Self::assemble(
            alg,
            kid.to_string(),
            Private::Hmac(secret.to_vec()),
            secret.to_vec(),
        )
    }

    /// For HMAC keys, the secret as `[[issuer.secrets]]` reads it with
    /// `encoding = "base64url"` (one line); `None` for asymmetric keys. It IS
    /// the secret: write it to a file only its owner can read, never to
    /// stdout or a log.
    pub fn secret_file_text(&self) -> Option<String> {
        match &self.private {
            Private::Hmac(secret) => Some(b64::encode_url(secret) + "\n"),
            _ => None,
        }
    }

    /// Load a key from a "tollgate signing key" JSON file's text (see [`SigningKey`]).
    pub fn from_json(text: &str) -> Result<Self, MintError> {
        let doc: Value =
            serde_json::from_str(text).map_err(|e| MintError::InvalidKeyFile(e.to_string()))?;
        let obj = doc
            .as_object()
            .ok_or_else(|| MintError::InvalidKeyFile("it is not a JSON object".to_string()))?;
        match obj.get("tollgate_signing_key").and_then(Value::as_u64) {
            Some(FORMAT_VERSION) => {}
            Some(other) => {
                return Err(MintError::InvalidKeyFile(format!(
                    "format version {other} is not supported (only {FORMAT_VERSION})"
                )));
            }
            None => {
                return Err(MintError::InvalidKeyFile(
                    "\"tollgate_signing_key\" is missing or not a number".to_string(),
                ));
            }
        }
        let string_member = |name: &str| {
            obj.get(name).and_then(Value::as_str).ok_or_else(|| {
                MintError::InvalidKeyFile(format!("\"{name}\" is missing or not a string"))
            })
        };
        let alg_name = string_member("alg")?;
        let alg = Algorithm::from_name(alg_name)
            .ok_or_else(|| MintError::UnknownAlgorithm(alg_name.to_string()))?;
        let kid = string_member("kid")?.to_string();
        let member = if alg.is_symmetric() {
            "secret"
        } else {
            "pkcs8"
        };
        let stored = b64::decode(&b64::URL, string_member(member)?).map_err(|reason| {
            MintError::InvalidKeyFile(format!("\"{member}\" is not base64url: {reason}"))
        })?;
        let rejected = |reason: String| MintError::KeyRejected { alg, reason };

        let private = if let Some(min) = min_secret_len(alg) {
            if stored.len() < min {
                return Err(MintError::SecretTooShort {
                    alg,
                    min,
                    actual: stored.len(),
                });
            }
            Private::Hmac(stored.clone())
        } else if let Some(signing) = ecdsa_signing(alg) {
            Private::Ecdsa(
                EcdsaKeyPair::from_pkcs8(signing, &stored).map_err(|e| rejected(e.to_string()))?,
            )
        } else if alg == Algorithm::EdDsa {
            Private::Ed25519(
                Ed25519KeyPair::from_pkcs8(&stored).map_err(|e| rejected(e.to_string()))?,
            )
        } else {
            let pair = RsaKeyPair::from_pkcs8(&stored).map_err(|e| rejected(e.to_string()))?;
            if pair.public_modulus_len() < 256 {
                return Err(rejected(
                    "the RSA modulus is smaller than 2048 bits".to_string(),
                ));
            }
            Private::Rsa(pair)
        };
        Self::assemble(alg, kid, private, stored)
    }

    fn assemble(
        alg: Algorithm,
        kid: String,
        private: Private,
        stored: Vec<u8>,
    ) -> Result<Self, MintError> {
        let mut jwk = Map::new();
        match &private {
            Private::Rsa(pair) => {
                let (n, e) =
                    decode_rsa_public_key(pair.public_key().as_ref()).ok_or_else(|| {
                        MintError::KeyRejected {
                            alg,
                            reason: "its public key does not encode as PKCS#1".to_string(),
                        }
                    })?;
                jwk.insert("kty".into(), "RSA".into());
                jwk.insert("n".into(), b64::encode_url(&n).into());
                jwk.insert("e".into(), b64::encode_url(&e).into());
            }
            Private::Ecdsa(pair) => {
                let point = pair.public_key().as_ref();
                let len = (point.len().saturating_sub(1)) / 2;
                if point.first() != Some(&0x04) || point.len() != 1 + 2 * len {
                    return Err(MintError::KeyRejected {
                        alg,
                        reason: "its public key is not an uncompressed point".to_string(),
                    });
                }
                jwk.insert("kty".into(), "EC".into());
                jwk.insert("crv".into(), curve_name(alg).into());
                let coordinates = point.get(1..).unwrap_or_default();
                let (x, y) = coordinates.split_at(len);
                jwk.insert("x".into(), b64::encode_url(x).into());
                jwk.insert("y".into(), b64::encode_url(y).into());
            }
            Private::Ed25519(pair) => {
                jwk.insert("kty".into(), "OKP".into());
                jwk.insert("crv".into(), "Ed25519".into());
                jwk.insert(
                    "x".into(),
                    b64::encode_url(pair.public_key().as_ref()).into(),
                );
            }
            Private::Hmac(secret) => {
                jwk.insert("kty".into(), "oct".into());
                jwk.insert("k".into(), b64::encode_url(secret).into());
            }
        }
        jwk.insert("kid".into(), kid.clone().into());
        jwk.insert("alg".into(), alg.name().into());
        jwk.insert("use".into(), "sig".into());
        Ok(SigningKey {
            alg,
            kid,
            private,
            stored,
            public_jwk: Value::Object(jwk),
        })
    }

    /// The key file JSON (pretty-printed); see [`SigningKey`] for the format.
    /// It contains the private key: store it like one.
    pub fn to_json(&self) -> String {
        let member = if self.alg.is_symmetric() {
            "secret"
        } else {
            "pkcs8"
        };
        let doc = json!({
            "tollgate_signing_key": FORMAT_VERSION,
            "alg": self.alg.name(),
            "kid": self.kid,
            member: b64::encode_url(&self.stored),
        });
        serde_json::to_string_pretty(&doc).unwrap_or_else(|_| doc.to_string())
    }

    /// The key's algorithm.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public JWK: `kty`, `kid`, `alg`, `use: "sig"`, and `n`/`e`,
    /// `crv`/`x`/`y`, or `crv`/`x`.
    ///
    /// For HS* keys this is the `oct` JWK with `k`, which IS THE SECRET: it is
    /// for local test fixtures only (tollgate refuses `oct` keys in a JWK Set).
    pub fn public_jwk(&self) -> Value {
        self.public_jwk.clone()
    }

    /// `{"keys": [public_jwk]}`.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.public_jwk()] })
    }

    /// A compact JWS over `claims` (serialized with `serde_json::to_vec`).
    ///
    /// The header is `{"alg", "typ": "JWT", "kid"}` with the members of
    /// `extra_header` inserted over it, so they may override (e.g. a forged
    /// `"alg"` for attack tests; a `null` value stays as JSON `null`). The
    /// signature is always made with this key's own algorithm. For headers
    /// lacking a default member, use [`compact`].
    pub fn sign_jwt(
        &self,
        claims: &Value,
        extra_header: Option<&Map<String, Value>>,
    ) -> Result<String, MintError> {
        let mut header = Map::new();
        header.insert("alg".into(), self.alg.name().into());
        header.insert("typ".into(), "JWT".into());
        header.insert("kid".into(), self.kid.clone().into());
        if let Some(extra) = extra_header {
            for (name, value) in extra {
                header.insert(name.clone(), value.clone());
            }
        }
        let payload = serde_json::to_vec(claims)?;
        compact(&Value::Object(header), &payload, self)
    }

    /// Sign arbitrary bytes (normally the JWS signing input) with this key's
    /// algorithm. Returns the raw JWS signature: PKCS#1 v1.5 / PSS bytes,
    /// fixed-width `r || s` for ECDSA, 64 bytes for Ed25519, the HMAC tag.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, MintError> {
        let alg = self.alg;
        match &self.private {
            Private::Rsa(pair) => {
                let encoding = rsa_encoding(alg).ok_or(MintError::Sign(alg))?;
                let mut sig = vec![0u8; pair.public_modulus_len()];
                pair.sign(encoding, &SystemRandom::new(), message, &mut sig)
                    .map_err(|_| MintError::Sign(alg))?;
                Ok(sig)
            }
            Private::Ecdsa(pair) => pair
                .sign(&SystemRandom::new(), message)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|_| MintError::Sign(alg)),
            Private::Ed25519(pair) => pair
                .try_sign(message)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|_| MintError::Sign(alg)),
            Private::Hmac(secret) => {
                let hmac_alg = hmac_algorithm(alg).ok_or(MintError::Sign(alg))?;
                let key = hmac::Key::new(hmac_alg, secret);
                Ok(hmac::sign(&key, message).as_ref().to_vec())
            }
        }
    }
}

/// A compact JWS from an explicit header and payload, signed by `key` with
/// the key's own algorithm whatever the header says (for tests crafting odd
/// headers).
pub fn compact(header: &Value, payload: &[u8], key: &SigningKey) -> Result<String, MintError> {
    let header_json = serde_json::to_vec(header)?;
    let signing_input = format!(
        "{}.{}",
        b64::encode_url(&header_json),
        b64::encode_url(payload)
    );
    let signature = key.sign(signing_input.as_bytes())?;
    Ok(format!("{signing_input}.{}", b64::encode_url(&signature)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{jws_header, signing_key, split_jws};
    use crate::{NativeKey, VerifyError};

    fn verifier(key: &SigningKey) -> NativeKey {
        if key.alg().is_symmetric() {
            let k = key.public_jwk()["k"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_default();
            let secret = b64::decode(&b64::URL, &k).unwrap();
            NativeKey::from_secret(&secret, Some(key.kid().into()), key.alg()).unwrap()
        } else {
            NativeKey::from_jwk(&key.public_jwk()).unwrap()
        }
    }

    #[test]
    fn key_files_round_trip_for_every_algorithm() {
        for alg in Algorithm::ALL {
            let key = signing_key(alg, "round-trip");
            let text = key.to_json();
            let doc: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(doc["tollgate_signing_key"], json!(1));
            assert_eq!(doc["alg"], json!(alg.name()));
            assert_eq!(doc["kid"], json!("round-trip"));
            let member = if alg.is_symmetric() {
                "secret"
            } else {
                "pkcs8"
            };
            assert!(doc[member].is_string(), "{alg}: {text}");
            assert!(text.contains('\n'), "pretty JSON");

            let again = SigningKey::from_json(&text).unwrap();
            assert_eq!(again.alg(), alg);
            assert_eq!(again.kid(), "round-trip");
            assert_eq!(again.public_jwk(), key.public_jwk(), "{alg}");
            assert_eq!(again.to_json(), text, "{alg}");

            // A token from the reloaded key verifies with the original's JWK.
            let token = again.sign_jwt(&json!({"iss": "me"}), None).unwrap();
            let (input, sig) = split_jws(&token);
            assert_eq!(
                verifier(&key).verify(alg, input.as_bytes(), &sig),
                Ok(()),
                "{alg}"
            );
        }
    }

    #[test]
    fn public_jwks_have_the_expected_members() {
        let expect = [
            (Algorithm::Rs256, "RSA", &["n", "e"][..]),
            (Algorithm::Ps512, "RSA", &["n", "e"][..]),
            (Algorithm::Es256, "EC", &["crv", "x", "y"][..]),
            (Algorithm::Es384, "EC", &["crv", "x", "y"][..]),
            (Algorithm::Es512, "EC", &["crv", "x", "y"][..]),
            (Algorithm::EdDsa, "OKP", &["crv", "x"][..]),
            (Algorithm::Hs384, "oct", &["k"][..]),
        ];
        for (alg, kty, members) in expect {
            let key = signing_key(alg, "m");
            let jwk = key.public_jwk();
            let obj = jwk.as_object().unwrap();
            assert_eq!(obj["kty"], json!(kty));
            assert_eq!(obj["kid"], json!("m"));
            assert_eq!(obj["alg"], json!(alg.name()));
            assert_eq!(obj["use"], json!("sig"));
            for m in members {
                assert!(obj.contains_key(*m), "{alg} lacks {m}");
            }
            assert_eq!(obj.len(), 4 + members.len(), "{alg}: {jwk}");
            assert!(!obj.contains_key("d"));
            assert_eq!(key.jwks(), json!({"keys": [jwk]}));
        }
        assert_eq!(
            signing_key(Algorithm::Es384, "c").public_jwk()["crv"],
            json!("P-384")
        );
        assert_eq!(
            signing_key(Algorithm::Es512, "c").public_jwk()["crv"],
            json!("P-521")
        );
        assert_eq!(
            signing_key(Algorithm::Rs256, "c").public_jwk()["e"],
            json!("AQAB")
        );
    }

    #[test]
    fn sign_jwt_header_claims_and_overrides() {
        let key = signing_key(Algorithm::Es256, "kid-9");
        let claims = json!({"sub": "alice", "n": 1});
        let token = key.sign_jwt(&claims, None).unwrap();
        assert_eq!(token.split('.').count(), 3);
        assert_eq!(
            jws_header(&token),
            json!({"alg": "ES256", "typ": "JWT", "kid": "kid-9"})
        );
        let payload = token.split('.').nth(1).unwrap();
        let decoded: Value =
            serde_json::from_slice(&b64::decode(&b64::URL, payload).unwrap()).unwrap();
        assert_eq!(decoded, claims);

        let mut extra = Map::new();
        extra.insert("alg".into(), json!("HS256"));
        extra.insert("typ".into(), json!("at+jwt"));
        extra.insert("jku".into(), json!("https://evil.example/jwks"));
        let forged = key.sign_jwt(&claims, Some(&extra)).unwrap();
        let header = jws_header(&forged);
        assert_eq!(header["alg"], json!("HS256"));
        assert_eq!(header["typ"], json!("at+jwt"));
        assert_eq!(header["kid"], json!("kid-9"));
        assert_eq!(header["jku"], json!("https://evil.example/jwks"));
        // Still signed with the key's own algorithm.
        let (input, sig) = split_jws(&forged);
        let vk = verifier(&key);
        assert_eq!(vk.verify(Algorithm::Es256, input.as_bytes(), &sig), Ok(()));
        assert_eq!(
            vk.verify(Algorithm::Hs256, input.as_bytes(), &sig),
            Err(VerifyError::KeyMismatch)
        );
    }

    #[test]
    fn compact_uses_the_exact_header_and_payload() {
        let key = signing_key(Algorithm::EdDsa, "ed");
        let header = json!({"alg": "EdDSA"});
        let token = compact(&header, b"not json at all", &key).unwrap();
        let mut parts = token.split('.');
        assert_eq!(parts.next(), Some("eyJhbGciOiJFZERTQSJ9"));
        assert_eq!(
            parts.next(),
            Some(b64::encode_url(b"not json at all").as_str())
        );
        let (input, sig) = split_jws(&token);
        assert_eq!(sig.len(), 64);
        assert_eq!(
            verifier(&key).verify(Algorithm::EdDsa, input.as_bytes(), &sig),
            Ok(())
        );
    }

    #[test]
    fn raw_signature_sizes() {
        for (alg, len) in [
            (Algorithm::Rs256, 256),
            (Algorithm::Ps384, 256),
            (Algorithm::Es256, 64),
            (Algorithm::Es384, 96),
            (Algorithm::Es512, 132),
            (Algorithm::EdDsa, 64),
            (Algorithm::Hs256, 32),
            (Algorithm::Hs384, 48),
            (Algorithm::Hs512, 64),
        ] {
            assert_eq!(
                signing_key(alg, "s").sign(b"msg").unwrap().len(),
                len,
                "{alg}"
            );
        }
    }

    #[test]
    fn bad_key_files_are_refused() {
        let text = |v: Value| v.to_string();
        let es = signing_key(Algorithm::Es256, "e");
        let mut doc: Value = serde_json::from_str(&es.to_json()).unwrap();

        assert!(matches!(
            SigningKey::from_json("nope"),
            Err(MintError::InvalidKeyFile(_))
        ));
        assert!(matches!(
            SigningKey::from_json("[]"),
            Err(MintError::InvalidKeyFile(_))
        ));

        let mut v2 = doc.clone();
        v2["tollgate_signing_key"] = json!(2);
        assert!(
            matches!(SigningKey::from_json(&text(v2)), Err(MintError::InvalidKeyFile(m)) if m.contains("version 2"))
        );

        let mut none = doc.clone();
        none["alg"] = json!("none");
        assert!(
            matches!(SigningKey::from_json(&text(none)), Err(MintError::UnknownAlgorithm(a)) if a == "none")
        );

        let mut no_kid = doc.clone();
        no_kid.as_object_mut().unwrap().remove("kid");
        assert!(matches!(
            SigningKey::from_json(&text(no_kid)),
            Err(MintError::InvalidKeyFile(_))
        ));

        let mut bad_b64 = doc.clone();
        bad_b64["pkcs8"] = json!("***");
        assert!(matches!(
            SigningKey::from_json(&text(bad_b64)),
            Err(MintError::InvalidKeyFile(_))
        ));

        // A P-256 key labelled ES384 or RS256 or EdDSA.
        for alg in ["ES384", "RS256", "EdDSA"] {
            doc["alg"] = json!(alg);
            assert!(
                matches!(
                    SigningKey::from_json(&text(doc.clone())),
                    Err(MintError::KeyRejected { .. })
                ),
                "{alg}"
            );
        }

        let hs = signing_key(Algorithm::Hs256, "h");
        let mut doc: Value = serde_json::from_str(&hs.to_json()).unwrap();
        doc["alg"] = json!("HS512");
        assert!(matches!(
            SigningKey::from_json(&text(doc.clone())),
            Err(MintError::SecretTooShort {
                min: 64,
                actual: 32,
                ..
            })
        ));
        doc["alg"] = json!("HS256");
        doc["secret"] = json!(b64::encode_url(&[1u8; 31]));
        assert!(matches!(
            SigningKey::from_json(&text(doc)),
            Err(MintError::SecretTooShort { .. })
        ));
    }

    #[test]
    fn debug_hides_private_material() {
        for alg in [Algorithm::Hs256, Algorithm::Es256] {
            let key = signing_key(alg, "dbg");
            let debug = format!("{key:?}");
            assert!(
                debug.contains("dbg") && debug.contains(&format!("{alg:?}")),
                "{debug}"
            );
            let doc: Value = serde_json::from_str(&key.to_json()).unwrap();
            let private = doc
                .get("secret")
                .or(doc.get("pkcs8"))
                .and_then(Value::as_str)
                .unwrap();
            assert!(!debug.contains(&private[..16]), "{debug}");
            assert!(
                !debug.contains("stored") && !debug.contains("private"),
                "{debug}"
            );
        }
    }
}
