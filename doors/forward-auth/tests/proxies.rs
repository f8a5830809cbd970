//! Real proxies in front of `tollgate serve`: nginx (`auth_request`),
//! Traefik (ForwardAuth), Envoy (`ext_authz`, HTTP and gRPC), each run with
//! its config from `examples/proxies/` (only the ports replaced), on
//! 127.0.0.1, between a client and an echo upstream.
//!
//! The proxies are installed by `tests/proxies/install.sh` when missing; a
//! proxy that cannot be installed fails its test with the reason.
//!
//! For each proxy: an allowed request reaches the upstream with the claim
//! headers; identity headers a client sends never reach the upstream (on an
//! allow or on a public route); 401 and 403 reach the client with their
//! `WWW-Authenticate`; forwarding headers a client forges (`X-Original-URI`,
//! `X-Forwarded-Uri`, ...) never change the decision; with tollgate stopped
//! the client gets a 5xx and the upstream sees nothing.

#![allow(
    missing_docs,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod proxy_support;

use std::time::Duration;

use proxy_support::{Kind, Proxy, Seen, Upstream, client};
use reqwest::{RequestBuilder, Response, StatusCode};
use tollgate_forward_auth::ResourceMetadata;

/// The resource tollgate publishes RFC 9728 metadata for (nginx routes the
/// well-known path to tollgate).
const RESOURCE: &str = "http://127.0.0.1";
const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// A whole scenario's bound (each request and the proxy's start have their
/// own, shorter ones).
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(240);

/// The identity headers the test tollgate answers.
const IDENTITY: [&str; 4] = [
    "x-auth-principal",
    "x-auth-issuer",
    "x-auth-email",
    "x-auth-groups",
];

/// Identity headers a client forges, and an alias that CGI-style backends
/// read as `X-Auth-Principal` (every proxy here drops names with `_`).
const FORGED_IDENTITY: [(&str, &str); 5] = [
    ("X-Auth-Principal", "admin"),
    ("X-Auth-Issuer", "https://evil.example"),
    ("X-Auth-Email", "admin@evil.example"),
    ("X-Auth-Groups", "admins"),
    ("X_Auth_Principal", "admin"),
];

/// No header reached the upstream under an alias of an identity header.
fn assert_no_alias(what: &str, seen: &Seen) {
    for (name, value) in &seen.headers {
        let normalized = name.to_ascii_lowercase().replace(['_', '.'], "-");
        assert!(
            !IDENTITY.contains(&normalized.as_str()) || IDENTITY.contains(&name.as_str()),
            "{what}: the alias {name}: {value} reached the upstream: {seen:#?}"
        );
    }
}

/// Forwarding headers a client forges to make a denied request look like a
/// public one, sent to every proxy (each dialect's, and some twice: a proxy
/// that passed a client's copy beside its own would make tollgate refuse the
/// repeated header with a 400, a 5xx to the client).
const FORGED_FORWARDING: &[(&str, &str)] = &[
    // nginx dialect
    ("X-Original-URI", "/public/x"),
    ("X-Original-Method", "GET"),
    ("X-Original-Host", "public.example"),
    ("X-Real-IP", "10.9.9.9"),
    ("X-Real-IP", "10.9.9.8"),
    // Traefik dialect
    ("X-Forwarded-Uri", "/public/x"),
    ("X-Forwarded-Method", "GET"),
    ("X-Forwarded-Host", "public.example"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-For", "10.9.9.9"),
    // Envoy
    ("X-Envoy-Original-Path", "/public/x"),
    ("X-Forwarded-Prefix", "/public"),
];

fn forge(mut request: RequestBuilder, headers: &[(&str, &str)]) -> RequestBuilder {
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
}

async fn send(
    what: &str,
    request: RequestBuilder,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let response: Response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{what}: no answer through the proxy: {e}"));
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.text().await.unwrap_or_default();
    (status, headers, body)
}

/// The `WWW-Authenticate` challenges of an answer.
fn challenges(what: &str, headers: &reqwest::header::HeaderMap) -> Vec<String> {
    let values: Vec<String> = headers
        .get_all("www-authenticate")
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    assert_eq!(
        values.len(),
        1,
        "{what}: exactly one WWW-Authenticate expected, got {values:?} (headers {headers:?})"
    );
    values
}

/// A denial's body is tollgate's JSON (nginx answers its own error page).
fn assert_tollgate_body(kind: Kind, what: &str, headers: &reqwest::header::HeaderMap, body: &str) {
    if kind == Kind::Nginx {
        return;
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "{what}: tollgate's content-type expected, got {content_type:?}"
    );
    let json: serde_json::Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("{what}: tollgate's JSON body expected ({e}): {body}"));
    assert!(json["error"].is_string(), "{what}: {json}");
}

/// The upstream got the identity of `alice`, and none of the forged values.
fn assert_alice(what: &str, seen: &Seen) {
    assert_eq!(
        seen.values("x-auth-principal"),
        ["alice"],
        "{what}: {seen:#?}"
    );
    assert_eq!(
        seen.values("x-auth-email"),
        ["alice@example.com"],
        "{what}: {seen:#?}"
    );
    assert_eq!(
        seen.values("x-auth-groups"),
        ["staff,ops"],
        "{what}: {seen:#?}"
    );
    assert_no_alias(what, seen);
    let issuer = seen.values("x-auth-issuer");
    assert_eq!(
        issuer.len(),
        1,
        "{what}: one x-auth-issuer expected: {seen:#?}"
    );
    assert!(
        !issuer[0].is_empty() && issuer[0] != "https://evil.example",
        "{what}: x-auth-issuer should be tollgate's: {seen:#?}"
    );
}

/// The upstream got no identity: each identity header absent or empty, never
/// the client's.
fn assert_anonymous(what: &str, seen: &Seen) {
    assert_no_alias(what, seen);
    for name in IDENTITY {
        let values = seen.values(name);
        assert!(
            values.len() <= 1 && values.iter().all(|v| v.is_empty()),
            "{what}: {name} must be absent or empty, got {values:?}: {seen:#?}"
        );
    }
}

async fn exercise(kind: Kind) {
    let name = kind.name();
    // Install first (blocking, once per binary), before any server runs.
    proxy_support::tools();
    let tollgate = common::start_tollgate_with(|settings| {
        settings.resource = Some(
            ResourceMetadata::new(RESOURCE, Vec::new(), vec!["orders.read".into()])
                .expect("resource metadata"),
        );
    })
    .await;
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(kind, tollgate.addrs(), &upstream).await;
    let http = client();
    let alice = tollgate.token("alice", "orders.read");

    // An allowed request reaches the upstream, as sent, with the claims; the
    // identity headers the client sent are replaced.
    let what = format!("{name}: GET /orders/1?page=2 as alice with forged identity headers");
    let request = forge(
        http.get(proxy.url("/orders/1?page=2")).bearer_auth(&alice),
        &FORGED_IDENTITY,
    );
    let (status, _, body) = send(&what, request).await;
    assert_eq!(status, 200, "{what}: {body}");
    let seen = upstream.take_one(&what);
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("GET", "/orders/1?page=2"),
        "{what}"
    );
    assert_alice(&what, &seen);

    // Another method is decided and forwarded as sent.
    let what = format!("{name}: POST /orders/1 as alice with forged forwarding headers");
    let request = forge(http.post(proxy.url("/orders/1")), FORGED_FORWARDING)
        .bearer_auth(&alice)
        .header("content-type", "application/json")
        .body(r#"{"qty":1}"#);
    let (status, _, body) = send(&what, request).await;
    assert_eq!(status, 200, "{what}: {body}");
    let seen = upstream.take_one(&what);
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("POST", "/orders/1"),
        "{what}"
    );
    assert_eq!(
        seen.body, r#"{"qty":1}"#,
        "{what}: the body reaches the upstream"
    );
    assert_alice(&what, &seen);

    // A public route without a token: allowed, and the client's identity
    // headers do not reach the upstream.
    let what = format!("{name}: GET /public/x without a token, with forged identity headers");
    let request = forge(http.get(proxy.url("/public/x")), &FORGED_IDENTITY);
    let (status, _, body) = send(&what, request).await;
    assert_eq!(status, 200, "{what}: {body}");
    let seen = upstream.take_one(&what);
    assert_eq!(seen.path, "/public/x", "{what}");
    assert_anonymous(&what, &seen);

    // No token: 401 with a bare Bearer challenge.
    let what = format!("{name}: GET /orders/1 without a token");
    let request = forge(http.get(proxy.url("/orders/1")), &FORGED_IDENTITY);
    let (status, headers, body) = send(&what, request).await;
    assert_eq!(status, 401, "{what}: {body}");
    let challenge = challenges(&what, &headers).remove(0);
    assert!(challenge.starts_with("Bearer"), "{what}: {challenge}");
    assert!(
        !challenge.contains("error="),
        "{what}: no error attribute without a token: {challenge}"
    );
    assert_tollgate_body(kind, &what, &headers, &body);
    upstream.assert_saw_nothing(&what);

    // A garbage token: 401 invalid_token.
    let what = format!("{name}: GET /orders/1 with a garbage token");
    let request = http.get(proxy.url("/orders/1")).bearer_auth("not.a.jwt");
    let (status, headers, body) = send(&what, request).await;
    assert_eq!(status, 401, "{what}: {body}");
    let challenge = challenges(&what, &headers).remove(0);
    assert!(challenge.starts_with("Bearer"), "{what}: {challenge}");
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{what}: {challenge}"
    );
    upstream.assert_saw_nothing(&what);

    // A valid token without the route's scope: 403 with its challenge.
    let what = format!("{name}: GET /admin/x as alice (no admin scope)");
    let request = http.get(proxy.url("/admin/x")).bearer_auth(&alice);
    let (status, headers, body) = send(&what, request).await;
    assert_eq!(status, 403, "{what}: {body}");
    let challenge = challenges(&what, &headers).remove(0);
    assert!(challenge.starts_with("Bearer"), "{what}: {challenge}");
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{what}: {challenge}"
    );
    assert!(
        challenge.contains(r#"scope="admin""#),
        "{what}: {challenge}"
    );
    assert_tollgate_body(kind, &what, &headers, &body);
    upstream.assert_saw_nothing(&what);

    // Forged forwarding headers pointing at a public route change nothing.
    let what = format!("{name}: GET /admin/x as alice with forged forwarding headers");
    let request = forge(
        http.get(proxy.url("/admin/x")).bearer_auth(&alice),
        FORGED_FORWARDING,
    );
    let (status, headers, body) = send(&what, request).await;
    assert_eq!(status, 403, "{what}: {body}");
    let challenge = challenges(&what, &headers).remove(0);
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{what}: {challenge}"
    );
    upstream.assert_saw_nothing(&what);

    let what = format!("{name}: DELETE /orders/1 without a token, with forged forwarding headers");
    let request = forge(http.delete(proxy.url("/orders/1")), FORGED_FORWARDING);
    let (status, _, body) = send(&what, request).await;
    assert_eq!(status, 401, "{what}: {body}");
    upstream.assert_saw_nothing(&what);

    if kind == Kind::Nginx {
        // The protected-resource metadata comes from tollgate, undecided.
        let what = format!("{name}: GET {WELL_KNOWN}");
        let (status, _, body) = send(&what, http.get(proxy.url(WELL_KNOWN))).await;
        assert_eq!(status, 200, "{what}: {body}");
        let metadata: serde_json::Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {body}"));
        // RFC 9728 §3.3: exactly the identifier configured.
        assert_eq!(metadata["resource"], RESOURCE, "{what}: {metadata}");
        upstream.assert_saw_nothing(&what);
    }

    // tollgate stopped: a 5xx, never a pass.
    tollgate.stop().await;
    for (path, token) in [("/orders/1", Some(&alice)), ("/public/x", None)] {
        let what = format!("{name}: GET {path} with tollgate stopped");
        let mut request = http.get(proxy.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let (status, _, body) = send(&what, request).await;
        eprintln!("{what}: {status}");
        assert!(
            status.is_server_error(),
            "{what}: a 5xx expected, got {status}: {body}"
        );
        upstream.assert_saw_nothing(&what);
    }

    proxy.stop();
}

// One test per proxy, each `exercise(kind)` within SCENARIO_TIMEOUT.
proxy_tests!(exercise, SCENARIO_TIMEOUT);
