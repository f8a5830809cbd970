//! Generated bindings for `tollgate:authorizer/authorizer` (private), the
//! host side of the `keys` import, and conversions to the plain-Rust model.

use std::sync::Arc;

use tollgate_keys::{KeyStore, VerificationKey};
use wasmtime::component::{Resource, ResourceTable};
use wasmtime::{StoreLimits, StoreLimitsBuilder};

use crate::model;

mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "authorizer",
        with: {
            "tollgate:authorizer/keys.key": super::KeyHandle,
        },
        imports: { default: trappable },
    });
}

pub(crate) use generated::tollgate::authorizer::keys as wit_keys;
pub(crate) use generated::tollgate::authorizer::types as wit;
pub(crate) use generated::{Authorizer, AuthorizerPre};

/// A key the guest holds a handle to: a shared reference into the key cache.
pub struct KeyHandle(Arc<VerificationKey>);

/// A key lookup the module made that found nothing usable: the host may
/// refresh that issuer's keys (rate-limited) and ask the module once more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMiss {
    /// The issuer whose keys were asked for.
    pub issuer: String,
    /// The `kid` asked for (`None`: the token had none).
    pub kid: Option<String>,
    /// Why the lookup failed.
    pub error: model::LookupError,
}

/// Per-store state: the resource table for key handles, the memory limiter,
/// the shared key cache and the lookups that missed during the current call.
pub(crate) struct HostState {
    pub(crate) table: ResourceTable,
    pub(crate) limits: StoreLimits,
    pub(crate) keys: Arc<KeyStore>,
    pub(crate) misses: Vec<KeyMiss>,
}

impl HostState {
    pub(crate) fn new(keys: Arc<KeyStore>, memory_limit: usize) -> Self {
        HostState {
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(memory_limit)
                .instances(4)
                .tables(8)
                .memories(2)
                .trap_on_grow_failure(true)
                .build(),
            keys,
            misses: Vec::new(),
        }
    }
}

/// A module can look up many times per call; the host needs only the first few.
const MAX_RECORDED_MISSES: usize = 4;

impl wit_keys::Host for HostState {
    fn lookup(
        &mut self,
        issuer: String,
        kid: Option<String>,
    ) -> wasmtime::Result<Result<Vec<Resource<KeyHandle>>, wit_keys::LookupError>> {
        let found = match self.keys.lookup(&issuer, kid.as_deref()) {
            Ok(found) => found,
            Err(e) => {
                if self.misses.len() < MAX_RECORDED_MISSES {
                    self.misses.push(KeyMiss {
                        issuer,
                        kid,
                        error: e,
                    });
                }
                return Ok(Err(match e {
                    tollgate_keys::LookupError::UnknownIssuer => {
                        wit_keys::LookupError::UnknownIssuer
                    }
                    tollgate_keys::LookupError::UnknownKey => wit_keys::LookupError::UnknownKey,
                    tollgate_keys::LookupError::KeysUnavailable => {
                        wit_keys::LookupError::KeysUnavailable
                    }
                }));
            }
        };
        let mut handles = Vec::with_capacity(found.len());
        for key in found {
            handles.push(self.table.push(KeyHandle(key))?);
        }
        Ok(Ok(handles))
    }
}

impl wit_keys::HostKey for HostState {
    fn info(&mut self, key: Resource<KeyHandle>) -> wasmtime::Result<wit_keys::KeyInfo> {
        let info = self.table.get(&key)?.0.info();
        Ok(wit_keys::KeyInfo {
            kid: info.kid.clone(),
            kty: info.kty.clone(),
            crv: info.crv.clone(),
            alg: info.alg.clone(),
            use_: info.key_use.clone(),
            key_ops: info.key_ops.clone(),
            bits: info.bits,
        })
    }

    fn verify(
        &mut self,
        key: Resource<KeyHandle>,
        algorithm: wit::Algorithm,
        message: Vec<u8>,
        signature: Vec<u8>,
    ) -> wasmtime::Result<Result<(), wit_keys::VerifyError>> {
        let key = &self.table.get(&key)?.0;
        Ok(key
            .verify(algorithm_from_wit(algorithm), &message, &signature)
            .map_err(|e| match e {
                tollgate_keys::VerifyError::BadSignature => wit_keys::VerifyError::BadSignature,
                tollgate_keys::VerifyError::KeyMismatch => wit_keys::VerifyError::KeyMismatch,
            }))
    }

    fn drop(&mut self, key: Resource<KeyHandle>) -> wasmtime::Result<()> {
        self.table.delete(key)?;
        Ok(())
    }
}

impl wit::Host for HostState {}

pub(crate) fn algorithm_from_wit(alg: wit::Algorithm) -> model::Algorithm {
    use model::Algorithm as A;
    match alg {
        wit::Algorithm::Rs256 => A::Rs256,
        wit::Algorithm::Rs384 => A::Rs384,
        wit::Algorithm::Rs512 => A::Rs512,
        wit::Algorithm::Ps256 => A::Ps256,
        wit::Algorithm::Ps384 => A::Ps384,
        wit::Algorithm::Ps512 => A::Ps512,
        wit::Algorithm::Es256 => A::Es256,
        wit::Algorithm::Es384 => A::Es384,
        wit::Algorithm::Es512 => A::Es512,
        wit::Algorithm::Eddsa => A::EdDsa,
        wit::Algorithm::Hs256 => A::Hs256,
        wit::Algorithm::Hs384 => A::Hs384,
        wit::Algorithm::Hs512 => A::Hs512,
    }
}

pub(crate) fn request_to_wit(request: &model::Request) -> wit::Request {
    let fields = |pairs: &[(String, String)]| {
        pairs
            .iter()
            .map(|(name, value)| wit::Field {
                name: name.clone(),
                value: value.clone(),
            })
            .collect()
    };
    wit::Request {
        token_sources: request
            .token_sources
            .iter()
            .map(|source| match source {
                model::TokenSource::AuthorizationHeader(v) => {
                    wit::TokenSource::AuthorizationHeader(v.clone())
                }
                model::TokenSource::Raw(v) => wit::TokenSource::Raw(v.clone()),
                model::TokenSource::OutsideCacheKey => wit::TokenSource::OutsideCacheKey,
            })
            .collect(),
        method: request.method.clone(),
        path: request.path.clone(),
        headers: fields(&request.headers),
        query: fields(&request.query),
        source_ip: request.source_ip.clone(),
        method_arn: request.method_arn.clone(),
        now: request.now,
    }
}

pub(crate) fn decision_from_wit(decision: wit::Decision) -> model::Decision {
    match decision {
        wit::Decision::Allow(allow) => model::Decision::Allow(model::Allow {
            principal: allow.principal,
            issuer: allow.issuer,
            context: allow
                .context
                .into_iter()
                .map(|f| (f.name, f.value))
                .collect(),
            grants: allow
                .grants
                .into_iter()
                .map(|g| model::Grant {
                    method: g.method,
                    path: g.path,
                })
                .collect(),
            request_dependent: allow.request_dependent,
            expires_at: allow.expires_at,
        }),
        wit::Decision::Deny(deny) => model::Decision::Deny(model::Deny {
            reason: deny_reason_from_wit(deny.reason),
            status: match deny.status {
                wit::DenyStatus::Unauthenticated => model::DenyStatus::Unauthenticated,
                wit::DenyStatus::Forbidden => model::DenyStatus::Forbidden,
            },
            detail: deny.detail,
            principal: deny.principal,
        }),
        wit::Decision::Error(e) => model::Decision::Error {
            reason: e.reason,
            message: e.message,
        },
    }
}

fn deny_reason_from_wit(reason: wit::DenyReason) -> model::DenyReason {
    use model::DenyReason as R;
    use wit::DenyReason as W;
    match reason {
        W::MissingToken => R::MissingToken,
        W::MultipleTokens => R::MultipleTokens,
        W::Malformed => R::Malformed,
        W::DisallowedAlgorithm => R::DisallowedAlgorithm,
        W::UntrustedHeader => R::UntrustedHeader,
        W::WrongType => R::WrongType,
        W::UnknownKey => R::UnknownKey,
        W::KeyMismatch => R::KeyMismatch,
        W::BadSignature => R::BadSignature,
        W::InvalidClaims => R::InvalidClaims,
        W::MissingClaim => R::MissingClaim,
        W::Expired => R::Expired,
        W::NotYetValid => R::NotYetValid,
        W::IssuedInFuture => R::IssuedInFuture,
        W::LifetimeTooLong => R::LifetimeTooLong,
        W::WrongIssuer => R::WrongIssuer,
        W::WrongAudience => R::WrongAudience,
        W::WrongClient => R::WrongClient,
        W::WrongTokenUse => R::WrongTokenUse,
        W::InsufficientScope => R::InsufficientScope,
        W::Forbidden => R::Forbidden,
        W::KeysUnavailable => R::KeysUnavailable,
    }
}

pub(crate) fn manifest_from_wit(manifest: wit::Manifest) -> model::Manifest {
    model::Manifest {
        issuers: manifest
            .issuers
            .into_iter()
            .map(|needs| model::IssuerNeeds {
                issuer: needs.issuer,
                key_sources: needs
                    .key_sources
                    .into_iter()
                    .map(|source| match source {
                        wit::KeySource::JwksFile(path) => model::KeySource::JwksFile(path),
                        wit::KeySource::JwksUri(url) => model::KeySource::JwksUri(url),
                        wit::KeySource::Discovery(issuer) => model::KeySource::Discovery(issuer),
                        wit::KeySource::Secret(s) => {
                            model::KeySource::Secret(model::SecretSource {
                                kid: s.kid,
                                location: s.location,
                                encoding: s.encoding,
                                algorithm: algorithm_from_wit(s.algorithm),
                            })
                        }
                    })
                    .collect(),
                algorithms: needs
                    .algorithms
                    .into_iter()
                    .map(algorithm_from_wit)
                    .collect(),
            })
            .collect(),
    }
}
