//! The decision pipeline: credential, structure, header, issuer, keys,
//! signature, then claims.

use serde_json::{Map, Value};

use crate::claims::{self, Checked};
use crate::config::{IssuerPolicy, Policy, render_context};
use crate::json::{JsonObject, JsonValue};
use crate::model::{
    Algorithm, Allow, Decision, Deny, DenyReason, DenyStatus, Grant, KeyInfo, KeyRing, LookupError,
    Request, VerificationKey, VerifyError,
};
use crate::routes::RouteVerdict;
use crate::routes::requirement::Evidence;
use crate::token::{self, echo};

/// A token that passed every check its issuer asks for: what route rules,
/// and a custom module's own rules, decide on.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedToken {
    /// The issuer that vouched for it (`iss`).
    pub issuer: String,
    /// The caller, from the issuer's principal claims.
    pub principal: String,
    /// The verified payload.
    pub claims: Map<String, Value>,
    /// `exp`, when present.
    pub expires_at: Option<i64>,
    /// The issuer's `context_claims`, as (name, JSON text).
    pub context: Vec<(String, String)>,
}

impl Policy {
    /// Decide one request: [`Policy::verify`] the token, then
    /// [`Policy::decide`] by the route rules. A public route needs no
    /// token, but a token that is present must be valid. Never panics;
    /// every refusal is a [`Decision::Deny`].
    pub fn authorize<K: KeyRing>(&self, request: &Request, keys: &K) -> Decision {
        if request.token_sources.is_empty()
            && let Some(rule) = self.routes().find(&request.method, &request.path)
            && rule.public
        {
            return Decision::Allow(Allow {
                principal: String::new(),
                issuer: String::new(),
                context: Vec::new(),
                grants: self.routes().anonymous_grants().to_vec(),
                request_dependent: false,
                expires_at: None,
                rule: Some(rule.label.clone()),
            });
        }
        // Without route rules every valid token may call every route: no
        // rule to find, and the claims are never copied out of the token.
        let decided = if self.routes().is_empty() && self.context().is_empty() {
            self.verify_with(request, keys, |_, checked| {
                Decision::Allow(Allow {
                    principal: checked.principal,
                    issuer: checked.issuer,
                    context: checked.context,
                    grants: vec![Grant::allow("*", "/*")],
                    request_dependent: false,
                    expires_at: checked.expires_at,
                    rule: None,
                })
            })
        } else {
            self.verify(request, keys)
                .map(|token| self.decide(request, &token))
        };
        decided.unwrap_or_else(Decision::Deny)
    }

    /// The route rules' decision for a verified token: the rule that
    /// matches the request (or the default), its requirements, and the
    /// grants of every route this token may call.
    pub fn decide(&self, request: &Request, token: &VerifiedToken) -> Decision {
        let routes = self.routes();
        let rule = routes.find(&request.method, &request.path);
        let evidence = Evidence::new(&token.claims, &token.issuer);
        match routes.decide(
            rule,
            &request.path,
            &evidence,
            &token.principal,
            &request.method,
        ) {
            RouteVerdict::Deny(mut deny) => {
                // A valid token refused here may still call other routes:
                // say which, so a per-token cache answers them right.
                if deny.status == DenyStatus::Forbidden {
                    deny.grants = routes.grants(&evidence);
                }
                Decision::Deny(deny)
            }
            RouteVerdict::Allow { rule } => {
                let mut context = token.context.clone();
                if !self.context().is_empty() {
                    context.extend(render_context(
                        self.context(),
                        &token.claims,
                        self.limits().max_context_bytes,
                    ));
                }
                Decision::Allow(Allow {
                    principal: token.principal.clone(),
                    issuer: token.issuer.clone(),
                    context,
                    grants: routes.grants(&evidence),
                    request_dependent: false,
                    expires_at: token.expires_at,
                    rule,
                })
            }
        }
    }

    /// Verify the request's token: one credential, the compact JWS and its
    /// header, the issuer, its keys and the signature, then the issuer's
    /// claim checks (time, audience, client, token use, required claims
    /// and scopes, principal).
    pub fn verify<K: KeyRing>(&self, request: &Request, keys: &K) -> Result<VerifiedToken, Deny> {
        self.verify_with(request, keys, |claims, checked| VerifiedToken {
            issuer: checked.issuer,
            principal: checked.principal,
            claims: claims.to_map(),
            expires_at: checked.expires_at,
            context: checked.context,
        })
    }

    /// [`Policy::verify`], handing `then` the verified claims (borrowed
    /// from the decoded payload) and what the issuer's checks established.
    fn verify_with<K: KeyRing, T>(
        &self,
        request: &Request,
        keys: &K,
        then: impl FnOnce(&JsonObject<'_>, Checked) -> T,
    ) -> Result<T, Deny> {
        let compact = token::read_token(&request.token_sources, self.limits())?;
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
        let checked = claims::check(issuer, &claims, request.now)?;
        Ok(then(&claims, checked))
    }
}

fn decode_claims(payload: &[u8]) -> Result<JsonObject<'_>, Deny> {
    token::decode_object(payload, "payload")
        .map_err(|detail| Deny::new(DenyReason::InvalidClaims, detail))
}

fn select_issuer<'a>(
    issuers: &'a [IssuerPolicy],
    claims: &JsonObject<'_>,
) -> Result<&'a IssuerPolicy, Deny> {
    match claims.get("iss") {
        None => Err(Deny::new(
            DenyReason::MissingClaim,
            "claim `iss` is missing",
        )),
        Some(JsonValue::String(iss)) => {
            issuers.iter().find(|i| i.issuer == *iss).ok_or_else(|| {
                Deny::new(
                    DenyReason::WrongIssuer,
                    format!("issuer {} is not configured", echo(iss)),
                )
            })
        }
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
    // the lookup returned only keys that have it). Then only keys whose
    // JWK metadata fits the algorithm are tried. One pass, in lookup order.
    let mut any_candidate = false;
    let mut fitting: Vec<&K::Key> = Vec::with_capacity(found.len());
    for key in &found {
        let info = key.info();
        if kid.is_none() && info.kid.is_some() {
            continue;
        }
        any_candidate = true;
        if key_fits(&info, alg) {
            fitting.push(key);
        }
    }
    if !any_candidate {
        return Err(Deny::new(
            DenyReason::UnknownKey,
            "the token has no `kid` and every key of this issuer has one; a key with a kid only verifies tokens whose header names it",
        ));
    }
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
