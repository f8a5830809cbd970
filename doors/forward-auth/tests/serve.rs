//! `tollgate serve` answered directly, each dialect on its own listener
//! (the same server behind the real proxies: tests/proxies.rs).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;

use std::net::SocketAddr;

use common::{ISSUER, TestTollgate, start_tollgate, start_tollgate_with};
use envoy_types::ext_authz::v3::pb::{CheckRequest, HttpResponse};
use envoy_types::pb::envoy::service::auth::v3::AttributeContext;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use reqwest::{Client, StatusCode};
use tollgate_forward_auth::ResourceMetadata;

fn client() -> Client {
    Client::builder().no_proxy().build().expect("client")
}

async fn nginx(
    tollgate: &TestTollgate,
    method: &str,
    uri: &str,
    token: Option<&str>,
) -> reqwest::Response {
    let mut request = client()
        .get(format!("http://{}/auth", tollgate.addrs().nginx.unwrap()))
        .header("x-original-method", method)
        .header("x-original-uri", uri);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request.send().await.expect("answer")
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().expect("text"))
}

#[tokio::test]
async fn nginx_dialect_answers_allow_401_403_and_public() {
    let tollgate = start_tollgate().await;
    let token = tollgate.token("alice", "orders.read");

    let allowed = nginx(&tollgate, "GET", "/orders/1?x=1", Some(&token)).await;
    assert_eq!(allowed.status(), StatusCode::OK);
    assert_eq!(header(&allowed, "x-auth-principal"), Some("alice"));
    assert_eq!(header(&allowed, "x-auth-issuer"), Some(ISSUER));
    assert_eq!(header(&allowed, "x-auth-email"), Some("alice@example.com"));
    assert_eq!(header(&allowed, "x-auth-groups"), Some("staff,ops"));
    assert_eq!(header(&allowed, "cache-control"), Some("no-store"));

    let anonymous = nginx(&tollgate, "GET", "/orders/1", None).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&anonymous, "www-authenticate"), Some("Bearer"));

    let garbage = nginx(&tollgate, "GET", "/orders/1", Some("not.a.jwt")).await;
    assert_eq!(garbage.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        header(&garbage, "www-authenticate"),
        Some(
            r#"Bearer error="invalid_token", error_description="the token is not a well-formed JWT""#
        )
    );

    let forbidden = nginx(&tollgate, "DELETE", "/admin/users", Some(&token)).await;
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    let challenge = header(&forbidden, "www-authenticate").expect("challenge");
    assert!(
        challenge.starts_with(r#"Bearer error="insufficient_scope""#),
        "{challenge}"
    );
    assert!(challenge.ends_with(r#"scope="admin""#), "{challenge}");

    let public = nginx(&tollgate, "GET", "/public/info", None).await;
    assert_eq!(public.status(), StatusCode::OK);
    for name in [
        "x-auth-principal",
        "x-auth-issuer",
        "x-auth-email",
        "x-auth-groups",
    ] {
        assert_eq!(header(&public, name), Some(""), "{name}");
    }
    tollgate.stop().await;
}

#[tokio::test]
async fn a_missing_or_repeated_forwarding_header_is_a_400_never_a_guess() {
    let tollgate = start_tollgate().await;
    let token = tollgate.token("alice", "admin");
    let url = format!("http://{}/auth", tollgate.addrs().nginx.unwrap());
    let missing = client()
        .get(&url)
        .header("x-original-method", "GET")
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    let repeated = client()
        .get(&url)
        .header("x-original-method", "GET")
        .header("x-original-uri", "/admin/x")
        .header("x-original-uri", "/public/x")
        .send()
        .await
        .unwrap();
    assert_eq!(repeated.status(), StatusCode::BAD_REQUEST);
    let body = repeated.text().await.unwrap();
    assert!(body.contains("x-original-uri is repeated"), "{body}");

    // Traefik's listener reads only Traefik's headers, and needs the host.
    let traefik = format!("http://{}/auth", tollgate.addrs().traefik.unwrap());
    let nginx_style = client()
        .get(&traefik)
        .header("x-original-method", "GET")
        .header("x-original-uri", "/orders/1")
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(nginx_style.status(), StatusCode::BAD_REQUEST);
    let full = client()
        .get(&traefik)
        .header("x-forwarded-method", "GET")
        .header("x-forwarded-uri", "/orders/1")
        .header("x-forwarded-host", "api.example.com")
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(full.status(), StatusCode::OK);
    tollgate.stop().await;
}

#[tokio::test]
async fn envoy_http_reads_the_route_behind_its_prefix() {
    let tollgate = start_tollgate().await;
    let token = tollgate.token("bob", "orders.read");
    let base = format!("http://{}", tollgate.addrs().envoy_http.unwrap());
    let allowed = client()
        .post(format!("{base}/ext-authz/orders/2"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);
    assert_eq!(header(&allowed, "x-auth-principal"), Some("bob"));
    // A forged forwarding header does not move the route off /admin.
    let forged = client()
        .get(format!("{base}/ext-authz/admin/x"))
        .header("authorization", format!("Bearer {token}"))
        .header("x-original-uri", "/public/x")
        .header("x-forwarded-uri", "/public/x")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let outside = client()
        .get(format!("{base}/orders/2"))
        .send()
        .await
        .unwrap();
    assert_eq!(outside.status(), StatusCode::BAD_REQUEST);
    tollgate.stop().await;
}

fn check(method: &str, path: &str, headers: &[(&str, &str)]) -> CheckRequest {
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                http: Some(HttpRequest {
                    method: method.into(),
                    path: path.into(),
                    host: "api.example.com".into(),
                    headers: headers
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                    ..HttpRequest::default()
                }),
                ..Request::default()
            }),
            ..AttributeContext::default()
        }),
    }
}

async fn grpc(addr: SocketAddr) -> AuthorizationClient<tonic::transport::Channel> {
    AuthorizationClient::connect(format!("http://{addr}"))
        .await
        .expect("grpc connects")
}

#[tokio::test]
async fn envoy_grpc_answers_ok_with_overwritten_headers_or_denied_with_a_challenge() {
    let tollgate = start_tollgate().await;
    let token = tollgate.token("carol", "orders.read");
    let bearer = format!("Bearer {token}");
    let mut client = grpc(tollgate.addrs().envoy_grpc.unwrap()).await;

    let ok = client
        .check(check("GET", "/orders/9?x=y", &[("authorization", &bearer)]))
        .await
        .expect("check")
        .into_inner();
    assert_eq!(ok.status.as_ref().map(|s| s.code), Some(0));
    let Some(HttpResponse::OkResponse(ok)) = ok.http_response else {
        panic!("an OK response");
    };
    let headers: Vec<(String, String, i32)> = ok
        .headers
        .iter()
        .map(|h| {
            let header = h.header.as_ref().unwrap();
            (header.key.clone(), header.value.clone(), h.append_action)
        })
        .collect();
    let overwrite =
        envoy_types::ext_authz::v3::pb::HeaderAppendAction::OverwriteIfExistsOrAdd as i32;
    assert!(
        headers.contains(&("x-auth-principal".into(), "carol".into(), overwrite)),
        "{headers:?}"
    );
    assert!(
        headers.contains(&("x-auth-groups".into(), "staff,ops".into(), overwrite)),
        "{headers:?}"
    );
    assert!(ok.headers.iter().all(|h| h.keep_empty_value));

    let denied = client
        .check(check("GET", "/orders/9", &[]))
        .await
        .expect("check")
        .into_inner();
    assert_eq!(
        denied.status.as_ref().map(|s| s.code),
        Some(tonic::Code::Unauthenticated as i32)
    );
    let Some(HttpResponse::DeniedResponse(denied)) = denied.http_response else {
        panic!("a denied response");
    };
    assert_eq!(denied.status.map(|s| s.code), Some(401));
    let challenge = denied
        .headers
        .iter()
        .filter_map(|h| h.header.as_ref())
        .find(|h| h.key == "www-authenticate")
        .map(|h| h.value.clone());
    assert_eq!(challenge.as_deref(), Some("Bearer"));

    let scope = client
        .check(check("GET", "/admin/x", &[("authorization", &bearer)]))
        .await
        .expect("check")
        .into_inner();
    let Some(HttpResponse::DeniedResponse(scope)) = scope.http_response else {
        panic!("a denied response");
    };
    assert_eq!(scope.status.map(|s| s.code), Some(403));

    let no_attributes = client
        .check(CheckRequest::default())
        .await
        .expect("check")
        .into_inner();
    let Some(HttpResponse::DeniedResponse(bad)) = no_attributes.http_response else {
        panic!("a denied response");
    };
    assert_eq!(bad.status.map(|s| s.code), Some(400));
    tollgate.stop().await;
}

#[tokio::test]
async fn protected_resource_metadata_is_served_and_named_in_challenges() {
    let tollgate = start_tollgate_with(|settings| {
        settings.resource = Some(
            ResourceMetadata::new(
                "https://api.example.com/orders",
                Vec::new(),
                vec!["orders.read".into(), "admin".into()],
            )
            .expect("resource"),
        );
    })
    .await;
    let metadata_url = "https://api.example.com/.well-known/oauth-protected-resource/orders";
    let anonymous = nginx(&tollgate, "GET", "/orders/1", None).await;
    assert_eq!(
        header(&anonymous, "www-authenticate"),
        Some(format!(r#"Bearer resource_metadata="{metadata_url}""#).as_str())
    );
    let base = format!("http://{}", tollgate.addrs().nginx.unwrap());
    let document: serde_json::Value = client()
        .get(format!(
            "{base}/.well-known/oauth-protected-resource/orders"
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .map(|text| serde_json::from_str(&text).expect("json"))
        .unwrap();
    assert_eq!(document["resource"], "https://api.example.com/orders");
    assert_eq!(
        document["authorization_servers"],
        serde_json::json!([ISSUER])
    );
    assert_eq!(
        document["scopes_supported"],
        serde_json::json!(["orders.read", "admin"])
    );
    let other = client()
        .get(format!("{base}/.well-known/oauth-protected-resource/else"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    tollgate.stop().await;
}

#[tokio::test]
async fn admin_reports_health_readiness_and_metrics_on_its_own_port() {
    let tollgate = start_tollgate().await;
    let token = tollgate.token("dave", "orders.read");
    for _ in 0..3 {
        assert_eq!(
            nginx(&tollgate, "GET", "/orders/1", Some(&token))
                .await
                .status(),
            StatusCode::OK
        );
    }
    assert_eq!(
        nginx(&tollgate, "GET", "/orders/1", None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let admin = format!("http://{}", tollgate.addrs().admin.unwrap());
    let health: serde_json::Value = client()
        .get(format!("{admin}/healthz"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .map(|text| serde_json::from_str(&text).expect("json"))
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["module_digest"].as_str().map(str::len), Some(64));
    assert_eq!(health["token_cache"]["hits"], 2);
    let ready = client()
        .get(format!("{admin}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let metrics = client()
        .get(format!("{admin}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"tollgate_decisions_total{door="nginx",outcome="allow",reason=""} 3"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"tollgate_decisions_total{door="nginx",outcome="deny",reason="missing-token"} 1"#
        ),
        "{metrics}"
    );
    let lines: Vec<&str> = metrics.lines().collect();
    assert!(
        lines.contains(&"tollgate_token_cache_hits_total 2"),
        "{metrics}"
    );
    assert!(
        lines.contains(&"tollgate_token_cache_misses_total 1"),
        "{metrics}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("tollgate_module_info{digest=\"") && l.ends_with("\"} 1")),
        "{metrics}"
    );
    assert!(!metrics.contains("tollgate_tollgate"), "{metrics}");
    assert!(
        metrics.contains("tollgate_decision_duration_seconds_bucket"),
        "{metrics}"
    );
    // The admin port decides nothing; the decision port reports nothing.
    let not_admin = client()
        .get(format!(
            "http://{}/metrics",
            tollgate.addrs().traefik.unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(not_admin.status(), StatusCode::BAD_REQUEST);
    tollgate.stop().await;
}

#[tokio::test]
async fn an_oversized_request_head_is_refused_and_the_server_keeps_serving() {
    let tollgate = start_tollgate().await;
    let token = tollgate.token("erin", "orders.read");
    let huge = "a".repeat(64 * 1024);
    let refused = client()
        .get(format!("http://{}/auth", tollgate.addrs().nginx.unwrap()))
        .header("x-original-method", "GET")
        .header("x-original-uri", "/orders/1")
        .header("x-padding", huge)
        .send()
        .await
        .expect("an answer, not a dropped connection");
    assert_eq!(
        refused.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    assert_eq!(
        nginx(&tollgate, "GET", "/orders/1", Some(&token))
            .await
            .status(),
        StatusCode::OK
    );
    tollgate.stop().await;
}

#[tokio::test]
async fn after_shutdown_nothing_answers() {
    let tollgate = start_tollgate().await;
    let addr = tollgate.addrs().nginx.unwrap();
    tollgate.stop().await;
    let refused = client()
        .get(format!("http://{addr}/auth"))
        .header("x-original-method", "GET")
        .header("x-original-uri", "/public/x")
        .send()
        .await;
    assert!(refused.is_err(), "a stopped server answered: {refused:?}");
}

/// Paths are decided in canonical form (docs/paths.md): a spelling of the
/// admin area is decided by the admin rule, and one that cannot be decided
/// safely (dot segments included, by default) is a 400 naming what is
/// wrong. Never the public rule.
#[tokio::test]
async fn a_path_is_decided_canonical_or_refused_never_by_a_public_rule() {
    let tollgate = start_tollgate().await;
    for uri in ["//admin/users", "/admin//users/", "/%61dmin/users"] {
        let answer = nginx(&tollgate, "GET", uri, None).await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "{uri}");
        assert!(header(&answer, "x-auth-principal").is_none(), "{uri}");
    }
    for (uri, what) in [
        ("/public/../admin/users", "`.` or `..` segment"),
        ("/admin/../public/x", "`.` or `..` segment"),
        ("/public/./../admin/users/", "`.` or `..` segment"),
        ("/public/%2e%2e/admin/users", "encoded dot segment"),
        ("/public/..%2Fadmin/users", "encoded `/`"),
        ("/public/..;/admin/users", "`;` parameters"),
        ("/public/x%00.json", "control character"),
        ("/public/%c0%ae%c0%ae/admin", "not UTF-8"),
        ("/public/x#/../../admin", "raw `?` or `#`"),
    ] {
        let answer = nginx(&tollgate, "GET", uri, None).await;
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{uri}");
        assert!(header(&answer, "x-auth-principal").is_none(), "{uri}");
        let body = answer.text().await.expect("body");
        assert!(
            body.contains("invalid_request") && body.contains(what),
            "{uri}: {body}"
        );
    }
    // A public path in another spelling is still public.
    let public = nginx(&tollgate, "GET", "/public//a/b/", None).await;
    assert_eq!(public.status(), StatusCode::OK);
    tollgate.stop().await;
}

/// Methods are case-sensitive tokens that rules match exactly, so a
/// lower-case one (which Django or Flask would run as the upper-case
/// method) is refused with a 400 rather than decided by a broader rule.
#[tokio::test]
async fn a_lower_case_method_is_refused_not_decided() {
    let tollgate = start_tollgate().await;
    let token = tollgate.token("alice", "orders.read");
    for method in ["get", "Delete", "pOST"] {
        let answer = nginx(&tollgate, method, "/orders/1", Some(&token)).await;
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{method}");
        assert!(header(&answer, "x-auth-principal").is_none(), "{method}");
        let body = answer.text().await.expect("body");
        assert!(body.contains("upper-case token"), "{method}: {body}");
    }
    // Not a token at all: the door refuses it before the host is asked.
    let answer = nginx(&tollgate, "GET;", "/orders/1", Some(&token)).await;
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    let body = answer.text().await.expect("body");
    assert!(body.contains("not an HTTP method token"), "{body}");
    let upper = nginx(&tollgate, "GET", "/orders/1", Some(&token)).await;
    assert_eq!(upper.status(), StatusCode::OK);
    tollgate.stop().await;
}

/// Two remote issuers, one serving its JWK Set and one down: the replica
/// stays ready, health and metrics tell them apart, and the down issuer's
/// tokens get 503 while the other's are allowed.
#[tokio::test]
async fn one_identity_providers_outage_shows_in_health_and_metrics_not_readiness() {
    use tollgate_host::jwks::KeyFetchSettings;
    use tollgate_host::{ConfigBase, Gate, PolicyModule, SandboxLimits};
    use tollgate_jwks::testing::{Behaviour, TestServer};
    use tollgate_keys::Algorithm;
    use tollgate_keys::mint::SigningKey;

    let key = SigningKey::generate(Algorithm::Es256, "remote-1").unwrap();
    let server = TestServer::start();
    server.set("/up", Behaviour::json(&key.jwks()));
    server.set("/down", Behaviour::Status(500));
    let (up, down) = ("https://up.issuer.test", "https://down.issuer.test");
    let policy = format!(
        "[[issuer]]\nissuer = \"{up}\"\njwks_uri = \"{}\"\naudiences = [\"orders-api\"]\nalgorithms = [\"ES256\"]\n\
         [[issuer]]\nissuer = \"{down}\"\njwks_uri = \"{}\"\naudiences = [\"orders-api\"]\nalgorithms = [\"ES256\"]\n",
        server.url("/up"),
        server.url("/down"),
    );
    let module = PolicyModule::default_module(SandboxLimits::default()).unwrap();
    let gate = Gate::new(
        module,
        &policy,
        &ConfigBase::Embedded(Vec::new()),
        "remote policy",
        KeyFetchSettings::default(),
    )
    .await
    .expect("a prefetch failure is not a start failure");
    let any = "127.0.0.1:0".parse().ok();
    let settings = tollgate_forward_auth::ServeSettings {
        listen: tollgate_forward_auth::Listen {
            nginx: any,
            admin: any,
            ..Default::default()
        },
        ..Default::default()
    };
    let tollgate = tollgate_forward_auth::Server::start(gate, settings)
        .await
        .unwrap();
    let addrs = tollgate.addrs().clone();
    let now = tollgate_host::clock::unix_now();
    let token = |iss: &str| {
        key.sign_jwt(
            &serde_json::json!({"iss": iss, "sub": "alice", "aud": "orders-api", "iat": now, "exp": now + 600}),
            None,
        )
        .unwrap()
    };
    let decide = |token: String| {
        client()
            .get(format!("http://{}/auth", addrs.nginx.unwrap()))
            .header("x-original-method", "GET")
            .header("x-original-uri", "/orders/1")
            .header("authorization", format!("Bearer {token}"))
            .send()
    };
    assert_eq!(decide(token(up)).await.unwrap().status(), StatusCode::OK);
    let unavailable = decide(token(down)).await.unwrap();
    assert_eq!(unavailable.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(header(&unavailable, "retry-after"), Some("1"));

    let admin = format!("http://{}", addrs.admin.unwrap());
    let ready = client()
        .get(format!("{admin}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        ready.status(),
        StatusCode::OK,
        "one issuer down must not make the replica unready"
    );
    let health: serde_json::Value = serde_json::from_str(
        &client()
            .get(format!("{admin}/healthz"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    let issuer = |name: &str| {
        health["remote_issuers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["issuer"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} in {health}"))
    };
    assert_eq!(issuer(up)["remote_keys"], 1, "{health}");
    assert_eq!(issuer(up)["consecutive_failures"], 0, "{health}");
    assert!(issuer(down)["remote_keys"].is_null(), "{health}");
    assert!(
        issuer(down)["consecutive_failures"].as_u64().unwrap() >= 1,
        "{health}"
    );
    assert!(issuer(down)["last_error"].is_string(), "{health}");

    let metrics = client()
        .get(format!("{admin}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |line_start: String| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(line_start.as_str()))
            .unwrap_or_else(|| panic!("no {line_start} in {metrics}"))
            .trim()
            .parse()
            .unwrap()
    };
    let labels = |iss: &str| format!("{{issuer=\"{iss}\"}}");
    assert_eq!(value(format!("tollgate_remote_keys{}", labels(up))), 1.0);
    assert_eq!(value(format!("tollgate_remote_keys{}", labels(down))), 0.0);
    assert_eq!(
        value(format!("tollgate_key_fetch_failures{}", labels(up))),
        0.0
    );
    assert!(value(format!("tollgate_key_fetch_failures{}", labels(down))) >= 1.0);
    assert!(value(format!("tollgate_key_fetches_total{}", labels(up))) >= 1.0);
    assert!(value(format!("tollgate_key_fetches_total{}", labels(down))) >= 1.0);
    assert_eq!(
        value("tollgate_decisions_total{door=\"nginx\",outcome=\"error\",reason=\"keys-unavailable\"}".into()),
        1.0
    );
    tollgate.shutdown().await;
}
