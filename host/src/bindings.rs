//! Generated bindings for `tollgate:authorizer/authorizer` (private), the
//! host side of the `keys` import, and conversions to the plain-Rust model
//! (`tollgate_sdk::wit_conversions!`, the same ones modules use).

use std::sync::Arc;

use tollgate_keys::{KeyStore, NativeKey};
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
/// The generated world (`AuthorizerWorld`), named apart from the domain
/// type [`crate::Authorizer`].
pub(crate) use generated::{Authorizer as AuthorizerWorld, AuthorizerPre as AuthorizerWorldPre};

tollgate_sdk::wit_conversions!(types = self::wit, keys = self::wit_keys);

/// A key the guest holds a handle to: a shared reference into the key cache.
pub struct KeyHandle(Arc<NativeKey>);

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
                return Ok(Err(e.into()));
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
        Ok(self.table.get(&key)?.0.info().clone().into())
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
            .verify(algorithm.into(), &message, &signature)
            .map_err(Into::into))
    }

    fn drop(&mut self, key: Resource<KeyHandle>) -> wasmtime::Result<()> {
        self.table.delete(key)?;
        Ok(())
    }
}

impl wit::Host for HostState {}

#[cfg(test)]
mod tests {
    //! The conversions `wit_conversions!` writes, on the host's generated
    //! types: every value makes the round trip unchanged.

    use super::{wit, wit_keys};
    use crate::model::{
        Algorithm, Allow, ConfigError, Decision, Deny, DenyReason, DenyStatus, Grant, IssuerNeeds,
        KeyInfo, KeySource, LookupError, Manifest, Request, SecretSource, TokenSource, VerifyError,
    };

    const REASONS: [DenyReason; 23] = DenyReason::ALL;

    /// The case name of an enum value, lower case without separators, from
    /// its `Debug`: `Algorithm::Rs256` gives `rs256`; the error enums
    /// wasmtime generates print `LookupError { code, name: "unknown-key", … }`.
    fn case_name(value: impl std::fmt::Debug) -> String {
        let debug = format!("{value:?}");
        let name = match debug.split_once("name: \"") {
            Some((_, rest)) => rest.split('"').next().unwrap_or(rest),
            None => debug.rsplit("::").next().unwrap_or(&debug),
        };
        name.replace('-', "").to_lowercase()
    }

    fn round_trip(decision: Decision) {
        assert_eq!(
            Decision::from(wit::Decision::from(decision.clone())),
            decision
        );
    }

    #[test]
    fn enums_round_trip() {
        // A round trip alone would not catch two cases swapped both ways:
        // each case also keeps its name.
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::from(wit::Algorithm::from(alg)), alg);
            assert_eq!(
                case_name(wit::Algorithm::from(alg)),
                alg.name().to_lowercase()
            );
        }
        for reason in REASONS {
            assert_eq!(DenyReason::from(wit::DenyReason::from(reason)), reason);
            // Every name is kept: the WIT enum's case is the model's name.
            assert_eq!(
                case_name(wit::DenyReason::from(reason)),
                reason.as_str().replace('-', "")
            );
        }
        for (status, name) in [
            (DenyStatus::Unauthenticated, "unauthenticated"),
            (DenyStatus::Forbidden, "forbidden"),
        ] {
            assert_eq!(DenyStatus::from(wit::DenyStatus::from(status)), status);
            assert_eq!(case_name(wit::DenyStatus::from(status)), name);
        }
        for e in [
            LookupError::UnknownIssuer,
            LookupError::UnknownKey,
            LookupError::KeysUnavailable,
        ] {
            assert_eq!(LookupError::from(wit_keys::LookupError::from(e)), e);
            assert_eq!(case_name(wit_keys::LookupError::from(e)), case_name(e));
        }
        for e in [VerifyError::BadSignature, VerifyError::KeyMismatch] {
            assert_eq!(VerifyError::from(wit_keys::VerifyError::from(e)), e);
            assert_eq!(case_name(wit_keys::VerifyError::from(e)), case_name(e));
        }
    }

    #[test]
    fn requests_decisions_and_manifests_round_trip() {
        let request = Request {
            token_sources: vec![
                TokenSource::AuthorizationHeader("Bearer a.b.c".into()),
                TokenSource::Raw("d.e.f".into()),
                TokenSource::OutsideCacheKey,
            ],
            method: "GET".into(),
            path: "/orders/42".into(),
            raw_path: "/orders//42/".into(),
            headers: vec![("x-tenant".into(), "t1".into())],
            query: vec![("q".into(), "1".into()), ("q".into(), "2".into())],
            source_ip: Some("192.0.2.1".into()),
            now: 1_700_000_000,
        };
        assert_eq!(Request::from(wit::Request::from(&request)), request);
        // Each field lands in its own place (a swap both ways would round-trip).
        let lowered = wit::Request::from(&request);
        assert_eq!(
            (lowered.method.as_str(), lowered.path.as_str()),
            ("GET", "/orders/42")
        );
        assert_eq!(lowered.headers.len(), 1);
        assert_eq!(lowered.headers[0].name, "x-tenant");
        assert_eq!(lowered.query.len(), 2);
        assert_eq!(lowered.query[1].value, "2");
        assert!(matches!(
            &lowered.token_sources[..],
            [
                wit::TokenSource::AuthorizationHeader(h),
                wit::TokenSource::Raw(r),
                wit::TokenSource::OutsideCacheKey,
            ] if h == "Bearer a.b.c" && r == "d.e.f"
        ));
        assert_eq!(lowered.source_ip.as_deref(), Some("192.0.2.1"));
        assert_eq!(lowered.now, 1_700_000_000);

        let allow = wit::Decision::from(Decision::Allow(Allow {
            principal: "alice".into(),
            issuer: "https://issuer.example".into(),
            context: vec![("email".into(), "1".into())],
            grants: vec![
                Grant::deny("GET", "/orders/admin"),
                Grant::allow("GET", "/orders/*"),
            ],
            request_dependent: false,
            expires_at: Some(9),
            rule: Some("route[0]".into()),
        }));
        match allow {
            wit::Decision::Allow(a) => {
                assert_eq!(
                    (a.principal.as_str(), a.issuer.as_str()),
                    ("alice", "https://issuer.example")
                );
                assert_eq!(
                    (a.context[0].name.as_str(), a.context[0].value.as_str()),
                    ("email", "1")
                );
                assert_eq!(
                    (a.grants[0].method.as_str(), a.grants[0].path.as_str()),
                    ("GET", "/orders/admin")
                );
                assert_eq!(
                    (a.grants[0].effect, a.grants[1].effect),
                    (wit::GrantEffect::Deny, wit::GrantEffect::Allow)
                );
                assert_eq!((a.request_dependent, a.expires_at), (false, Some(9)));
                assert_eq!(a.rule.as_deref(), Some("route[0]"));
            }
            other => panic!("{other:?}"),
        }
        match wit::Decision::from(Decision::Deny(
            Deny::new(DenyReason::Forbidden, "no").with_principal("bob"),
        )) {
            wit::Decision::Deny(d) => {
                assert_eq!(
                    (d.detail.as_str(), d.principal.as_deref()),
                    ("no", Some("bob"))
                );
            }
            other => panic!("{other:?}"),
        }
        match wit::Decision::from(Decision::Error {
            reason: "internal-error".into(),
            message: "trap".into(),
        }) {
            wit::Decision::Error(e) => {
                assert_eq!(
                    (e.reason.as_str(), e.message.as_str()),
                    ("internal-error", "trap")
                );
            }
            other => panic!("{other:?}"),
        }

        round_trip(Decision::Allow(Allow {
            principal: "alice".into(),
            issuer: "https://issuer.example".into(),
            context: vec![("email".into(), "\"a@example.com\"".into())],
            grants: vec![Grant::deny("POST", "/a/{x}"), Grant::allow("*", "/*")],
            request_dependent: true,
            expires_at: Some(1_700_000_300),
            rule: Some("reads".into()),
        }));
        for reason in REASONS {
            round_trip(Decision::Deny(Deny::new(reason, "detail")));
        }
        round_trip(Decision::Deny(
            Deny::new(DenyReason::Forbidden, "no").with_principal("bob"),
        ));
        let mut scoped = Deny::new(DenyReason::InsufficientScope, "scope")
            .with_principal("bob")
            .with_rule("route[2]");
        scoped.required_scopes = vec!["orders.read".into(), "orders.write".into()];
        scoped.grants = vec![Grant::deny("GET", "/a"), Grant::allow("GET", "/*")];
        round_trip(Decision::Deny(scoped));
        round_trip(Decision::Error {
            reason: "internal-error".into(),
            message: "trap".into(),
        });

        let manifest = Manifest {
            issuers: vec![IssuerNeeds {
                issuer: "https://issuer.example".into(),
                key_sources: vec![
                    KeySource::JwksFile("keys/jwks.json".into()),
                    KeySource::JwksUri("https://issuer.example/jwks.json".into()),
                    KeySource::Discovery("https://issuer.example".into()),
                    KeySource::Secret(SecretSource {
                        kid: Some("k1".into()),
                        location: "env:SECRET".into(),
                        encoding: "base64url".into(),
                        algorithm: Algorithm::Hs384,
                    }),
                ],
                algorithms: Algorithm::ALL.to_vec(),
            }],
            rules: vec!["route[0]".into(), "reads".into()],
            warnings: vec!["a warning".into()],
            paths: crate::model::PathOptions {
                merge_slashes: false,
                encoded_delimiters: crate::model::EncodedDelimiters::Keep,
                path_parameters: crate::model::PathParameters::Strip,
                dot_segments: crate::model::DotSegments::Resolve,
                case: crate::model::PathCase::Lower,
                trailing_slash: crate::model::TrailingSlash::Keep,
            },
        };
        assert_eq!(
            Manifest::from(wit::Manifest::from(manifest.clone())),
            manifest
        );

        let error = ConfigError {
            field: "issuer[0].algorithms".into(),
            message: "missing".into(),
        };
        assert_eq!(
            ConfigError::from(wit::ConfigError::from(error.clone())),
            error
        );

        let info = KeyInfo {
            kid: Some("k1".into()),
            kty: "EC".into(),
            crv: Some("P-256".into()),
            alg: Some("ES256".into()),
            key_use: Some("sig".into()),
            key_ops: Some(vec!["verify".into()]),
            bits: 256,
        };
        assert_eq!(KeyInfo::from(wit_keys::KeyInfo::from(info.clone())), info);
    }
}
