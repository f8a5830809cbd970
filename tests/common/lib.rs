//! Shared helpers for the integration tests: the default module compiled once
//! per test binary, authorizers built from in-memory policies, test keys and
//! request builders.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use tollgate::model::{Request, TokenSource};
use tollgate::{Authorizer, ConfigBase, Limits, PolicyEngine};

/// The misbehaving test module (traps, loops, grows on request).
pub static MISBEHAVING_MODULE: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/misbehaving_guest.wasm"));

/// The default module, compiled once per test binary.
pub fn default_engine() -> Arc<PolicyEngine> {
    static ENGINE: OnceLock<Arc<PolicyEngine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            PolicyEngine::default_module(Limits::default()).expect("the embedded module compiles")
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
) -> Result<Authorizer, tollgate::SetupError> {
    let base = ConfigBase::Embedded(
        files
            .iter()
            .map(|(n, c)| (n.to_string(), c.clone()))
            .collect(),
    );
    Authorizer::new(default_engine(), policy, &base, "test policy")
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
