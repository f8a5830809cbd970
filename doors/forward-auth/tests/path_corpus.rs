//! The path corpus (`canonical-path/corpus/*.txt`) through each dialect's
//! own mapping: the forwarding header (nginx, Traefik), the request line
//! (Envoy HTTP) and the check request (Envoy gRPC) carry the corpus target,
//! the door reads it, and the host's canonicalization must give exactly the
//! corpus's canonical path or refusal. A door may refuse a target earlier
//! (400) only when the transport cannot carry it (a control character, a
//! space, a character a URI may not hold); it never decides another path.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use envoy_types::ext_authz::v3::pb::CheckRequest;
use envoy_types::pb::envoy::service::auth::v3::AttributeContext;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{
    HttpRequest, Request as AttrRequest,
};
use tollgate_forward_auth::Dialect;
use tollgate_forward_auth::dialect::{BadForwarding, read_http};
use tollgate_forward_auth::grpc::read_check;
use tollgate_host::model::Request;
use tollgate_host::model::canonical_path::canonicalize;
use tollgate_host::model::canonical_path::corpus::{self, CorpusCase};

/// Whether an HTTP transport may refuse `target` before the door sees it:
/// it holds a byte a request line or header cannot carry as is.
fn transport_may_refuse(target: &str) -> bool {
    target
        .bytes()
        .any(|b| b <= 0x20 || b >= 0x7f || b"\"{}\\<>^`|".contains(&b))
}

enum Mapped {
    /// The door read the request; its path, canonicalized.
    Decided(Result<String, tollgate_host::model::PathRefusal>),
    /// The transport or the door refused the target (400).
    Refused(String),
}

fn canonical(request: Result<Request, BadForwarding>, case: &CorpusCase) -> Mapped {
    match request {
        Ok(request) => Mapped::Decided(
            canonicalize(&request.path, &case.options).map(|path| path.into_owned()),
        ),
        Err(bad) => Mapped::Refused(bad.0),
    }
}

fn head(uri: &str, headers: &[(&str, &str)]) -> Result<http::request::Parts, String> {
    let mut builder = http::Request::builder().method("GET").uri(uri);
    for (name, value) in headers {
        let value = http::HeaderValue::from_str(value).map_err(|e| e.to_string())?;
        builder = builder.header(*name, value);
    }
    builder
        .body(())
        .map(|r| r.into_parts().0)
        .map_err(|e| e.to_string())
}

fn map(dialect: Dialect, case: &CorpusCase) -> Mapped {
    let target = case.target.as_str();
    let parts = match dialect {
        Dialect::Nginx => head(
            "/auth",
            &[("x-original-method", "GET"), ("x-original-uri", target)],
        ),
        Dialect::Traefik => head(
            "/auth",
            &[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", target),
                ("x-forwarded-host", "api.example"),
            ],
        ),
        Dialect::EnvoyHttp => head(&format!("/ext-authz{target}"), &[]),
        Dialect::EnvoyGrpc => {
            let check = CheckRequest {
                attributes: Some(AttributeContext {
                    request: Some(AttrRequest {
                        http: Some(HttpRequest {
                            method: "GET".into(),
                            path: target.into(),
                            host: "api.example".into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            };
            return canonical(read_check(&check, 0), case);
        }
    };
    match parts {
        Ok(parts) => canonical(read_http(dialect, &parts, "/ext-authz", 0), case),
        Err(transport) => Mapped::Refused(format!("the HTTP types refuse it: {transport}")),
    }
}

#[test]
fn every_dialect_maps_every_corpus_case_to_its_canonical_path_or_a_refusal() {
    let cases = corpus::bundled().expect("the path corpus");
    assert!(cases.len() > 100);
    let mut failures = Vec::new();
    for dialect in [
        Dialect::Nginx,
        Dialect::Traefik,
        Dialect::EnvoyHttp,
        Dialect::EnvoyGrpc,
    ] {
        let mut decided = 0;
        for case in &cases {
            match map(dialect, case) {
                Mapped::Decided(got) => {
                    decided += 1;
                    if let Err(e) = case.compare(got.as_deref().map_err(|r| *r)) {
                        // The request line is parsed by the HTTP types,
                        // which drop a fragment (as Envoy does before it
                        // routes): the rest must then be decided as is.
                        let fragment_dropped = dialect == Dialect::EnvoyHttp
                            && case.target.contains('#')
                            && got.as_deref().ok().map(str::to_string)
                                == canonicalize(
                                    case.target.split('#').next().unwrap_or_default(),
                                    &case.options,
                                )
                                .ok()
                                .map(|p| p.into_owned());
                        if !fragment_dropped {
                            failures.push(format!("{}: {e}", dialect.as_str()));
                        }
                    }
                }
                Mapped::Refused(why) => {
                    if case.expected.is_ok() && !transport_may_refuse(&case.target) {
                        failures.push(format!(
                            "{}: {}: {:?} was refused by the door ({why}) where the corpus says {:?}",
                            dialect.as_str(),
                            case.origin,
                            case.target,
                            case.expected
                        ));
                    }
                }
            }
        }
        // The door reads nearly every case itself: the test cannot pass by
        // refusing everything.
        assert!(
            decided * 10 >= cases.len() * 9,
            "{}: only {decided} of {} cases reached the host",
            dialect.as_str(),
            cases.len()
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
