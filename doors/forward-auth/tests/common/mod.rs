//! A `tollgate serve` in-process for tests: the embedded default module,
//! a throwaway ES256 key, every listener on 127.0.0.1:0, and this policy:
//! `/public/*` public, `/admin/*` needs scope `admin`, any other route any
//! valid token; `email` and `groups` forwarded as identity headers
//! ([`start_tollgate_with_policy`] decides by another policy).

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::sync::Arc;

use serde_json::{Value, json};
use tollgate_forward_auth::{IdentityHeaders, Listen, ServeSettings, Server};
use tollgate_host::jwks::KeyFetchSettings;
use tollgate_host::{ConfigBase, Gate, PolicyModule, SandboxLimits, TokenCacheSettings};
use tollgate_keys::Algorithm;
use tollgate_keys::mint::SigningKey;

pub const ISSUER: &str = "https://issuer.test.tollgate.invalid";
pub const AUDIENCE: &str = "orders-api";

/// The `[[issuer]]` section every test policy starts with: [`ISSUER`], its
/// keys in `jwks.json`, [`AUDIENCE`], ES256. A macro, so that policies can
/// be `concat!`ed constants.
#[macro_export]
macro_rules! issuer_section {
    () => {
        r#"
[[issuer]]
issuer = "https://issuer.test.tollgate.invalid"
jwks_file = "jwks.json"
audiences = ["orders-api"]
algorithms = ["ES256"]
context_claims = ["email", "groups"]
"#
    };
}

pub const POLICY: &str = concat!(
    issuer_section!(),
    r#"
[routes]
default = "authenticated"
groups_claim = "groups"

[[route]]
path = "/public/*"
public = true

[[route]]
path = "/admin/*"
scopes = ["admin"]
"#
);

pub struct TestTollgate {
    pub server: Server,
    pub key: SigningKey,
    /// The live gate the server decides with (tests swap bundles through it).
    pub live: Arc<tollgate_host::live::LiveGate>,
}

/// Every listener on 127.0.0.1:0, the token cache on.
pub async fn start_tollgate() -> TestTollgate {
    start_tollgate_with(|_| {}).await
}

/// [`start_tollgate`] with settings adjusted by `adjust`.
pub async fn start_tollgate_with(adjust: impl FnOnce(&mut ServeSettings)) -> TestTollgate {
    start_tollgate_with_policy(POLICY, adjust).await
}

/// [`start_tollgate_with`] deciding by `policy` (a policy document like
/// [`POLICY`], its issuer's keys in `jwks.json`) instead of [`POLICY`].
pub async fn start_tollgate_with_policy(
    policy: &str,
    adjust: impl FnOnce(&mut ServeSettings),
) -> TestTollgate {
    let key = SigningKey::generate(Algorithm::Es256, "test-1").expect("key");
    let jwks = key.jwks().to_string();
    let module = PolicyModule::default_module(SandboxLimits::default()).expect("module");
    let base = ConfigBase::Embedded(vec![("jwks.json".into(), jwks)]);
    let gate = Gate::new(
        module,
        policy,
        &base,
        "test policy",
        KeyFetchSettings::default(),
    )
    .await
    .expect("gate")
    .with_token_cache(TokenCacheSettings::default());
    let info =
        tollgate_host::live::BundleInfo::deployed(gate.authorizer().module_digest().to_string());
    let live = Arc::new(tollgate_host::live::LiveGate::new(gate, info));
    let any = "127.0.0.1:0".parse().ok();
    let mut settings = ServeSettings {
        listen: Listen {
            nginx: any,
            traefik: any,
            envoy_http: any,
            envoy_grpc: any,
            admin: any,
        },
        identity: IdentityHeaders::new("x-auth-", &["email".into(), "groups".into()])
            .expect("headers"),
        ..ServeSettings::default()
    };
    adjust(&mut settings);
    let server = Server::start_live(live.clone(), settings)
        .await
        .expect("server starts");
    TestTollgate { server, key, live }
}

impl TestTollgate {
    pub fn addrs(&self) -> &Listen {
        self.server.addrs()
    }

    /// A valid token for `sub` with `scope`: ES256, right iss/aud, 10
    /// minutes, email `<sub>@example.com`, groups staff and ops.
    pub fn token(&self, sub: &str, scope: &str) -> String {
        self.token_with(json!({ "sub": sub, "scope": scope }))
    }

    /// A valid token with `claims` over the defaults (`null` removes one).
    pub fn token_with(&self, claims: Value) -> String {
        let now = tollgate_host::clock::unix_now();
        let mut all = json!({
            "iss": ISSUER, "aud": AUDIENCE, "sub": "alice",
            "email": "alice@example.com", "groups": ["staff", "ops"],
            "iat": now, "exp": now + 600,
        });
        if let Some(sub) = claims.get("sub").and_then(Value::as_str) {
            all["email"] = json!(format!("{sub}@example.com"));
        }
        for (name, value) in claims.as_object().expect("claims object") {
            if value.is_null() {
                all.as_object_mut().expect("object").remove(name);
            } else {
                all[name] = value.clone();
            }
        }
        self.key.sign_jwt(&all, None).expect("sign")
    }

    /// Graceful shutdown; the listeners are closed when it returns.
    pub async fn stop(self) {
        self.server.shutdown().await;
    }
}
