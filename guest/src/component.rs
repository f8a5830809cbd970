//! The thin component layer: `wit-bindgen` exports of the
//! `tollgate:authorizer/authorizer` world, converting between the generated
//! WIT types and the plain-Rust [`crate::model`] types. No logic lives here.

use std::cell::RefCell;

use crate::Policy;
use crate::model::{self, Algorithm, Decision, DenyReason, DenyStatus, KeySource};

mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "authorizer",
    });
}

use bindings::Guest;
use bindings::tollgate::authorizer::keys as wit_keys;
use bindings::tollgate::authorizer::types as wit;

struct Component;

bindings::export!(Component with_types_in bindings);

thread_local! {
    /// The policy read by `configure`; one per instance.
    static POLICY: RefCell<Option<Policy>> = const { RefCell::new(None) };
}

impl Guest for Component {
    fn configure(config: String) -> Result<wit::Manifest, wit::ConfigError> {
        let policy = Policy::from_toml(&config).map_err(|e| wit::ConfigError {
            field: e.field,
            message: e.message,
        })?;
        let manifest = manifest_to_wit(policy.manifest());
        POLICY.with(|p| *p.borrow_mut() = Some(policy));
        Ok(manifest)
    }

    fn authorize(request: wit::Request) -> wit::Decision {
        let request = request_from_wit(request);
        let decision = POLICY.with(|p| match p.borrow().as_ref() {
            Some(policy) => policy.authorize(&request, &HostKeys),
            None => Decision::Error {
                reason: "not-configured".into(),
                message: "authorize was called before configure".into(),
            },
        });
        decision_to_wit(decision)
    }
}

/// The host's key cache, reached through the `keys` import.
struct HostKeys;

/// A key resource owned by the host.
struct HostKey(wit_keys::Key);

impl model::KeyRing for HostKeys {
    type Key = HostKey;

    fn lookup(&self, issuer: &str, kid: Option<&str>) -> Result<Vec<HostKey>, model::LookupError> {
        wit_keys::lookup(issuer, kid)
            .map(|keys| keys.into_iter().map(HostKey).collect())
            .map_err(|e| match e {
                wit_keys::LookupError::UnknownIssuer => model::LookupError::UnknownIssuer,
                wit_keys::LookupError::UnknownKey => model::LookupError::UnknownKey,
                wit_keys::LookupError::KeysUnavailable => model::LookupError::KeysUnavailable,
            })
    }
}

impl model::VerificationKey for HostKey {
    fn info(&self) -> model::KeyInfo {
        let info = self.0.info();
        model::KeyInfo {
            kid: info.kid,
            kty: info.kty,
            crv: info.crv,
            alg: info.alg,
            key_use: info.use_,
            key_ops: info.key_ops,
            bits: info.bits,
        }
    }

    fn verify(
        &self,
        alg: Algorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), model::VerifyError> {
        self.0
            .verify(algorithm_to_wit(alg), message, signature)
            .map_err(|e| match e {
                wit_keys::VerifyError::BadSignature => model::VerifyError::BadSignature,
                wit_keys::VerifyError::KeyMismatch => model::VerifyError::KeyMismatch,
            })
    }
}

fn algorithm_to_wit(alg: Algorithm) -> wit::Algorithm {
    match alg {
        Algorithm::Rs256 => wit::Algorithm::Rs256,
        Algorithm::Rs384 => wit::Algorithm::Rs384,
        Algorithm::Rs512 => wit::Algorithm::Rs512,
        Algorithm::Ps256 => wit::Algorithm::Ps256,
        Algorithm::Ps384 => wit::Algorithm::Ps384,
        Algorithm::Ps512 => wit::Algorithm::Ps512,
        Algorithm::Es256 => wit::Algorithm::Es256,
        Algorithm::Es384 => wit::Algorithm::Es384,
        Algorithm::Es512 => wit::Algorithm::Es512,
        Algorithm::EdDsa => wit::Algorithm::Eddsa,
        Algorithm::Hs256 => wit::Algorithm::Hs256,
        Algorithm::Hs384 => wit::Algorithm::Hs384,
        Algorithm::Hs512 => wit::Algorithm::Hs512,
    }
}

fn manifest_to_wit(manifest: model::Manifest) -> wit::Manifest {
    wit::Manifest {
        issuers: manifest
            .issuers
            .into_iter()
            .map(|needs| wit::IssuerNeeds {
                issuer: needs.issuer,
                key_sources: needs
                    .key_sources
                    .into_iter()
                    .map(|source| match source {
                        KeySource::JwksFile(path) => wit::KeySource::JwksFile(path),
                        KeySource::JwksUri(url) => wit::KeySource::JwksUri(url),
                        KeySource::Discovery(issuer) => wit::KeySource::Discovery(issuer),
                        KeySource::Secret(s) => wit::KeySource::Secret(wit::SecretSource {
                            kid: s.kid,
                            location: s.location,
                            encoding: s.encoding,
                            algorithm: algorithm_to_wit(s.algorithm),
                        }),
                    })
                    .collect(),
                algorithms: needs.algorithms.into_iter().map(algorithm_to_wit).collect(),
            })
            .collect(),
    }
}

fn request_from_wit(request: wit::Request) -> model::Request {
    let pairs = |fields: Vec<wit::Field>| fields.into_iter().map(|f| (f.name, f.value)).collect();
    model::Request {
        token_sources: request
            .token_sources
            .into_iter()
            .map(|source| match source {
                wit::TokenSource::AuthorizationHeader(v) => {
                    model::TokenSource::AuthorizationHeader(v)
                }
                wit::TokenSource::Raw(v) => model::TokenSource::Raw(v),
                wit::TokenSource::OutsideCacheKey => model::TokenSource::OutsideCacheKey,
            })
            .collect(),
        method: request.method,
        path: request.path,
        headers: pairs(request.headers),
        query: pairs(request.query),
        source_ip: request.source_ip,
        method_arn: request.method_arn,
        now: request.now,
    }
}

fn decision_to_wit(decision: Decision) -> wit::Decision {
    match decision {
        Decision::Allow(allow) => wit::Decision::Allow(wit::Allow {
            principal: allow.principal,
            issuer: allow.issuer,
            context: allow
                .context
                .into_iter()
                .map(|(name, value)| wit::Field { name, value })
                .collect(),
            grants: allow
                .grants
                .into_iter()
                .map(|g| wit::Grant {
                    method: g.method,
                    path: g.path,
                })
                .collect(),
            request_dependent: allow.request_dependent,
            expires_at: allow.expires_at,
        }),
        Decision::Deny(deny) => wit::Decision::Deny(wit::Deny {
            reason: deny_reason_to_wit(deny.reason),
            status: match deny.status {
                DenyStatus::Unauthenticated => wit::DenyStatus::Unauthenticated,
                DenyStatus::Forbidden => wit::DenyStatus::Forbidden,
            },
            detail: deny.detail,
            principal: deny.principal,
        }),
        Decision::Error { reason, message } => {
            wit::Decision::Error(wit::ModuleError { reason, message })
        }
    }
}

fn deny_reason_to_wit(reason: DenyReason) -> wit::DenyReason {
    match reason {
        DenyReason::MissingToken => wit::DenyReason::MissingToken,
        DenyReason::MultipleTokens => wit::DenyReason::MultipleTokens,
        DenyReason::Malformed => wit::DenyReason::Malformed,
        DenyReason::DisallowedAlgorithm => wit::DenyReason::DisallowedAlgorithm,
        DenyReason::UntrustedHeader => wit::DenyReason::UntrustedHeader,
        DenyReason::WrongType => wit::DenyReason::WrongType,
        DenyReason::UnknownKey => wit::DenyReason::UnknownKey,
        DenyReason::KeyMismatch => wit::DenyReason::KeyMismatch,
        DenyReason::BadSignature => wit::DenyReason::BadSignature,
        DenyReason::InvalidClaims => wit::DenyReason::InvalidClaims,
        DenyReason::MissingClaim => wit::DenyReason::MissingClaim,
        DenyReason::Expired => wit::DenyReason::Expired,
        DenyReason::NotYetValid => wit::DenyReason::NotYetValid,
        DenyReason::IssuedInFuture => wit::DenyReason::IssuedInFuture,
        DenyReason::LifetimeTooLong => wit::DenyReason::LifetimeTooLong,
        DenyReason::WrongIssuer => wit::DenyReason::WrongIssuer,
        DenyReason::WrongAudience => wit::DenyReason::WrongAudience,
        DenyReason::WrongClient => wit::DenyReason::WrongClient,
        DenyReason::WrongTokenUse => wit::DenyReason::WrongTokenUse,
        DenyReason::InsufficientScope => wit::DenyReason::InsufficientScope,
        DenyReason::Forbidden => wit::DenyReason::Forbidden,
        DenyReason::KeysUnavailable => wit::DenyReason::KeysUnavailable,
    }
}
