//! `tollgate demo`: the embedded default module and a built-in demo key mint
//! tokens and decide sample requests, printing each decision. Nothing to
//! write first.

use std::time::Instant;

use serde_json::{Value, json};
use tollgate_keys::Algorithm;
use tollgate_keys::mint::SigningKey;

use tollgate_host::clock::unix_now;
use tollgate_host::model::{Request, TokenSource};
use tollgate_host::{Authorizer, ConfigBase, PolicyModule, SandboxLimits};

use crate::CliError;
use crate::output::decision_json;

/// The demo policy document.
pub const DEMO_POLICY: &str = include_str!("demo/policy.toml");
/// The built-in demo signing key (public knowledge: demo only).
pub const DEMO_KEY: &str = include_str!("demo/demo-key.json");
/// The demo issuer.
pub const DEMO_ISSUER: &str = "https://issuer.demo.tollgate.invalid";

/// The demo key and an authorizer trusting it, on the embedded module.
pub fn demo_authorizer() -> Result<(SigningKey, Authorizer), CliError> {
    let key = SigningKey::from_json(DEMO_KEY)?;
    let jwks = serde_json::to_string(&key.jwks()).unwrap_or_default();
    let module = PolicyModule::default_module(SandboxLimits::default())?;
    let base = ConfigBase::Embedded(vec![("demo-jwks.json".into(), jwks)]);
    let authorizer = Authorizer::new(module, DEMO_POLICY, &base, "the built-in demo policy")?;
    Ok((key, authorizer))
}

/// The demo's claims as of `now` (alice, `orders-api`, scopes `orders.read
/// orders.write`, five minutes), with `extra` on top (`null` removes one).
pub fn demo_claims(now: i64, extra: &Value) -> Value {
    let mut base = json!({
        "iss": DEMO_ISSUER, "sub": "alice", "aud": "orders-api",
        "email": "alice@example.com", "scope": "orders.read orders.write",
        "iat": now, "exp": now + 300,
    });
    if let (Some(base), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            if v.is_null() {
                base.remove(k);
            } else {
                base.insert(k.clone(), v.clone());
            }
        }
    }
    base
}

/// Run the demo, printing to stdout.
pub fn run() -> Result<(), CliError> {
    let started = Instant::now();
    let (key, authorizer) = demo_authorizer()?;
    let setup = started.elapsed();
    let now = unix_now();
    let claims = |extra: Value| demo_claims(now, &extra);
    let good = key.sign_jwt(&claims(json!({})), None)?;
    let attacker = SigningKey::generate(Algorithm::Es256, key.kid())?;
    let tampered = {
        let parts: Vec<&str> = good.split('.').collect();
        let forged = key.sign_jwt(&claims(json!({"sub": "mallory"})), None)?;
        let forged_payload = forged.split('.').nth(1).unwrap_or_default().to_string();
        format!(
            "{}.{}.{}",
            parts.first().copied().unwrap_or_default(),
            forged_payload,
            parts.get(2).copied().unwrap_or_default()
        )
    };
    let cases: Vec<(&str, Vec<TokenSource>)> = vec![
        ("valid token", vec![bearer(&good)]),
        ("no credential", vec![]),
        (
            "Basic credentials",
            vec![TokenSource::AuthorizationHeader(
                "Basic YWxpY2U6c2VjcmV0".into(),
            )],
        ),
        (
            "expired an hour ago",
            vec![bearer(&key.sign_jwt(
                &claims(json!({"iat": now - 7200, "exp": now - 3600})),
                None,
            )?)],
        ),
        (
            "for another API",
            vec![bearer(
                &key.sign_jwt(&claims(json!({"aud": "billing-api"})), None)?,
            )],
        ),
        ("payload tampered (sub=mallory)", vec![bearer(&tampered)]),
        (
            "signed by an attacker's key, same kid",
            vec![bearer(&attacker.sign_jwt(&claims(json!({})), None)?)],
        ),
        ("alg: none", vec![bearer(&unsigned(&claims(json!({}))))]),
        (
            "valid, but lacks scope orders.read",
            vec![bearer(
                &key.sign_jwt(&claims(json!({"scope": "profile"})), None)?,
            )],
        ),
        (
            "two Authorization headers",
            vec![bearer(&good), bearer(&good)],
        ),
    ];

    println!(
        "tollgate demo: the embedded policy module, a built-in ES256 demo key (kid {:?})",
        key.kid()
    );
    println!("policy:\n{}", indent(DEMO_POLICY));
    println!(
        "module compiled and configured in {:.1} ms\n",
        setup.as_secs_f64() * 1e3
    );
    for (label, sources) in &cases {
        let request = Request {
            token_sources: sources.clone(),
            method: "GET".into(),
            path: "/orders/42".into(),
            now,
            ..Request::default()
        };
        let decision = authorizer.authorize(&request);
        let shown = decision_json(&decision);
        let verdict = if shown.get("allow") == Some(&json!(true)) {
            "ALLOW"
        } else {
            "DENY "
        };
        println!("{verdict} {:<40} {}", label, shown);
    }

    let request = Request {
        token_sources: vec![bearer(&good)],
        method: "GET".into(),
        path: "/orders/42".into(),
        now,
        ..Request::default()
    };
    let rounds = 2000u32;
    let timer = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(authorizer.authorize(&request));
    }
    let per = timer.elapsed() / rounds;
    println!(
        "\n{rounds} warm decisions of the valid token: {:.1} µs each (signature checked natively, policy in wasm)",
        per.as_secs_f64() * 1e6
    );
    Ok(())
}

fn bearer(token: &str) -> TokenSource {
    TokenSource::AuthorizationHeader(format!("Bearer {token}"))
}

/// An `alg: none` token, as an attacker would send it.
fn unsigned(claims: &Value) -> String {
    use base64::Engine as _;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(claims)
    )
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
