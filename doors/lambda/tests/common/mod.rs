//! Shared test helpers: the committed test keys, a scratch policy, the
//! published sample events with real tokens put in, the handler's state,
//! child processes that die with the test, and the Python tools (a
//! virtual environment under the target dir, installed once).

#![allow(dead_code)]

pub mod runtime;
pub mod tools;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde_json::{Value, json};
use tollgate_host::{Gate, PolicyModule, SandboxLimits};
use tollgate_keys::mint::SigningKey;
use tollgate_lambda::{LambdaSettings, State};

/// The issuer of the test policy.
pub const ISSUER: &str = "https://issuer.example";
/// Its audience.
pub const AUDIENCE: &str = "orders-api";

/// The test policy: RS256/ES256/EdDSA keys from `jwks.json`, scope
/// `orders.read` required (a token without it is a 403), context claims of
/// every JSON type.
pub const POLICY: &str = r#"
[[issuer]]
issuer = "https://issuer.example"
jwks_file = "jwks.json"
algorithms = ["RS256", "ES256", "EdDSA"]
audiences = ["orders-api"]
required_scopes = ["orders.read"]
context_claims = ["email", "groups", "n", "verified", "nothing", "profile", "api_key"]
leeway_seconds = 0
"#;

/// The lambda crate's folder.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A committed test key (`tests/data/keys/<name>.json`).
pub fn key(name: &str) -> SigningKey {
    let path = crate_dir()
        .join("../../tests/data/keys")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    SigningKey::from_json(&text).expect("a valid test key")
}

/// The trusted keys' public JWK Set.
pub fn jwks() -> Value {
    let keys: Vec<Value> = ["rsa-1", "ec-1", "ed-1"]
        .iter()
        .map(|name| key(name).public_jwk())
        .collect();
    json!({ "keys": keys })
}

/// Unix time now.
pub fn now() -> i64 {
    tollgate_host::clock::unix_now()
}

/// Claims the test policy accepts, valid for 5 minutes from `now`.
pub fn good_claims(now: i64) -> Value {
    json!({
        "iss": ISSUER,
        "sub": "alice",
        "aud": AUDIENCE,
        "scope": "orders.read orders.write",
        "iat": now,
        "exp": now + 300,
        "email": "alice@example.com",
        "groups": ["readers", "writers"],
        "n": 42,
        "verified": true,
        "nothing": null,
        "profile": {"team": "blue", "level": 3},
        "api_key": "usage-key-alice",
    })
}

/// A token signed by the committed key `key_name` over `claims`.
pub fn mint(key_name: &str, claims: &Value) -> String {
    key(key_name).sign_jwt(claims, None).expect("sign")
}

/// A valid ES256 token for alice.
pub fn good_token() -> String {
    mint("ec-1", &good_claims(now()))
}

/// A unique scratch folder, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// `<CARGO_TARGET_TMPDIR>/lambda-<label>-<pid>-<n>`.
    pub fn new(label: &str) -> Self {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("lambda-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch(dir)
    }

    /// A path inside.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Write the test policy and its JWK Set into `dir`; returns the policy path.
pub fn write_policy(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("jwks.json"), jwks().to_string()).expect("write jwks");
    let path = dir.join("policy.toml");
    std::fs::write(&path, POLICY).expect("write policy");
    path
}

/// The embedded module, compiled once per test binary.
pub fn module() -> Arc<PolicyModule> {
    static ENGINE: OnceLock<Arc<PolicyModule>> = OnceLock::new();
    ENGINE
        .get_or_init(|| PolicyModule::default_module(SandboxLimits::default()).expect("compile"))
        .clone()
}

/// A handler state on the test policy with `settings`, built as at init
/// (the token cache on unless `settings` turn it off).
pub fn state(settings: LambdaSettings) -> State {
    let scratch = Scratch::new("state");
    let path = write_policy(&scratch.0);
    let gate = block_on(Gate::from_config_file(
        module(),
        &path,
        tollgate_host::jwks::KeyFetchSettings::lambda(),
    ))
    .expect("policy loads");
    State::new(gate, settings)
}

/// Run a future to completion on a fresh current-thread runtime.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

/// A published sample event (`tests/fixtures/<name>`).
pub fn fixture(name: &str) -> Value {
    let path = crate_dir().join("tests/fixtures").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The REST API TOKEN sample with `token` as its `authorizationToken`.
pub fn token_event(token: &str) -> Value {
    let mut event = fixture("example-apigw-custom-auth-request.json");
    event["authorizationToken"] = json!(token);
    event
}

/// The REST API REQUEST sample carrying `Authorization: <value>`.
pub fn rest_request_event(authorization: &str) -> Value {
    let mut event = fixture("example-apigw-custom-auth-request-type-request.json");
    event["headers"]["Authorization"] = json!(authorization);
    event["multiValueHeaders"]["Authorization"] = json!([authorization]);
    event
}

/// The HTTP API payload 1.0 sample whose identity source (the
/// Authorization header) is `authorization`.
pub fn http_v1_event(authorization: &str) -> Value {
    let mut event = fixture("example-apigw-v2-custom-authorizer-v1-request.json");
    event["identitySource"] = json!(authorization);
    event["authorizationToken"] = json!(authorization);
    event["headers"]["Authorization"] = json!(authorization);
    event
}

/// The HTTP API payload 2.0 sample whose identity source (the
/// Authorization header) is `authorization`.
pub fn http_v2_event(authorization: &str) -> Value {
    let mut event = fixture("example-apigw-v2-custom-authorizer-v2-request.json");
    event["identitySource"] = json!([authorization]);
    event["headers"]["authorization"] = json!(authorization);
    event
}

/// `event` without its `Authorization` header (any spelling): the
/// credential then comes only from the identity sources.
pub fn without_authorization(mut event: Value) -> Value {
    if let Some(headers) = event["headers"].as_object_mut() {
        headers.retain(|name, _| !name.eq_ignore_ascii_case("authorization"));
    }
    event
}

/// The four formats as (name, event) for one `Authorization` value.
pub fn all_formats(authorization: &str) -> Vec<(&'static str, Value)> {
    vec![
        ("rest-token", token_event(authorization)),
        ("rest-request", rest_request_event(authorization)),
        ("http-1.0", http_v1_event(authorization)),
        ("http-2.0", http_v2_event(authorization)),
    ]
}

/// The context every allow of [`good_claims`] carries.
pub fn expected_context() -> Value {
    json!({
        "email": "alice@example.com",
        "groups": "[\"readers\",\"writers\"]",
        "n": 42,
        "verified": true,
        "profile": "{\"level\":3,\"team\":\"blue\"}",
        "api_key": "usage-key-alice",
    })
}

/// A child process killed (and reaped) when dropped.
pub struct ChildGuard {
    /// The child.
    pub child: std::process::Child,
    /// For messages.
    pub name: String,
}

impl ChildGuard {
    /// Spawn `command`, or panic naming `name`.
    pub fn spawn(name: &str, command: &mut std::process::Command) -> Self {
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        ChildGuard {
            child,
            name: name.to_string(),
        }
    }

    /// Panic if the child has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited early: {status}", self.name);
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// Wait (at most `timeout`) until 127.0.0.1:`port` accepts connections.
pub fn wait_for_port(port: u16, timeout: std::time::Duration, guard: &mut ChildGuard) {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        guard.assert_running();
        assert!(
            std::time::Instant::now() < deadline,
            "{} did not listen on 127.0.0.1:{port} within {timeout:?}",
            guard.name
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
