//! One verification key: JWK parsing and validation, local HMAC secrets, and verification.

use std::fmt;

use aws_lc_rs::hmac;
use aws_lc_rs::signature::{self, ParsedPublicKey, VerificationAlgorithm};
use serde_json::{Map, Value};

use crate::algorithm::RSA_ALGORITHMS;
use crate::der::{encode_rsa_public_key, strip_leading_zeros};
use crate::{Algorithm, KeyError, KeyInfo, VerifyError, b64};

/// A parsed, validated verification key: a public key from a JWK, or a local HMAC secret.
///
/// The key is parsed once, at construction, into aws-lc key objects for every
/// algorithm it fits. `Debug` shows only metadata, never secret bytes.
pub struct NativeKey {
    info: KeyInfo,
    material: Material,
}

enum Material {
    /// One parsed public key per algorithm the key fits.
    Public(Vec<(Algorithm, ParsedPublicKey)>),
    /// A local HMAC secret bound to exactly one algorithm (boxed: the key
    /// holds precomputed HMAC state and is much larger than a `Vec`).
    Hmac { alg: Algorithm, key: Box<hmac::Key> },
}

/// Members that only a private (or symmetric) JWK carries.
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

/// Largest RSA public exponent aws-lc accepts (33 bits).
const MAX_RSA_EXPONENT_BITS: u32 = 33;

impl NativeKey {
    /// Parse and validate one JWK.
    ///
    /// Accepted: `kty` `"RSA"` (2048 to 8192-bit modulus), `"EC"` (P-256,
    /// P-384, P-521) and `"OKP"` (Ed25519). When `alg` is present it must be a
    /// supported algorithm fitting the key; when absent, the key type and curve
    /// bound the algorithms (an RSA key then fits all of RS*/PS*). `use`, when
    /// present, must be `"sig"`; `key_ops`, when present, must include
    /// `"verify"`. Symmetric `oct` keys are refused
    /// ([`KeyError::SymmetricNotAllowed`]): they only come from local secrets
    /// ([`NativeKey::from_secret`]). Keys carrying private members
    /// (`d`, `p`, `q`, ...) are refused.
    pub fn from_jwk(jwk: &Value) -> Result<Self, KeyError> {
        let obj = jwk.as_object().ok_or(KeyError::NotAnObject)?;
        let kty = required_str(obj, "kty", "in every JWK")?;
        if kty == "oct" {
            return Err(KeyError::SymmetricNotAllowed);
        }
        if let Some(member) = PRIVATE_MEMBERS.iter().find(|m| obj.contains_key(**m)) {
            return Err(KeyError::PrivateMemberPresent((*member).to_string()));
        }
        let kid = optional_str(obj, "kid")?;
        let alg = optional_str(obj, "alg")?;
        let declared = match alg.as_deref() {
            None => None,
            Some("none") => return Err(KeyError::AlgNone),
            Some(name) => Some(
                Algorithm::from_name(name)
                    .ok_or_else(|| KeyError::UnknownAlgorithm(name.to_string()))?,
            ),
        };
        let key_use = optional_str(obj, "use")?;
        if let Some(u) = key_use.as_deref()
            && u != "sig"
        {
            return Err(KeyError::NotForSignatures(u.to_string()));
        }
        let key_ops = optional_str_array(obj, "key_ops")?;
        if let Some(ops) = &key_ops
            && !ops.iter().any(|op| op == "verify")
        {
            return Err(KeyError::VerifyNotPermitted);
        }
        let crv = optional_str(obj, "crv")?;

        let (bits, parsed) = match kty {
            "RSA" => parse_rsa(obj, declared)?,
            "EC" => parse_ec(obj, declared)?,
            "OKP" => parse_okp(obj, declared)?,
            other => return Err(KeyError::UnsupportedKeyType(other.to_string())),
        };

        Ok(NativeKey {
            info: KeyInfo {
                kid,
                kty: kty.to_string(),
                crv,
                alg,
                key_use,
                key_ops,
                bits,
            },
            material: Material::Public(parsed),
        })
    }

    /// A local HMAC secret for `alg`, which must be `HS256`, `HS384` or `HS512`.
    ///
    /// The secret must be at least the hash output size: 32, 48 or 64 bytes
    /// (RFC 7518 section 3.2). The key fits `alg` only.
    pub fn from_secret(
        secret: &[u8],
        kid: Option<String>,
        alg: Algorithm,
    ) -> Result<Self, KeyError> {
        let (min, hmac_alg) = match alg {
            Algorithm::Hs256 => (32, hmac::HMAC_SHA256),
            Algorithm::Hs384 => (48, hmac::HMAC_SHA384),
            Algorithm::Hs512 => (64, hmac::HMAC_SHA512),
            other => return Err(KeyError::NotAnHmacAlgorithm(other)),
        };
        if secret.len() < min {
            return Err(KeyError::SecretTooShort {
                alg,
                min,
                actual: secret.len(),
            });
        }
        let bits = u32::try_from(secret.len().saturating_mul(8)).unwrap_or(u32::MAX);
        Ok(NativeKey {
            info: KeyInfo {
                kid,
                kty: "oct".to_string(),
                crv: None,
                alg: Some(alg.name().to_string()),
                key_use: None,
                key_ops: None,
                bits,
            },
            material: Material::Hmac {
                alg,
                key: Box::new(hmac::Key::new(hmac_alg, secret)),
            },
        })
    }

    /// The key's metadata.
    pub fn info(&self) -> &KeyInfo {
        &self.info
    }

    /// Does this key fit `alg`?
    ///
    /// True when the key type and curve allow `alg` and, if the key states its
    /// own `alg`, it is `alg`. (`use` and `key_ops` were already checked at
    /// construction: a key whose `use` is not `"sig"` or whose `key_ops` lacks
    /// `"verify"` is never constructed.)
    #[cfg(test)]
    pub fn fits(&self, alg: Algorithm) -> bool {
        match &self.material {
            Material::Public(parsed) => parsed.iter().any(|(a, _)| *a == alg),
            Material::Hmac { alg: own, .. } => *own == alg,
        }
    }

    /// The algorithms this key fits, in [`Algorithm::ALL`] order.
    pub fn algorithms(&self) -> Vec<Algorithm> {
        match &self.material {
            Material::Public(parsed) => parsed.iter().map(|(a, _)| *a).collect(),
            Material::Hmac { alg, .. } => vec![*alg],
        }
    }

    /// Verify `signature` over `message` (the JWS signing input) with `alg`.
    ///
    /// [`VerifyError::KeyMismatch`] when the key does not fit `alg` (see
    /// [`algorithms`](Self::algorithms)); [`VerifyError::BadSignature`] when
    /// it fits but the signature
    /// does not verify. ECDSA signatures are the JWS fixed-width `r || s`.
    /// HMAC tags are compared in constant time.
    pub fn verify(
        &self,
        alg: Algorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), VerifyError> {
        match &self.material {
            Material::Public(parsed) => {
                let (_, key) = parsed
                    .iter()
                    .find(|(a, _)| *a == alg)
                    .ok_or(VerifyError::KeyMismatch)?;
                key.verify_sig(message, signature)
                    .map_err(|_| VerifyError::BadSignature)
            }
            Material::Hmac { alg: own, key } => {
                if *own != alg {
                    return Err(VerifyError::KeyMismatch);
                }
                hmac::verify(key, message, signature).map_err(|_| VerifyError::BadSignature)
            }
        }
    }
}

impl fmt::Debug for NativeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NativeKey")
            .field("info", &self.info)
            .field("algorithms", &self.algorithms())
            .finish_non_exhaustive()
    }
}

/// The aws-lc verification algorithm for an asymmetric JWS algorithm.
fn verification_algorithm(alg: Algorithm) -> Option<&'static dyn VerificationAlgorithm> {
    let v: &'static dyn VerificationAlgorithm = match alg {
        Algorithm::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::Ps512 => &signature::RSA_PSS_2048_8192_SHA512,
        Algorithm::Es256 => &signature::ECDSA_P256_SHA256_FIXED,
        Algorithm::Es384 => &signature::ECDSA_P384_SHA384_FIXED,
        Algorithm::Es512 => &signature::ECDSA_P521_SHA512_FIXED,
        Algorithm::EdDsa => &signature::ED25519,
        Algorithm::Hs256 | Algorithm::Hs384 | Algorithm::Hs512 => return None,
    };
    Some(v)
}

/// Narrow the algorithms a key type/curve allows to the key's declared `alg`.
fn bound_algorithms(
    allowed: &[Algorithm],
    declared: Option<Algorithm>,
    key: impl FnOnce() -> String,
) -> Result<Vec<Algorithm>, KeyError> {
    match declared {
        None => Ok(allowed.to_vec()),
        Some(alg) if allowed.contains(&alg) => Ok(vec![alg]),
        Some(alg) => {
            let names: Vec<&str> = allowed.iter().map(|a| a.name()).collect();
            Err(KeyError::AlgorithmMismatch {
                alg,
                key: key(),
                hint: format!(
                    "this key fits {}; fix \"alg\" or remove it",
                    names.join(", ")
                ),
            })
        }
    }
}

/// Parse `bytes` once for each algorithm.
fn parse_for_each(
    algorithms: Vec<Algorithm>,
    bytes: &[u8],
    kind: &'static str,
) -> Result<Vec<(Algorithm, ParsedPublicKey)>, KeyError> {
    algorithms
        .into_iter()
        .map(|alg| {
            let v = verification_algorithm(alg).ok_or_else(|| KeyError::KeyRejected {
                kind,
                reason: format!("{alg} is not a public-key algorithm"),
            })?;
            ParsedPublicKey::new(v, bytes)
                .map(|parsed| (alg, parsed))
                .map_err(|e| KeyError::KeyRejected {
                    kind,
                    reason: e.to_string(),
                })
        })
        .collect()
}

type Parsed = (u32, Vec<(Algorithm, ParsedPublicKey)>);

fn parse_rsa(obj: &Map<String, Value>, declared: Option<Algorithm>) -> Result<Parsed, KeyError> {
    const CONTEXT: &str = "for kty \"RSA\"";
    let n_raw = decode_member(obj, "n", CONTEXT)?;
    let e_raw = decode_member(obj, "e", CONTEXT)?;
    let n = strip_leading_zeros(&n_raw);
    let e = strip_leading_zeros(&e_raw);

    let bits = bit_length(n);
    if !(2048..=8192).contains(&bits) {
        return Err(KeyError::RsaKeySize { bits });
    }
    if n.last().is_some_and(|b| b & 1 == 0) {
        return Err(KeyError::InvalidMember {
            member: "n",
            reason: "the modulus is even, so it is not an RSA modulus".to_string(),
        });
    }
    let e_bits = bit_length(e);
    if e_bits < 2 {
        return Err(KeyError::RsaExponent("it is 0 or 1"));
    }
    if e.last().is_some_and(|b| b & 1 == 0) {
        return Err(KeyError::RsaExponent("it is even"));
    }
    if e_bits > MAX_RSA_EXPONENT_BITS {
        return Err(KeyError::RsaExponent("it is longer than 33 bits"));
    }

    let algorithms = bound_algorithms(&RSA_ALGORITHMS, declared, || "kty \"RSA\"".to_string())?;
    let der = encode_rsa_public_key(n, e);
    Ok((bits, parse_for_each(algorithms, &der, "RSA")?))
}

fn parse_ec(obj: &Map<String, Value>, declared: Option<Algorithm>) -> Result<Parsed, KeyError> {
    let crv = required_str(obj, "crv", "for kty \"EC\"")?;
    let (crv, len, alg, bits, kind) = match crv {
        "P-256" => ("P-256", 32, Algorithm::Es256, 256, "EC P-256"),
        "P-384" => ("P-384", 48, Algorithm::Es384, 384, "EC P-384"),
        "P-521" => ("P-521", 66, Algorithm::Es512, 521, "EC P-521"),
        other => {
            return Err(KeyError::UnsupportedCurve {
                kty: "EC",
                crv: other.to_string(),
                hint: "use P-256 (ES256), P-384 (ES384) or P-521 (ES512)",
            });
        }
    };
    let x = decode_member(obj, "x", "for kty \"EC\"")?;
    let y = decode_member(obj, "y", "for kty \"EC\"")?;
    for (member, value) in [("x", &x), ("y", &y)] {
        if value.len() != len {
            return Err(KeyError::CoordinateLength {
                member,
                crv,
                expected: len,
                actual: value.len(),
            });
        }
    }
    let algorithms = bound_algorithms(&[alg], declared, || format!("kty \"EC\" crv \"{crv}\""))?;
    let mut point = Vec::with_capacity(1 + 2 * len);
    point.push(0x04);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    Ok((bits, parse_for_each(algorithms, &point, kind)?))
}

fn parse_okp(obj: &Map<String, Value>, declared: Option<Algorithm>) -> Result<Parsed, KeyError> {
    let crv = required_str(obj, "crv", "for kty \"OKP\"")?;
    match crv {
        "Ed25519" => {}
        "X25519" | "X448" => {
            return Err(KeyError::UnsupportedCurve {
                kty: "OKP",
                crv: crv.to_string(),
                hint: "X25519/X448 are key-agreement keys, not signature keys; use an Ed25519 (EdDSA) key",
            });
        }
        other => {
            return Err(KeyError::UnsupportedCurve {
                kty: "OKP",
                crv: other.to_string(),
                hint: "only Ed25519 is supported for EdDSA",
            });
        }
    }
    let x = decode_member(obj, "x", "for kty \"OKP\"")?;
    if x.len() != 32 {
        return Err(KeyError::CoordinateLength {
            member: "x",
            crv: "Ed25519",
            expected: 32,
            actual: x.len(),
        });
    }
    check_ed25519_point(&x)?;
    let algorithms = bound_algorithms(&[Algorithm::EdDsa], declared, || {
        "kty \"OKP\" crv \"Ed25519\"".to_string()
    })?;
    Ok((256, parse_for_each(algorithms, &x, "Ed25519")?))
}

/// RFC 8032 section 5.1.3 decoding of an Ed25519 public key, plus the
/// checks the crypto library leaves out: the 32 bytes must be the canonical
/// encoding (`y < p`, no "negative zero" `x`) of a point on the curve, and
/// the point must have prime order. A small-order key (the identity, or
/// one of the other seven torsion points) lets `R = identity, S = 0`
/// verify any message; a key with a torsion component is never produced by
/// honest key generation (`A = a·B`).
fn check_ed25519_point(x: &[u8]) -> Result<(), KeyError> {
    use curve25519_dalek::edwards::CompressedEdwardsY;
    let bytes: [u8; 32] = x
        .try_into()
        .map_err(|_| KeyError::WeakEd25519Key("it is not 32 bytes"))?;
    let point = CompressedEdwardsY(bytes)
        .decompress()
        .ok_or(KeyError::WeakEd25519Key("it is not a point on the curve"))?;
    if point.compress().to_bytes() != bytes {
        return Err(KeyError::WeakEd25519Key(
            "it is not the canonical encoding of its point (y >= p, or a negative zero x)",
        ));
    }
    if point.is_small_order() {
        return Err(KeyError::WeakEd25519Key(
            "it is a point of small order, with which a forged signature verifies any message",
        ));
    }
    if !point.is_torsion_free() {
        return Err(KeyError::WeakEd25519Key(
            "it is not in the prime-order subgroup (it has a small-order component)",
        ));
    }
    Ok(())
}

/// Bit length of a big-endian unsigned integer without leading zeros.
fn bit_length(bytes: &[u8]) -> u32 {
    match bytes.first() {
        None => 0,
        Some(&top) => {
            let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX / 8);
            (len - 1).saturating_mul(8) + (8 - top.leading_zeros())
        }
    }
}

fn required_str<'a>(
    obj: &'a Map<String, Value>,
    member: &'static str,
    context: &'static str,
) -> Result<&'a str, KeyError> {
    match obj.get(member) {
        None | Some(Value::Null) => Err(KeyError::MissingMember { member, context }),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(KeyError::InvalidMember {
            member,
            reason: "it must be a string".to_string(),
        }),
    }
}

/// An optional string member; JSON `null` counts as absent.
fn optional_str(
    obj: &Map<String, Value>,
    member: &'static str,
) -> Result<Option<String>, KeyError> {
    match obj.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(KeyError::InvalidMember {
            member,
            reason: "it must be a string".to_string(),
        }),
    }
}

fn optional_str_array(
    obj: &Map<String, Value>,
    member: &'static str,
) -> Result<Option<Vec<String>>, KeyError> {
    let invalid = || KeyError::InvalidMember {
        member,
        reason: "it must be an array of strings".to_string(),
    };
    match obj.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or_else(invalid))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(invalid()),
    }
}

fn decode_member(
    obj: &Map<String, Value>,
    member: &'static str,
    context: &'static str,
) -> Result<Vec<u8>, KeyError> {
    let text = required_str(obj, member, context)?;
    let bytes = b64::decode(&b64::URL, text).map_err(|reason| KeyError::InvalidMember {
        member,
        reason: format!("not base64url: {reason}"),
    })?;
    if bytes.is_empty() {
        return Err(KeyError::InvalidMember {
            member,
            reason: "it is empty".to_string(),
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{b64u, rsa_key, signing_key, split_jws};
    use serde_json::json;

    fn jwk_of(alg: Algorithm) -> (crate::mint::SigningKey, NativeKey) {
        let sk = signing_key(alg, "k1");
        let vk = if alg.is_symmetric() {
            let k = sk.public_jwk()["k"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_default();
            let secret = b64::decode(&b64::URL, &k).unwrap();
            NativeKey::from_secret(&secret, Some("k1".into()), alg).unwrap()
        } else {
            NativeKey::from_jwk(&sk.public_jwk()).unwrap()
        };
        (sk, vk)
    }

    fn err(jwk: Value) -> KeyError {
        match NativeKey::from_jwk(&jwk) {
            Ok(key) => panic!("expected refusal, got {key:?}"),
            Err(e) => e,
        }
    }

    /// A real 2048-bit RSA public JWK (n, e) from the shared test key.
    fn rsa_jwk() -> Value {
        let mut jwk = rsa_key(Algorithm::Rs256, "rsa").public_jwk();
        if let Some(obj) = jwk.as_object_mut() {
            obj.remove("alg");
        }
        jwk
    }

    fn p256_jwk() -> Value {
        json!({
            "kty": "EC", "crv": "P-256",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
        })
    }

    fn with(mut jwk: Value, member: &str, value: Value) -> Value {
        jwk[member] = value;
        jwk
    }

    #[test]
    fn every_algorithm_signs_and_verifies_and_rejects_a_flipped_bit() {
        for alg in Algorithm::ALL {
            let (sk, vk) = jwk_of(alg);
            assert!(vk.fits(alg), "{alg}");
            let token = sk.sign_jwt(&json!({"sub": "alice"}), None).unwrap();
            let (input, sig) = split_jws(&token);
            assert_eq!(vk.verify(alg, input.as_bytes(), &sig), Ok(()), "{alg}");

            let mut bad_sig = sig.clone();
            bad_sig[sig.len() / 2] ^= 0x01;
            assert_eq!(
                vk.verify(alg, input.as_bytes(), &bad_sig),
                Err(VerifyError::BadSignature),
                "{alg} flipped signature bit"
            );
            let mut bad_input = input.clone().into_bytes();
            bad_input[3] ^= 0x01;
            assert_eq!(
                vk.verify(alg, &bad_input, &sig),
                Err(VerifyError::BadSignature),
                "{alg} flipped message bit"
            );
            assert_eq!(
                vk.verify(alg, input.as_bytes(), &sig[..sig.len() - 1]),
                Err(VerifyError::BadSignature),
                "{alg} truncated signature"
            );
        }
    }

    #[test]
    fn wrong_algorithm_for_the_key_is_a_mismatch() {
        let (rs, rs_vk) = jwk_of(Algorithm::Rs256);
        let token = rs.sign_jwt(&json!({}), None).unwrap();
        let (input, sig) = split_jws(&token);
        // RS256 key (alg "RS256") asked for ES256, HS256, PS256.
        for alg in [
            Algorithm::Es256,
            Algorithm::Hs256,
            Algorithm::Ps256,
            Algorithm::Rs384,
        ] {
            assert!(!rs_vk.fits(alg));
            assert_eq!(
                rs_vk.verify(alg, input.as_bytes(), &sig),
                Err(VerifyError::KeyMismatch),
                "{alg}"
            );
        }

        let (es, es_vk) = jwk_of(Algorithm::Es256);
        let token = es.sign_jwt(&json!({}), None).unwrap();
        let (input, sig) = split_jws(&token);
        assert_eq!(
            es_vk.verify(Algorithm::Es384, input.as_bytes(), &sig),
            Err(VerifyError::KeyMismatch)
        );
        assert_eq!(
            es_vk.verify(Algorithm::EdDsa, input.as_bytes(), &sig),
            Err(VerifyError::KeyMismatch)
        );

        let (hs, hs_vk) = jwk_of(Algorithm::Hs256);
        let token = hs.sign_jwt(&json!({}), None).unwrap();
        let (input, sig) = split_jws(&token);
        assert_eq!(
            hs_vk.verify(Algorithm::Hs384, input.as_bytes(), &sig),
            Err(VerifyError::KeyMismatch)
        );
        assert_eq!(
            hs_vk.verify(Algorithm::Rs256, input.as_bytes(), &sig),
            Err(VerifyError::KeyMismatch)
        );
    }

    #[test]
    fn rsa_key_without_alg_fits_all_six_rsa_algorithms() {
        let vk = NativeKey::from_jwk(&rsa_jwk()).unwrap();
        assert_eq!(vk.algorithms(), RSA_ALGORITHMS.to_vec());
        for alg in Algorithm::ALL {
            assert_eq!(vk.fits(alg), RSA_ALGORITHMS.contains(&alg), "{alg}");
        }
        // And it really verifies each of them.
        for alg in RSA_ALGORITHMS {
            let sk = rsa_key(alg, "x");
            let (input, sig) = split_jws(&sk.sign_jwt(&json!({}), None).unwrap());
            assert_eq!(vk.verify(alg, input.as_bytes(), &sig), Ok(()), "{alg}");
        }
        let info = vk.info();
        assert_eq!(info.kty, "RSA");
        assert_eq!(info.bits, 2048);
        assert_eq!(info.alg, None);
        assert_eq!(info.kid.as_deref(), Some("rsa"));
        assert_eq!(info.key_use.as_deref(), Some("sig"));
    }

    #[test]
    fn rsa_key_with_alg_fits_only_that_alg() {
        let vk = NativeKey::from_jwk(&with(rsa_jwk(), "alg", json!("PS384"))).unwrap();
        assert_eq!(vk.algorithms(), vec![Algorithm::Ps384]);
        assert!(!vk.fits(Algorithm::Rs384));
        assert_eq!(vk.info().alg.as_deref(), Some("PS384"));
    }

    #[test]
    fn rsa_modulus_below_2048_bits_is_refused() {
        let mut n = vec![0u8; 128];
        n[0] = 0xc0;
        n[127] = 0x01;
        let jwk = json!({"kty": "RSA", "n": b64u(&n), "e": "AQAB"});
        assert!(matches!(err(jwk), KeyError::RsaKeySize { bits: 1024 }));

        // 2047 bits: 256 bytes with the top bit clear.
        let mut n = vec![0xffu8; 256];
        n[0] = 0x7f;
        let jwk = json!({"kty": "RSA", "n": b64u(&n), "e": "AQAB"});
        assert!(matches!(err(jwk), KeyError::RsaKeySize { bits: 2047 }));
    }

    #[test]
    fn rsa_modulus_above_8192_bits_is_refused() {
        let mut n = vec![0xffu8; 1025];
        n[0] = 0x01;
        let jwk = json!({"kty": "RSA", "n": b64u(&n), "e": "AQAB"});
        assert!(matches!(err(jwk), KeyError::RsaKeySize { bits: 8193 }));
    }

    #[test]
    fn rsa_leading_zero_bytes_in_n_are_tolerated() {
        let jwk = rsa_jwk();
        let n = b64::decode(&b64::URL, jwk["n"].as_str().unwrap()).unwrap();
        let mut padded = vec![0u8, 0u8];
        padded.extend_from_slice(&n);
        let vk = NativeKey::from_jwk(&with(jwk, "n", json!(b64u(&padded)))).unwrap();
        assert_eq!(vk.info().bits, 2048);

        let sk = rsa_key(Algorithm::Rs256, "x");
        let (input, sig) = split_jws(&sk.sign_jwt(&json!({}), None).unwrap());
        assert_eq!(vk.verify(Algorithm::Rs256, input.as_bytes(), &sig), Ok(()));
    }

    #[test]
    fn rsa_bad_exponents_and_moduli_are_refused() {
        for (e, what) in [
            ("AQ", "1"),
            ("Ag", "even"),
            ("AAE", "1 with a zero"),
            ("AQAAAAAB", "> 33 bits"),
        ] {
            assert!(
                matches!(
                    err(with(rsa_jwk(), "e", json!(e))),
                    KeyError::RsaExponent(_)
                ),
                "e {what}"
            );
        }
        let mut n = vec![0xffu8; 256];
        n[255] = 0xfe;
        assert!(matches!(
            err(with(rsa_jwk(), "n", json!(b64u(&n)))),
            KeyError::InvalidMember { member: "n", .. }
        ));
        let mut jwk = rsa_jwk();
        jwk.as_object_mut().unwrap().remove("e");
        assert!(matches!(
            err(jwk),
            KeyError::MissingMember { member: "e", .. }
        ));
        assert!(matches!(
            err(with(rsa_jwk(), "n", json!("not*base64"))),
            KeyError::InvalidMember { member: "n", .. }
        ));
        assert!(matches!(
            err(with(rsa_jwk(), "n", json!(12))),
            KeyError::InvalidMember { member: "n", .. }
        ));
    }

    #[test]
    fn ec_keys_of_each_curve_are_accepted_with_their_algorithm() {
        for (alg, crv, bits) in [
            (Algorithm::Es256, "P-256", 256),
            (Algorithm::Es384, "P-384", 384),
            (Algorithm::Es512, "P-521", 521),
        ] {
            let mut jwk = signing_key(alg, "ec").public_jwk();
            jwk.as_object_mut().unwrap().remove("alg");
            let vk = NativeKey::from_jwk(&jwk).unwrap();
            assert_eq!(vk.algorithms(), vec![alg]);
            assert_eq!(vk.info().crv.as_deref(), Some(crv));
            assert_eq!(vk.info().bits, bits);
        }
    }

    #[test]
    fn ec_wrong_coordinate_length_is_refused() {
        let short = b64u(&[7u8; 31]);
        assert!(matches!(
            err(with(p256_jwk(), "x", json!(short))),
            KeyError::CoordinateLength {
                member: "x",
                expected: 32,
                actual: 31,
                ..
            }
        ));
        let long = b64u(&[7u8; 33]);
        assert!(matches!(
            err(with(p256_jwk(), "y", json!(long))),
            KeyError::CoordinateLength {
                member: "y",
                expected: 32,
                actual: 33,
                ..
            }
        ));
        // A P-384-sized coordinate on a P-256 key.
        let p384 = b64u(&[7u8; 48]);
        assert!(matches!(
            err(with(p256_jwk(), "x", json!(p384))),
            KeyError::CoordinateLength { .. }
        ));
    }

    #[test]
    fn ec_point_not_on_curve_is_refused() {
        let jwk = with(p256_jwk(), "y", json!(b64u(&[1u8; 32])));
        assert!(matches!(
            err(jwk),
            KeyError::KeyRejected {
                kind: "EC P-256",
                ..
            }
        ));
    }

    #[test]
    fn ec_unsupported_curve_and_mismatched_alg_are_refused() {
        assert!(matches!(
            err(with(p256_jwk(), "crv", json!("secp256k1"))),
            KeyError::UnsupportedCurve { kty: "EC", .. }
        ));
        let mut no_crv = p256_jwk();
        no_crv.as_object_mut().unwrap().remove("crv");
        assert!(matches!(
            err(no_crv),
            KeyError::MissingMember { member: "crv", .. }
        ));
        assert!(matches!(
            err(with(p256_jwk(), "alg", json!("ES384"))),
            KeyError::AlgorithmMismatch {
                alg: Algorithm::Es384,
                ..
            }
        ));
        assert!(matches!(
            err(with(p256_jwk(), "alg", json!("RS256"))),
            KeyError::AlgorithmMismatch { .. }
        ));
        let ok = NativeKey::from_jwk(&with(p256_jwk(), "alg", json!("ES256"))).unwrap();
        assert_eq!(ok.algorithms(), vec![Algorithm::Es256]);
    }

    /// Issue 7, item 11: an Ed25519 public key that is a small-order point
    /// (the identity, say) was accepted from a JWK Set, and then the
    /// signature `R = identity, S = 0` verified any message. Such keys, the
    /// non-canonical encodings and keys with a torsion component are
    /// refused at load.
    #[test]
    fn ed25519_small_order_and_non_canonical_public_keys_are_refused() {
        use curve25519_dalek::constants::EIGHT_TORSION;
        use curve25519_dalek::edwards::CompressedEdwardsY;

        let identity = {
            let mut y = [0u8; 32];
            y[0] = 1;
            y
        };
        // The attack is real: the crypto library alone accepts the forgery.
        let mut forged = identity.to_vec();
        forged.extend_from_slice(&[0u8; 32]);
        assert!(
            signature::UnparsedPublicKey::new(&signature::ED25519, identity)
                .verify(b"any message at all", &forged)
                .is_ok()
        );

        let good = signing_key(Algorithm::EdDsa, "ed").public_jwk();
        let good_x = crate::b64::decode(&crate::b64::URL, good["x"].as_str().unwrap()).unwrap();
        let good_point = CompressedEdwardsY(good_x.clone().try_into().unwrap())
            .decompress()
            .unwrap();
        let p_plus = |k: u8| {
            // p + k, for k < 19: a second (non-canonical) encoding of y = k.
            let mut y = [0xffu8; 32];
            y[0] = 0xed + k;
            y[31] = 0x7f;
            y
        };
        let mut negative_zero = identity;
        negative_zero[31] |= 0x80;
        let mixed = (good_point + EIGHT_TORSION[1]).compress().to_bytes();
        let mut cases: Vec<(&str, [u8; 32], &str)> = EIGHT_TORSION
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let label: &str = ["t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"][i];
                (label, t.compress().to_bytes(), "small order")
            })
            .collect();
        cases.extend([
            ("identity", identity, "small order"),
            ("y = p (0)", p_plus(0), "canonical"),
            ("y = p + 1 (identity)", p_plus(1), "canonical"),
            ("negative zero x", negative_zero, "canonical"),
            ("good key + torsion", mixed, "prime-order subgroup"),
        ]);
        for (label, bytes, needle) in cases {
            let jwk = with(good.clone(), "x", json!(b64u(&bytes)));
            let e = err(jwk);
            assert!(
                matches!(e, KeyError::WeakEd25519Key(_)) && e.to_string().contains(needle),
                "{label}: {e}"
            );
        }
        // A y with no point on the curve.
        let mut off_curve = [0u8; 32];
        off_curve[0] = 2;
        assert!(CompressedEdwardsY(off_curve).decompress().is_none());
        assert!(matches!(
            err(with(good.clone(), "x", json!(b64u(&off_curve)))),
            KeyError::WeakEd25519Key(_)
        ));
        // An honest key still loads.
        assert!(NativeKey::from_jwk(&good).is_ok());
    }

    #[test]
    fn okp_only_ed25519_is_accepted() {
        let jwk = signing_key(Algorithm::EdDsa, "ed").public_jwk();
        let vk = NativeKey::from_jwk(&jwk).unwrap();
        assert_eq!(vk.algorithms(), vec![Algorithm::EdDsa]);
        assert_eq!(vk.info().bits, 256);
        for crv in ["Ed448", "X25519", "X448"] {
            assert!(
                matches!(
                    err(with(jwk.clone(), "crv", json!(crv))),
                    KeyError::UnsupportedCurve { kty: "OKP", .. }
                ),
                "{crv}"
            );
        }
        assert!(matches!(
            err(with(jwk.clone(), "x", json!(b64u(&[9u8; 57])))),
            KeyError::CoordinateLength {
                expected: 32,
                actual: 57,
                ..
            }
        ));
        assert!(matches!(
            err(with(jwk, "alg", json!("ES256"))),
            KeyError::AlgorithmMismatch { .. }
        ));
    }

    #[test]
    fn use_other_than_sig_is_refused() {
        assert!(matches!(
            err(with(rsa_jwk(), "use", json!("enc"))),
            KeyError::NotForSignatures(u) if u == "enc"
        ));
        assert!(NativeKey::from_jwk(&with(rsa_jwk(), "use", json!("sig"))).is_ok());
        let mut no_use = rsa_jwk();
        no_use.as_object_mut().unwrap().remove("use");
        assert!(NativeKey::from_jwk(&no_use).is_ok());
    }

    #[test]
    fn key_ops_must_include_verify() {
        assert!(matches!(
            err(with(p256_jwk(), "key_ops", json!(["encrypt", "sign"]))),
            KeyError::VerifyNotPermitted
        ));
        assert!(matches!(
            err(with(p256_jwk(), "key_ops", json!([]))),
            KeyError::VerifyNotPermitted
        ));
        assert!(matches!(
            err(with(p256_jwk(), "key_ops", json!("verify"))),
            KeyError::InvalidMember {
                member: "key_ops",
                ..
            }
        ));
        assert!(matches!(
            err(with(p256_jwk(), "key_ops", json!(["verify", 1]))),
            KeyError::InvalidMember {
                member: "key_ops",
                ..
            }
        ));
        let vk =
            NativeKey::from_jwk(&with(p256_jwk(), "key_ops", json!(["sign", "verify"]))).unwrap();
        assert_eq!(
            vk.info().key_ops,
            Some(vec!["sign".to_string(), "verify".to_string()])
        );
    }

    #[test]
    fn private_members_are_refused() {
        let ec = with(
            p256_jwk(),
            "d",
            json!("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"),
        );
        let e = err(ec);
        assert!(matches!(&e, KeyError::PrivateMemberPresent(m) if m == "d"));
        assert!(e.to_string().contains("leaked"), "{e}");
        for member in ["p", "q", "dp", "dq", "qi", "oth"] {
            assert!(
                matches!(err(with(rsa_jwk(), member, json!("AQAB"))), KeyError::PrivateMemberPresent(m) if m == member),
                "{member}"
            );
        }
    }

    #[test]
    fn unknown_or_missing_kty_and_oct_are_refused() {
        assert!(matches!(
            err(with(p256_jwk(), "kty", json!("XYZ"))),
            KeyError::UnsupportedKeyType(k) if k == "XYZ"
        ));
        assert!(matches!(
            err(with(p256_jwk(), "kty", json!("ec"))),
            KeyError::UnsupportedKeyType(_)
        ));
        let mut no_kty = p256_jwk();
        no_kty.as_object_mut().unwrap().remove("kty");
        assert!(matches!(
            err(no_kty),
            KeyError::MissingMember { member: "kty", .. }
        ));
        let oct = json!({"kty": "oct", "k": b64u(&[1u8; 32]), "alg": "HS256"});
        assert!(matches!(err(oct), KeyError::SymmetricNotAllowed));
        assert!(matches!(
            err(json!(["not", "an", "object"])),
            KeyError::NotAnObject
        ));
    }

    #[test]
    fn alg_none_unknown_or_symmetric_is_refused() {
        assert!(matches!(
            err(with(rsa_jwk(), "alg", json!("none"))),
            KeyError::AlgNone
        ));
        assert!(matches!(
            err(with(rsa_jwk(), "alg", json!("rs256"))),
            KeyError::UnknownAlgorithm(a) if a == "rs256"
        ));
        assert!(matches!(
            err(with(rsa_jwk(), "alg", json!("HS256"))),
            KeyError::AlgorithmMismatch {
                alg: Algorithm::Hs256,
                ..
            }
        ));
        assert!(matches!(
            err(with(rsa_jwk(), "alg", json!(256))),
            KeyError::InvalidMember { member: "alg", .. }
        ));
        // JSON null counts as absent.
        let vk = NativeKey::from_jwk(&with(rsa_jwk(), "alg", Value::Null)).unwrap();
        assert_eq!(vk.algorithms().len(), 6);
    }

    #[test]
    fn secrets_must_be_long_enough_and_hmac_only() {
        for (alg, min) in [
            (Algorithm::Hs256, 32),
            (Algorithm::Hs384, 48),
            (Algorithm::Hs512, 64),
        ] {
            assert!(matches!(
                NativeKey::from_secret(&vec![1u8; min - 1], None, alg),
                Err(KeyError::SecretTooShort { min: m, actual, .. }) if m == min && actual == min - 1
            ));
            let vk = NativeKey::from_secret(&vec![1u8; min], Some("s".into()), alg).unwrap();
            assert_eq!(vk.algorithms(), vec![alg]);
            assert_eq!(vk.info().kty, "oct");
            assert_eq!(vk.info().alg.as_deref(), Some(alg.name()));
            assert_eq!(vk.info().bits as usize, min * 8);
        }
        assert!(matches!(
            NativeKey::from_secret(&[1u8; 64], None, Algorithm::Rs256),
            Err(KeyError::NotAnHmacAlgorithm(Algorithm::Rs256))
        ));
    }

    #[test]
    fn debug_never_shows_secret_bytes() {
        let secret = b"SUPERSECRET-supersecret-SUPERSECRET!";
        let vk = NativeKey::from_secret(secret, Some("kid-1".into()), Algorithm::Hs256).unwrap();
        let debug = format!("{vk:?}");
        assert!(debug.contains("kid-1"), "{debug}");
        assert!(!debug.to_lowercase().contains("supersecret"), "{debug}");
        assert!(!debug.contains("83, 85, 80"), "{debug}");
        let too_short = NativeKey::from_secret(b"SUPERSECRET", None, Algorithm::Hs256).unwrap_err();
        assert!(!format!("{too_short} {too_short:?}").contains("SUPERSECRET"));
    }

    #[test]
    fn keys_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<NativeKey>();
        assert_send_sync::<crate::KeySet>();
        assert_send_sync::<crate::KeyStore>();
    }
}
