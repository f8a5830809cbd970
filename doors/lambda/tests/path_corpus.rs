//! The path corpus (`canonical-path/corpus/*.txt`) through the Lambda
//! door's mapping, for every event format: the rules match the path of
//! the event's ARN (`methodArn`, payload 2.0's `routeArn`) in every format,
//! whatever the event's own `path` / `rawPath` say, and the request's own
//! path (without a named stage) only when the ARN names no route (an HTTP
//! API's `$default` route, a console test's `*`). The host's
//! canonicalization of that path must give exactly the corpus's canonical
//! path or refusal.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use serde_json::{Value, json};
use tollgate_host::model::canonical_path::canonicalize;
use tollgate_host::model::canonical_path::corpus;
use tollgate_lambda::event::Event;
use tollgate_lambda::identity::IdentitySources;

const API: &str = "arn:aws:execute-api:eu-west-1:123456789012:abcdef123/prod";

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("JSON")
}

/// Each format's event for `path`, the path its rules must match taken from
/// where the door must take it; the other path fields hold a decoy.
fn events(path: &str) -> Vec<(&'static str, Value)> {
    let arn = format!("{API}/GET{path}");
    let mut token = fixture("example-apigw-custom-auth-request.json");
    token["methodArn"] = json!(arn);

    let mut rest = fixture("example-apigw-custom-auth-request-type-request.json");
    rest["methodArn"] = json!(arn);
    rest["path"] = json!("/decoy");
    rest["requestContext"]["path"] = json!("/prod/decoy");

    // A console test invocation: the ARN names no route, `path` decides.
    let mut rest_console = fixture("example-apigw-custom-auth-request-type-request.json");
    rest_console["methodArn"] = json!(format!("{API}/*/*"));
    rest_console["path"] = json!(path);

    let mut v1 = fixture("example-apigw-v2-custom-authorizer-v1-request.json");
    v1["methodArn"] = json!(arn);
    v1["path"] = json!("/decoy");

    let mut v2 = fixture("example-apigw-v2-custom-authorizer-v2-request.json");
    v2["routeArn"] = json!(arn);
    v2["rawPath"] = json!("/decoy");
    v2["requestContext"]["http"]["path"] = json!("/decoy");

    // The `$default` route: its ARN is the same for every path, so the
    // request's `rawPath`, without the named stage, decides.
    let mut v2_default = fixture("example-apigw-v2-custom-authorizer-v2-request.json");
    v2_default["routeArn"] = json!(format!("{API}/$default"));
    v2_default["routeKey"] = json!("$default");
    v2_default["rawPath"] = json!(format!("/prod{path}"));
    v2_default["requestContext"]["stage"] = json!("prod");
    v2_default["requestContext"]["http"]["method"] = json!("GET");
    v2_default["requestContext"]["http"]["path"] = json!("/decoy");

    vec![
        ("rest-token (methodArn)", token),
        ("rest-request (methodArn, not path)", rest),
        ("rest-request console test (path)", rest_console),
        ("http-1.0 (methodArn, not path)", v1),
        ("http-2.0 (routeArn, not rawPath)", v2),
        (
            "http-2.0 $default route (rawPath without the stage)",
            v2_default,
        ),
    ]
}

#[test]
fn every_event_format_maps_every_corpus_case_to_its_canonical_path_or_a_refusal() {
    let cases = corpus::bundled().expect("the path corpus");
    assert!(cases.len() > 100);
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut skipped = 0;
    for case in &cases {
        // API Gateway's paths all start with `/`: an ARN or `rawPath`
        // cannot hold the corpus's non-origin-form targets (`*`, `admin`).
        if !case.path().starts_with('/') {
            skipped += 1;
            continue;
        }
        for (format, event) in events(case.path()) {
            let event = Event::read(event).unwrap_or_else(|e| panic!("{format}: {e}"));
            let request = event.into_request(&IdentitySources::default(), 0);
            // The door hands the host the path as API Gateway wrote it.
            if request.path != case.path() {
                failures.push(format!(
                    "{format}: {}: the door read {:?}, not {:?}",
                    case.origin,
                    request.path,
                    case.path()
                ));
                continue;
            }
            assert_eq!(request.method, "GET", "{format}");
            let got = canonicalize(&request.path, &case.options);
            if let Err(e) = case.compare(got.as_deref().map_err(|r| *r)) {
                failures.push(format!("{format}: {e}"));
            }
            checked += 1;
        }
    }
    assert!(skipped <= 2 && checked == (cases.len() - skipped) * 6);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
