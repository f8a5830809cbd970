//! Throwaway keys: one per issuer and algorithm family, made on first use
//! and kept for the run, signing the cases' tokens and bound to the
//! configured issuers in place of their real key sources.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use tollgate_host::model::{Algorithm, IssuerNeeds};
use tollgate_keys::mint::{SigningKey, compact};
use tollgate_keys::{KeySet, NativeKey};

use crate::error::TestError;
use crate::file::{ABSENT, TokenSpec};

/// What every throwaway key's `kid` starts with; the rest is `RSA` (one key
/// serves RS256 to PS512) or the algorithm (`ES256`, `HS256`, `EdDSA`).
pub const KID_PREFIX: &str = "tollgate-test-";

/// Lifetime of a minted token unless its claims set `exp`: `exp = now + 300`.
pub const DEFAULT_LIFETIME_SECONDS: i64 = 300;

/// The keys of one run.
#[derive(Debug, Default)]
pub(crate) struct ThrowawayKeys {
    /// Signing keys by (issuer, algorithm).
    signers: HashMap<(String, Algorithm), Arc<SigningKey>>,
    /// Verification keys by (issuer, family).
    verifiers: HashMap<(String, &'static str), Arc<NativeKey>>,
}

/// RSA keys serve every RS*/PS* algorithm; other keys one algorithm each.
fn family(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::Rs256
        | Algorithm::Rs384
        | Algorithm::Rs512
        | Algorithm::Ps256
        | Algorithm::Ps384
        | Algorithm::Ps512 => "RSA",
        other => other.name(),
    }
}

/// The `kid` of the throwaway key for `alg`.
pub(crate) fn kid(alg: Algorithm) -> String {
    format!("{KID_PREFIX}{}", family(alg))
}

impl ThrowawayKeys {
    /// The key signing `issuer`'s `alg` tokens, made on first use. Every
    /// RS*/PS* algorithm of an issuer signs with one RSA key (generated once).
    fn signer(&mut self, issuer: &str, alg: Algorithm) -> Result<Arc<SigningKey>, TestError> {
        if let Some(key) = self.signers.get(&(issuer.to_string(), alg)) {
            return Ok(key.clone());
        }
        let fail = |reason: String| TestError::Mint {
            issuer: issuer.to_string(),
            alg,
            reason,
        };
        let sibling = self
            .signers
            .iter()
            .find(|((i, a), _)| i == issuer && family(*a) == family(alg) && family(alg) == "RSA")
            .map(|(_, key)| key.clone());
        let key = match sibling {
            // The same RSA key under another algorithm: no second generation.
            Some(rsa) => {
                let mut file: Value =
                    serde_json::from_str(&rsa.to_json()).map_err(|e| fail(e.to_string()))?;
                if let Some(fields) = file.as_object_mut() {
                    fields.insert("alg".into(), alg.name().into());
                }
                SigningKey::from_json(&file.to_string()).map_err(|e| fail(e.to_string()))?
            }
            None => SigningKey::generate(alg, &kid(alg)).map_err(|e| fail(e.to_string()))?,
        };
        let key = Arc::new(key);
        self.signers.insert((issuer.to_string(), alg), key.clone());
        Ok(key)
    }

    /// The public half of `issuer`'s `alg` key, as the host verifies with it
    /// (an RSA key pins no `alg`, so it fits every RS*/PS* algorithm).
    fn verifier(&mut self, issuer: &str, alg: Algorithm) -> Result<Arc<NativeKey>, TestError> {
        if let Some(key) = self.verifiers.get(&(issuer.to_string(), family(alg))) {
            return Ok(key.clone());
        }
        let signer = self.signer(issuer, alg)?;
        let fail = |reason: String| TestError::Mint {
            issuer: issuer.to_string(),
            alg,
            reason,
        };
        let mut jwk = signer.public_jwk();
        let key = if alg.is_symmetric() {
            let secret = jwk
                .get("k")
                .and_then(Value::as_str)
                .and_then(|k| URL_SAFE_NO_PAD.decode(k).ok())
                .ok_or_else(|| fail("the HMAC key has no secret".to_string()))?;
            NativeKey::from_secret(&secret, Some(kid(alg)), alg)
        } else {
            if family(alg) == "RSA"
                && let Some(fields) = jwk.as_object_mut()
            {
                fields.remove("alg");
            }
            NativeKey::from_jwk(&jwk)
        }
        .map_err(|e| fail(e.to_string()))?;
        let key = Arc::new(key);
        self.verifiers
            .insert((issuer.to_string(), family(alg)), key.clone());
        Ok(key)
    }

    /// A key for every algorithm the issuer allows: what the host binds to
    /// it instead of the keys its sources hold.
    pub(crate) fn key_set(&mut self, needs: &IssuerNeeds) -> Result<KeySet, TestError> {
        let mut keys: Vec<Arc<NativeKey>> = Vec::new();
        for alg in &needs.algorithms {
            let key = self.verifier(&needs.issuer, *alg)?;
            if !keys.iter().any(|k| Arc::ptr_eq(k, &key)) {
                keys.push(key);
            }
        }
        Ok(KeySet::new(keys))
    }

    /// A compact JWS signed with `issuer`'s `alg` key. Header: `alg`, `typ`
    /// JWT and `kid`; claims: `iss` = `issuer`, `iat` = `now`, `exp` = `now`
    /// + 300; then `spec`'s header and claims over them ([`ABSENT`] removes).
    pub(crate) fn mint(
        &mut self,
        issuer: &str,
        alg: Algorithm,
        spec: &TokenSpec,
        now: i64,
    ) -> Result<String, TestError> {
        let signer = self.signer(issuer, alg)?;
        let mut header = Map::new();
        header.insert("alg".into(), alg.name().into());
        header.insert("typ".into(), "JWT".into());
        header.insert("kid".into(), kid(alg).into());
        apply(&mut header, &spec.header);
        let mut claims = Map::new();
        claims.insert("iss".into(), issuer.into());
        claims.insert("iat".into(), now.into());
        claims.insert(
            "exp".into(),
            now.saturating_add(DEFAULT_LIFETIME_SECONDS).into(),
        );
        apply(&mut claims, &spec.claims);
        let fail = |reason: String| TestError::Mint {
            issuer: issuer.to_string(),
            alg,
            reason,
        };
        let payload = serde_json::to_vec(&claims).map_err(|e| fail(e.to_string()))?;
        compact(&Value::Object(header), &payload, &signer).map_err(|e| fail(e.to_string()))
    }
}

/// `layer` over `base`, member by member; [`ABSENT`] removes the member.
fn apply(base: &mut Map<String, Value>, layer: &Map<String, Value>) {
    for (name, value) in layer {
        if value.as_str() == Some(ABSENT) {
            base.remove(name);
        } else {
            base.insert(name.clone(), value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(part: &str) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    fn parts(token: &str) -> (Value, Value, String) {
        let mut it = token.split('.');
        let header = decode(it.next().unwrap());
        let claims = decode(it.next().unwrap());
        (header, claims, it.next().unwrap().to_string())
    }

    fn spec(claims: Value, header: Value) -> TokenSpec {
        TokenSpec {
            claims: claims.as_object().unwrap().clone(),
            header: header.as_object().unwrap().clone(),
            ..TokenSpec::default()
        }
    }

    #[test]
    fn minted_tokens_carry_the_defaults_and_the_spec() {
        let mut keys = ThrowawayKeys::default();
        let token = keys
            .mint(
                "https://issuer.example",
                Algorithm::Es256,
                &spec(json!({"sub": "alice", "exp": 5}), json!({"typ": "at+jwt"})),
                1000,
            )
            .unwrap();
        let (header, claims, _) = parts(&token);
        assert_eq!(
            header,
            json!({"alg": "ES256", "typ": "at+jwt", "kid": "tollgate-test-ES256"})
        );
        assert_eq!(
            claims,
            json!({"iss": "https://issuer.example", "iat": 1000, "exp": 5, "sub": "alice"})
        );
        let token = keys
            .mint("i", Algorithm::Es256, &spec(json!({}), json!({})), 1000)
            .unwrap();
        assert_eq!(
            parts(&token).1,
            json!({"iss": "i", "iat": 1000, "exp": 1300})
        );
    }

    #[test]
    fn absent_removes_defaults() {
        let mut keys = ThrowawayKeys::default();
        let token = keys
            .mint(
                "i",
                Algorithm::Hs256,
                &spec(
                    json!({"exp": ABSENT, "iss": ABSENT}),
                    json!({"kid": ABSENT, "typ": ABSENT}),
                ),
                7,
            )
            .unwrap();
        let (header, claims, _) = parts(&token);
        assert_eq!(header, json!({"alg": "HS256"}));
        assert_eq!(claims, json!({"iat": 7}));
    }

    #[test]
    fn one_rsa_key_serves_every_rsa_algorithm_of_an_issuer() {
        let mut keys = ThrowawayKeys::default();
        let needs = IssuerNeeds {
            issuer: "i".into(),
            key_sources: Vec::new(),
            algorithms: vec![Algorithm::Rs256, Algorithm::Ps384, Algorithm::Es256],
        };
        let set = keys.key_set(&needs).unwrap();
        assert_eq!(set.len(), 2);
        let kids: Vec<Option<String>> = set.iter().map(|k| k.info().kid.clone()).collect();
        assert_eq!(
            kids,
            vec![
                Some("tollgate-test-RSA".into()),
                Some("tollgate-test-ES256".into())
            ]
        );
        let rsa = set.iter().next().unwrap();
        for alg in [Algorithm::Rs256, Algorithm::Ps384, Algorithm::Ps512] {
            let token = keys.mint("i", alg, &spec(json!({}), json!({})), 1).unwrap();
            let (signing_input, signature) = token.rsplit_once('.').unwrap();
            let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
            rsa.verify(alg, signing_input.as_bytes(), &signature)
                .unwrap_or_else(|e| panic!("{alg}: {e}"));
        }
        // Another issuer gets its own key: its tokens do not verify here.
        let other = keys
            .mint("j", Algorithm::Rs256, &spec(json!({}), json!({})), 1)
            .unwrap();
        let (signing_input, signature) = other.rsplit_once('.').unwrap();
        let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
        assert!(
            rsa.verify(Algorithm::Rs256, signing_input.as_bytes(), &signature)
                .is_err()
        );
    }

    #[test]
    fn hmac_keys_verify_their_tokens() {
        let mut keys = ThrowawayKeys::default();
        let needs = IssuerNeeds {
            issuer: "i".into(),
            key_sources: Vec::new(),
            algorithms: vec![Algorithm::Hs384],
        };
        let set = keys.key_set(&needs).unwrap();
        let key = set.iter().next().unwrap();
        assert_eq!(key.info().kid.as_deref(), Some("tollgate-test-HS384"));
        let token = keys
            .mint("i", Algorithm::Hs384, &spec(json!({}), json!({})), 1)
            .unwrap();
        let (signing_input, signature) = token.rsplit_once('.').unwrap();
        let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
        key.verify(Algorithm::Hs384, signing_input.as_bytes(), &signature)
            .unwrap();
    }
}
