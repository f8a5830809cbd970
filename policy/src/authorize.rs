//! The decision pipeline: credential, structure, header, issuer, keys,
//! signature, then claims.

use serde_json::{Map, Value};

use crate::claims;
use crate::config::{IssuerPolicy, Policy};
use crate::model::{
    Algorithm, Decision, Deny, DenyReason, KeyInfo, KeyRing, LookupError, Request, VerificationKey,
    VerifyError,
};
use crate::token::{self, echo};

impl Policy {
    /// Decide one request. Never panics; every refusal is a [`Decision::Deny`].
    pub fn authorize<K: KeyRing>(&self, request: &Request, keys: &K) -> Decision {
        match self.decide(request, keys) {
            Ok(allow) => Decision::Allow(allow),
            Err(deny) => Decision::Deny(deny),
        }
    }

    fn decide<K: KeyRing>(&self, request: &Request, keys: &K) -> Result<crate::model::Allow, Deny> {
        let token = token::extract_token(&request.token_sources)?;
        let compact = token::parse_compact(token, self.limits())?;
        let alg = compact.header.alg;

        // With one issuer the payload stays unread until the signature
        // verified; with several, its unverified `iss` only picks the keys.
        let (issuer, claims) = match self.issuers() {
            [only] => (only, None),
            issuers => {
                let claims = decode_claims(&compact.payload)?;
                let issuer = select_issuer(issuers, &claims)?;
                (issuer, Some(claims))
            }
        };

        if !issuer.algorithms.contains(&alg) {
            return Err(Deny::new(
                DenyReason::DisallowedAlgorithm,
                format!("algorithm {alg} is not allowed for this issuer"),
            ));
        }
        if let Some(pinned) = &issuer.typ {
            match &compact.header.typ {
                None => {
                    return Err(Deny::new(
                        DenyReason::WrongType,
                        format!("header has no `typ`; expected \"{pinned}\""),
                    ));
                }
                Some(typ)
                    if token::normalize_media_type(typ) != token::normalize_media_type(pinned) =>
                {
                    return Err(Deny::new(
                        DenyReason::WrongType,
                        format!("header `typ` is {}; expected \"{pinned}\"", echo(typ)),
                    ));
                }
                Some(_) => {}
            }
        }

        verify_signature(issuer, &compact, keys)?;

        let claims = match claims {
            Some(claims) => claims,
            None => decode_claims(&compact.payload)?,
        };
        claims::check(issuer, &claims, request.now)
    }
}

fn decode_claims(payload: &[u8]) -> Result<Map<String, Value>, Deny> {
    token::decode_object(payload, "payload")
        .map_err(|detail| Deny::new(DenyReason::InvalidClaims, detail))
}

fn select_issuer<'a>(
    issuers: &'a [IssuerPolicy],
    claims: &Map<String, Value>,
) -> Result<&'a IssuerPolicy, Deny> {
    match claims.get("iss") {
        None => Err(Deny::new(
            DenyReason::MissingClaim,
            "claim `iss` is missing",
        )),
        Some(Value::String(iss)) => issuers.iter().find(|i| i.issuer == *iss).ok_or_else(|| {
            Deny::new(
                DenyReason::WrongIssuer,
                format!("issuer {} is not configured", echo(iss)),
            )
        }),
        Some(_) => Err(Deny::new(
            DenyReason::InvalidClaims,
            "claim `iss` is not a string",
        )),
    }
}

/// Whether a key's JWK metadata allows verifying `alg`.
pub(crate) fn key_fits(info: &KeyInfo, alg: Algorithm) -> bool {
    info.kty == alg.key_type()
        && alg
            .curve()
            .is_none_or(|crv| info.crv.as_deref() == Some(crv))
        && info.alg.as_deref().is_none_or(|a| a == alg.name())
        && info.key_use.as_deref().is_none_or(|u| u == "sig")
        && info
            .key_ops
            .as_ref()
            .is_none_or(|ops| ops.iter().any(|op| op == "verify"))
}

fn verify_signature<K: KeyRing>(
    issuer: &IssuerPolicy,
    compact: &token::Compact<'_>,
    keys: &K,
) -> Result<(), Deny> {
    let alg = compact.header.alg;
    let kid = compact.header.kid.as_deref();
    let found = keys.lookup(&issuer.issuer, kid).map_err(|e| match e {
        LookupError::UnknownKey => unknown_key(kid),
        LookupError::KeysUnavailable | LookupError::UnknownIssuer => Deny::new(
            DenyReason::KeysUnavailable,
            "the issuer's keys are not available",
        ),
    })?;
    if found.is_empty() {
        return Err(unknown_key(kid));
    }
    // A key with a `kid` verifies only tokens that name it: a token without
    // a `kid` is tried against the issuer's keys without one (with a `kid`,
    // the lookup returned only keys that have it).
    let candidates: Vec<(&K::Key, KeyInfo)> = found
        .iter()
        .map(|key| (key, key.info()))
        .filter(|(_, info)| kid.is_some() || info.kid.is_none())
        .collect();
    if candidates.is_empty() {
        return Err(Deny::new(
            DenyReason::UnknownKey,
            "the token has no `kid` and every key of this issuer has one; a key with a kid only verifies tokens whose header names it",
        ));
    }
    let fitting: Vec<&K::Key> = candidates
        .iter()
        .filter(|(_, info)| key_fits(info, alg))
        .map(|(key, _)| *key)
        .collect();
    if fitting.is_empty() {
        return Err(Deny::new(
            DenyReason::KeyMismatch,
            format!("no key of this issuer fits algorithm {alg}"),
        ));
    }
    let mut all_mismatch = true;
    for key in fitting {
        match key.verify(alg, compact.signing_input.as_bytes(), &compact.signature) {
            Ok(()) => return Ok(()),
            Err(VerifyError::BadSignature) => all_mismatch = false,
            Err(VerifyError::KeyMismatch) => {}
        }
    }
    Err(if all_mismatch {
        Deny::new(
            DenyReason::KeyMismatch,
            format!("no key of this issuer accepts algorithm {alg}"),
        )
    } else {
        Deny::new(DenyReason::BadSignature, "signature does not verify")
    })
}

fn unknown_key(kid: Option<&str>) -> Deny {
    Deny::new(
        DenyReason::UnknownKey,
        match kid {
            Some(kid) => format!("no key with kid {}", echo(kid)),
            None => String::from("the issuer has no keys"),
        },
    )
}

#[cfg(test)]
mod tests;
