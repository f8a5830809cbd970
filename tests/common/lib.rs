//! Shared helpers for the integration tests: the default module compiled once
//! per test binary, authorizers built from in-memory policies, test keys and
//! request builders.

// Tests: a failed expectation is a panic, and fixtures are indexed directly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use tollgate_host::model::{Request, TokenSource};
use tollgate_host::{Authorizer, ConfigBase, PolicyModule, SandboxLimits};

/// The misbehaving test module (traps, loops, grows on request).
pub static MISBEHAVING_MODULE: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/misbehaving_guest.wasm"));

/// A module built for `tollgate:authorizer@0.2.0`, outside this host's range.
pub static OLD_CONTRACT_MODULE: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/old_contract_guest.wasm"));

/// A module built for `tollgate:authorizer@0.5.0` that verifies through
/// key resources (`tests/contract-0.5.0-guest`): a 0.5.x host must run it.
pub static CONTRACT_050_MODULE: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/contract_050_guest.wasm"));

/// The `examples/business-hours` module: writes only in business hours.
pub static BUSINESS_HOURS_MODULE: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/business_hours.wasm"));

/// The `examples/client-allowlist` module: an allow-list of clients per
/// route prefix, compiled in.
pub static CLIENT_ALLOWLIST_MODULE: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/client_allowlist.wasm"));

/// The workspace root (this crate is `tests/`).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent folder")
        .to_path_buf()
}

/// The default module, compiled once per test binary.
pub fn default_module() -> Arc<PolicyModule> {
    static ENGINE: OnceLock<Arc<PolicyModule>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            PolicyModule::default_module(SandboxLimits::default())
                .expect("the embedded module compiles")
        })
        .clone()
}

/// An authorizer on the default module for `policy`, whose file names resolve
/// to the in-memory `files` (name, contents).
pub fn authorizer(policy: &str, files: &[(&str, String)]) -> Authorizer {
    try_authorizer(policy, files).expect("the test policy is valid")
}

/// Like [`authorizer`] but returns the setup error.
pub fn try_authorizer(
    policy: &str,
    files: &[(&str, String)],
) -> Result<Authorizer, tollgate_host::AuthorizerError> {
    let base = ConfigBase::Embedded(
        files
            .iter()
            .map(|(n, c)| (n.to_string(), c.clone()))
            .collect(),
    );
    Authorizer::new(default_module(), policy, &base, "test policy")
}

/// A GET request for `/` carrying `token` as a Bearer header, decided at `now`.
pub fn bearer_request(token: &str, now: i64) -> Request {
    Request {
        token_sources: vec![TokenSource::AuthorizationHeader(format!("Bearer {token}"))],
        method: "GET".into(),
        path: "/".into(),
        now,
        ..Request::default()
    }
}

/// The folder holding the test data (`tests/data`).
pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data")
}

/// A unique scratch folder under the system temp dir, removed on drop.
pub struct ScratchDir(pub PathBuf);

impl ScratchDir {
    /// Create `tollgate-<label>-<pid>-<n>`.
    pub fn new(label: &str) -> Self {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("tollgate-{label}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        ScratchDir(dir)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An authorizer on the default module for `policy`, whose file names resolve
/// against the folder `dir` (as for a policy file stored in `dir`).
pub fn dir_authorizer(
    policy: &str,
    dir: &std::path::Path,
) -> Result<Authorizer, tollgate_host::AuthorizerError> {
    Authorizer::new(
        default_module(),
        policy,
        &ConfigBase::Dir(dir.to_path_buf()),
        "test policy",
    )
}

/// True for the deny reasons only the claims stage gives: the token passed
/// parsing, the header checks, key selection and signature verification.
///
/// With a single configured issuer, `invalid-claims`, `missing-claim` and
/// `wrong-issuer` are only reached after the signature verified.
pub fn is_claims_stage(reason: tollgate_host::model::DenyReason) -> bool {
    use tollgate_host::model::DenyReason as R;
    matches!(
        reason,
        R::InvalidClaims
            | R::MissingClaim
            | R::Expired
            | R::NotYetValid
            | R::IssuedInFuture
            | R::LifetimeTooLong
            | R::WrongIssuer
            | R::WrongAudience
            | R::WrongClient
            | R::WrongTokenUse
            | R::InsufficientScope
            | R::Forbidden
    )
}

/// Unpadded base64url.
pub fn b64url(bytes: impl AsRef<[u8]>) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Decode unpadded base64url.
pub fn b64url_decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text)
}

/// A committed test signing key, `tests/data/keys/<name>.json`.
pub fn test_key(name: &str) -> tollgate_keys::mint::SigningKey {
    let path = data_dir().join("keys").join(format!("{name}.json"));
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    tollgate_keys::mint::SigningKey::from_json(&text)
        .unwrap_or_else(|e| panic!("load {}: {e}", path.display()))
}

/// The names of the interfaces a component imports (e.g. to check that a
/// module asks for nothing but `tollgate:authorizer/keys`).
pub fn component_imports(bytes: &[u8]) -> Vec<String> {
    let runtime = tollgate_host::Runtime::shared().expect("the runtime starts");
    let engine = runtime.engine();
    let component =
        wasmtime::component::Component::new(engine, bytes).expect("the component compiles");
    component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name.to_string())
        .collect()
}

/// Assert that `module` imports only the contract and Rust std's
/// stdio/environment plumbing (`wasi:cli`, `wasi:io`, which the host
/// defines as traps): nothing that could reach files, sockets, clocks,
/// randomness or HTTP. Returns the imports.
pub fn assert_sandboxed_imports(module: &[u8]) -> Vec<String> {
    let imports = component_imports(module);
    for import in &imports {
        let allowed = import.starts_with("tollgate:authorizer/")
            || import.starts_with("wasi:cli/")
            || import.starts_with("wasi:io/");
        assert!(allowed, "unexpected import {import} in {imports:?}");
    }
    imports
}

/// [`assert_sandboxed_imports`], and the module imports this host's
/// version of the keys interface (a module that verifies tokens).
pub fn assert_sandboxed_verifier(module: &[u8]) {
    let imports = assert_sandboxed_imports(module);
    assert!(
        imports.iter().any(|i| i
            == &format!(
                "tollgate:authorizer/keys@{}",
                tollgate_host::module::WIT_VERSION
            )),
        "{imports:?}"
    );
}
