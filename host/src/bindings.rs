//! Generated bindings for `tollgate:authorizer/authorizer` (private), the
//! host side of the `keys` import, and conversions to the plain-Rust model
//! (`tollgate_sdk::wit_conversions!`, the same ones modules use).

use std::sync::Arc;

use tollgate_keys::{KeyStore, NativeKey};
use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource, ResourceTable, WasmList};
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

/// A request with nothing in it, to be refilled by [`refill_request`].
pub(crate) fn empty_request() -> wit::Request {
    wit::Request {
        token_sources: Vec::new(),
        method: String::new(),
        path: String::new(),
        raw_path: String::new(),
        headers: Vec::new(),
        query: Vec::new(),
        source_ip: None,
        now: 0,
    }
}

/// Make `scratch` the bindings' form of `request` (`raw_path` defaulting to
/// `path`), reusing its strings' capacity: what `wit::Request::from` makes,
/// without an allocation per call once the instance is warm.
pub(crate) fn refill_request(scratch: &mut wit::Request, request: &model::Request) {
    scratch.token_sources.truncate(request.token_sources.len());
    for (i, source) in request.token_sources.iter().enumerate() {
        match (scratch.token_sources.get_mut(i), source) {
            (
                Some(wit::TokenSource::AuthorizationHeader(kept)),
                model::TokenSource::AuthorizationHeader(value),
            )
            | (Some(wit::TokenSource::Raw(kept)), model::TokenSource::Raw(value)) => {
                kept.clone_from(value);
            }
            (slot, source) => {
                let fresh = match source {
                    model::TokenSource::AuthorizationHeader(v) => {
                        wit::TokenSource::AuthorizationHeader(v.clone())
                    }
                    model::TokenSource::Raw(v) => wit::TokenSource::Raw(v.clone()),
                    model::TokenSource::OutsideCacheKey => wit::TokenSource::OutsideCacheKey,
                };
                match slot {
                    Some(slot) => *slot = fresh,
                    None => scratch.token_sources.push(fresh),
                }
            }
        }
    }
    scratch.method.clone_from(&request.method);
    scratch.path.clone_from(&request.path);
    scratch.raw_path.clone_from(if request.raw_path.is_empty() {
        &request.path
    } else {
        &request.raw_path
    });
    refill_fields(&mut scratch.headers, &request.headers);
    refill_fields(&mut scratch.query, &request.query);
    scratch.source_ip.clone_from(&request.source_ip);
    scratch.now = request.now;
}

fn refill_fields(scratch: &mut Vec<wit::Field>, pairs: &[(String, String)]) {
    scratch.truncate(pairs.len());
    for (i, (name, value)) in pairs.iter().enumerate() {
        match scratch.get_mut(i) {
            Some(field) => {
                field.name.clone_from(name);
                field.value.clone_from(value);
            }
            None => scratch.push(wit::Field {
                name: name.clone(),
                value: value.clone(),
            }),
        }
    }
}

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
/// the shared key cache, the lookups that missed during the current call,
/// and the keys the last `find-keys` of the current call found.
pub(crate) struct HostState {
    pub(crate) table: ResourceTable,
    pub(crate) limits: StoreLimits,
    pub(crate) keys: Arc<KeyStore>,
    pub(crate) misses: Vec<KeyMiss>,
    /// What `verify-found` verifies with, by index: every key `find-keys`
    /// found in the current call, the very keys whose metadata the module
    /// was shown, even if the key cache changes meanwhile. Emptied at
    /// each call's start and end.
    pub(crate) found: Vec<Arc<NativeKey>>,
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
            found: Vec::new(),
        }
    }

    /// Forget what the last call found and missed: a new call starts.
    pub(crate) fn start_call(&mut self) {
        self.misses.clear();
        self.found.clear();
    }

    /// The issuer's keys for `kid` from the cache, or the miss recorded.
    fn lookup_keys(
        &mut self,
        issuer: String,
        kid: Option<String>,
    ) -> Result<Vec<Arc<NativeKey>>, model::LookupError> {
        self.keys
            .lookup(&issuer, kid.as_deref())
            .inspect_err(|e| self.record_miss(issuer, kid, *e))
    }

    fn record_miss(&mut self, issuer: String, kid: Option<String>, error: model::LookupError) {
        if self.misses.len() < MAX_RECORDED_MISSES {
            self.misses.push(KeyMiss { issuer, kid, error });
        }
    }

    /// The key `find-keys` found at `index` in this call; an index none
    /// gave is the module's bug (a trap).
    fn found_key(&self, index: u32) -> wasmtime::Result<&NativeKey> {
        match usize::try_from(index).ok().and_then(|i| self.found.get(i)) {
            Some(key) => Ok(key),
            None => Err(wasmtime::format_err!(
                "verify-found: no key has index {index}; find-keys found {} in this call",
                self.found.len()
            )),
        }
    }
}

/// Define `keys.verify-found` over the one `add_to_linker` defined: the
/// same call (see [`wit_keys::Host::verify_found`]), reading the message
/// and the signature where they lie in the module's memory instead of
/// copying each into a new `Vec` (the generated binding's parameters are
/// owned), so a verification allocates nothing on the host.
pub(crate) fn verify_found_in_place(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut keys = linker.instance(&format!(
        "{}/keys@{}",
        crate::module::WIT_PACKAGE,
        crate::module::WIT_VERSION
    ))?;
    keys.func_wrap(
        "verify-found",
        |store: StoreContextMut<'_, HostState>,
         (index, algorithm, message, signature): (
            u32,
            wit::Algorithm,
            WasmList<u8>,
            WasmList<u8>,
        )| {
            let key = store.data().found_key(index)?;
            let verified = key.verify(
                algorithm.into(),
                message.as_le_slice(&store),
                signature.as_le_slice(&store),
            );
            Ok((verified.map_err(wit_keys::VerifyError::from),))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// A module can look up many times per call; the host needs only the first few.
const MAX_RECORDED_MISSES: usize = 4;

/// Keys `find-keys` may find in one call (the host keeps each until the
/// call ends): a decision needs a handful, a module that finds more loops.
const MAX_FOUND_KEYS: usize = 1024;

impl wit_keys::Host for HostState {
    fn lookup(
        &mut self,
        issuer: String,
        kid: Option<String>,
    ) -> wasmtime::Result<Result<Vec<Resource<KeyHandle>>, wit_keys::LookupError>> {
        let found = match self.lookup_keys(issuer, kid) {
            Ok(found) => found,
            Err(e) => return Ok(Err(e.into())),
        };
        let mut handles = Vec::with_capacity(found.len());
        for key in found {
            handles.push(self.table.push(KeyHandle(key))?);
        }
        Ok(Ok(handles))
    }

    fn find_keys(
        &mut self,
        issuer: String,
        kid: Option<String>,
    ) -> wasmtime::Result<Result<Vec<wit_keys::FoundKey>, wit_keys::LookupError>> {
        let first = self.found.len();
        if let Err(e) = self
            .keys
            .lookup_into(&issuer, kid.as_deref(), &mut self.found)
        {
            self.record_miss(issuer, kid, e);
            return Ok(Err(e.into()));
        }
        let Some(found) = self
            .found
            .get(first..)
            .filter(|_| self.found.len() <= MAX_FOUND_KEYS)
        else {
            return Err(wasmtime::format_err!(
                "find-keys: the module found more than {MAX_FOUND_KEYS} keys in one call"
            ));
        };
        Ok(Ok((first..)
            .zip(found)
            .map(|(index, key)| wit_keys::FoundKey {
                // At most MAX_FOUND_KEYS: always fits.
                index: u32::try_from(index).unwrap_or(u32::MAX),
                info: key.info().clone().into(),
            })
            .collect()))
    }

    /// The generated binding's form (message and signature copied out).
    /// Modules reach [`verify_found_in_place`], which the linker defines
    /// over this one; this one serves the generated trait and the tests.
    fn verify_found(
        &mut self,
        index: u32,
        algorithm: wit::Algorithm,
        message: Vec<u8>,
        signature: Vec<u8>,
    ) -> wasmtime::Result<Result<(), wit_keys::VerifyError>> {
        Ok(self
            .found_key(index)?
            .verify(algorithm.into(), &message, &signature)
            .map_err(Into::into))
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

    /// Refilling one scratch request with requests of every shape, in
    /// turn, gives each time what a fresh conversion gives (with the raw
    /// path defaulting to the path): nothing of the one before is left.
    #[test]
    fn a_refilled_request_is_the_request_converted() {
        let full = every_field();
        let swapped = Request {
            token_sources: vec![
                TokenSource::Raw("g.h.i".into()),
                TokenSource::AuthorizationHeader("Bearer j".into()),
            ],
            headers: vec![("x-c".into(), "3".into())],
            ..full.clone()
        };
        let bare = Request {
            method: "GET".into(),
            path: "/".into(),
            now: 9,
            ..Request::default()
        };
        let mut scratch = super::empty_request();
        for request in [&full, &bare, &swapped, &full, &swapped, &bare] {
            super::refill_request(&mut scratch, request);
            let mut expected = wit::Request::from(request);
            if expected.raw_path.is_empty() {
                expected.raw_path.clone_from(&expected.path);
            }
            assert_eq!(format!("{scratch:?}"), format!("{expected:?}"));
        }
    }

    /// A request with every field set, each source kind among its tokens.
    fn every_field() -> Request {
        Request {
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
        }
    }

    #[test]
    fn requests_decisions_and_manifests_round_trip() {
        let request = every_field();
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

#[cfg(test)]
mod found_keys {
    //! `find-keys` and `verify-found` on the host state, called as the
    //! module's imports are: indexes grow across finds within a call, each
    //! names the very key found, and nothing survives the call.

    use std::sync::Arc;

    use tollgate_keys::{Algorithm, KeySet, KeyStore, NativeKey};

    use super::wit_keys::Host as _;
    use super::{HostState, MAX_FOUND_KEYS, wit, wit_keys};

    /// HMAC-SHA256 of `message` under `secret`, as a key verifies it.
    fn hs256(secret: &[u8], message: &[u8]) -> Vec<u8> {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
        aws_lc_rs::hmac::sign(&key, message).as_ref().to_vec()
    }

    fn state(kids: &[(&str, u8)]) -> HostState {
        let store = KeyStore::new();
        store.set_keys(
            "iss",
            KeySet::new(
                kids.iter()
                    .map(|(kid, byte)| {
                        Arc::new(
                            NativeKey::from_secret(
                                &[*byte; 32],
                                Some((*kid).into()),
                                Algorithm::Hs256,
                            )
                            .unwrap(),
                        )
                    })
                    .collect(),
            ),
        );
        HostState::new(Arc::new(store), 1 << 20)
    }

    fn find(state: &mut HostState, kid: Option<&str>) -> Vec<wit_keys::FoundKey> {
        state
            .find_keys("iss".into(), kid.map(Into::into))
            .unwrap()
            .unwrap()
    }

    fn verify(state: &mut HostState, index: u32, secret: u8) -> wasmtime::Result<bool> {
        let signature = hs256(&[secret; 32], b"message");
        state
            .verify_found(index, wit::Algorithm::Hs256, b"message".to_vec(), signature)
            .map(|verified| verified.is_ok())
    }

    #[test]
    fn indexes_count_every_key_found_in_the_call_and_name_that_key() {
        let mut state = state(&[("a", 1), ("b", 2)]);
        let first = find(&mut state, None);
        let second = find(&mut state, Some("b"));
        let kids = |found: &[wit_keys::FoundKey]| -> Vec<(u32, Option<String>)> {
            found
                .iter()
                .map(|key| (key.index, key.info.kid.clone()))
                .collect()
        };
        assert_eq!(kids(&first), [(0, Some("a".into())), (1, Some("b".into()))]);
        // A later find does not renumber the keys found before it.
        assert_eq!(kids(&second), [(2, Some("b".into()))]);
        assert!(verify(&mut state, 0, 1).unwrap());
        assert!(!verify(&mut state, 0, 2).unwrap(), "index 0 is key a");
        assert!(verify(&mut state, 1, 2).unwrap());
        assert!(verify(&mut state, 2, 2).unwrap());
    }

    #[test]
    fn an_index_no_find_gave_traps_and_a_new_call_forgets_the_keys() {
        let mut state = state(&[("a", 1)]);
        let error = verify(&mut state, 0, 1).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("no key has index 0; find-keys found 0"),
            "{error}"
        );
        find(&mut state, Some("a"));
        assert!(verify(&mut state, 0, 1).unwrap());
        assert!(verify(&mut state, 1, 1).is_err(), "past what was found");
        state.start_call();
        assert!(
            verify(&mut state, 0, 1).is_err(),
            "found in an earlier call"
        );
    }

    #[test]
    fn the_keys_found_are_the_ones_shown_even_when_the_cache_changes() {
        let mut state = state(&[("a", 1)]);
        find(&mut state, Some("a"));
        // The issuer's keys rotate: same kid, another secret.
        state.keys.set_keys(
            "iss",
            KeySet::new(vec![Arc::new(
                NativeKey::from_secret(&[9; 32], Some("a".into()), Algorithm::Hs256).unwrap(),
            )]),
        );
        assert!(verify(&mut state, 0, 1).unwrap(), "the key that was shown");
        assert!(!verify(&mut state, 0, 9).unwrap());
    }

    #[test]
    fn a_module_that_finds_without_end_traps() {
        let mut state = state(&[("a", 1)]);
        for _ in 0..MAX_FOUND_KEYS {
            find(&mut state, Some("a"));
        }
        let error = state.find_keys("iss".into(), Some("a".into())).unwrap_err();
        assert!(error.to_string().contains("more than 1024 keys"), "{error}");
    }

    #[test]
    fn a_miss_is_recorded_and_finds_nothing() {
        let mut state = state(&[("a", 1)]);
        let missed = state
            .find_keys("iss".into(), Some("z".into()))
            .unwrap()
            .unwrap_err();
        assert_eq!(missed, wit_keys::LookupError::UnknownKey);
        assert_eq!(state.misses.len(), 1);
        assert!(state.found.is_empty());
    }
}
