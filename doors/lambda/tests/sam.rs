//! `deploy/template.yaml`, offline: linted with cfn-lint, translated with
//! aws-sam-translator (the SAM transform CloudFormation would run), the
//! result linted too and checked for what the deployment needs. cfn-lint
//! alone misses SAM mistakes such as a wrong `FunctionPayloadType` or a
//! `DefaultAuthorizer` naming nothing; the translator refuses them (shown
//! below on broken copies of the template).

// Tests: a failed expectation is a panic, and fixtures are indexed directly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::tools::{self, tail, wait_with_timeout};
use common::{Scratch, crate_dir};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(300);

fn template() -> PathBuf {
    crate_dir().join("../../deploy/template.yaml")
}

fn run(program: &Path, args: &[&std::ffi::OsStr]) -> std::process::Output {
    let mut child = Command::new(program)
        .args(args)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        // Offline: no credentials, no metadata service lookups.
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
    wait_with_timeout(&mut child, TIMEOUT).unwrap_or_else(|| {
        panic!(
            "{} still running after {TIMEOUT:?}; killed",
            program.display()
        )
    })
}

fn cfn_lint(file: &Path) {
    let output = run(&tools::venv_bin("cfn-lint"), &[file.as_os_str()]);
    assert!(
        output.status.success(),
        "cfn-lint {}: {}\n{}\n{}",
        file.display(),
        output.status,
        tail(&output.stdout),
        tail(&output.stderr)
    );
}

fn translate(python: &Path, template: &Path, out: &Path) -> std::process::Output {
    translate_with(python, template, out, &[])
}

/// Translate with template parameters given as `Name=Value`.
fn translate_with(
    python: &Path,
    template: &Path,
    out: &Path,
    parameters: &[&str],
) -> std::process::Output {
    let script = crate_dir().join("tests/sam_translate.py");
    let mut args = vec![script.as_os_str(), template.as_os_str(), out.as_os_str()];
    args.extend(parameters.iter().map(std::ffi::OsStr::new));
    run(python, &args)
}

#[test]
fn template_lints_translates_and_wires_both_authorizers() {
    let python = tools::sam_python();
    let scratch = Scratch::new("sam");
    cfn_lint(&template());

    let out = scratch.path("translated.json");
    let output = translate(&python, &template(), &out);
    assert!(
        output.status.success(),
        "sam translate: {}\n{}",
        output.status,
        tail(&output.stderr)
    );
    cfn_lint(&out);

    let cfn: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let resources = cfn["Resources"].as_object().unwrap();

    // The function: provided.al2023, bootstrap, the policy layer, its config path.
    let function = &resources["AuthorizerFunction"];
    assert_eq!(function["Type"], "AWS::Lambda::Function");
    let props = &function["Properties"];
    assert_eq!(props["Runtime"], "provided.al2023");
    assert_eq!(props["Handler"], "bootstrap");
    assert_eq!(props["Architectures"], json!([{"Ref": "Architecture"}]));
    assert_eq!(
        props["Environment"]["Variables"]["TOLLGATE_CONFIG"],
        "/opt/tollgate/policy.toml"
    );
    let layer_ref = props["Layers"][0]["Ref"].as_str().unwrap();
    let layer = &resources[layer_ref];
    assert_eq!(layer["Type"], "AWS::Lambda::LayerVersion");
    assert_eq!(
        layer["Properties"]["CompatibleRuntimes"],
        json!(["provided.al2023"])
    );
    let arch = &cfn["Parameters"]["Architecture"];
    assert_eq!(arch["AllowedValues"], json!(["arm64", "x86_64"]));

    // REST API: a TOKEN authorizer on the Authorization header, default on the route.
    let rest = &resources["RestApi"]["Properties"]["Body"];
    let token = &rest["securityDefinitions"]["TollgateToken"];
    assert_eq!(token["name"], "Authorization");
    assert_eq!(token["x-amazon-apigateway-authorizer"]["type"], "token");
    assert!(
        token["x-amazon-apigateway-authorizer"]["authorizerUri"]
            .to_string()
            .contains("AuthorizerFunction")
    );
    assert_eq!(
        rest["paths"]["/orders/{id}"]["get"]["security"],
        json!([{"TollgateToken": []}])
    );

    // HTTP API: a REQUEST authorizer, payload 2.0, IAM policy answers, on
    // the route; its identity source is the function's, from one parameter.
    assert_eq!(resources["HttpApi"]["Type"], "AWS::ApiGatewayV2::Api");
    let request = &resources["HttpApiAuthorizer"]["Properties"];
    assert_eq!(request["AuthorizerType"], "REQUEST");
    assert_eq!(request["AuthorizerPayloadFormatVersion"], "2.0");
    assert_eq!(request["EnableSimpleResponses"], json!(false));
    assert_eq!(
        request["AuthorizerResultTtlInSeconds"],
        json!({"Ref": "AuthorizerTtl"})
    );
    assert!(
        request["AuthorizerUri"]
            .to_string()
            .contains("AuthorizerFunction.Arn")
    );
    let identity = json!({"Fn::Sub": "$request.header.${IdentityHeader}"});
    assert_eq!(request["IdentitySource"], json!([identity]));
    assert_eq!(
        props["Environment"]["Variables"]["TOLLGATE_IDENTITY_SOURCES"],
        identity
    );
    let route = &resources["HttpOrdersRoute"]["Properties"];
    assert_eq!(route["RouteKey"], "GET /orders/{id}");
    assert_eq!(route["AuthorizationType"], "CUSTOM");
    assert_eq!(route["AuthorizerId"], json!({"Ref": "HttpApiAuthorizer"}));

    // Both APIs may invoke the authorizer.
    let permissions: Vec<String> = resources
        .values()
        .filter(|r| r["Type"] == "AWS::Lambda::Permission")
        .filter(|r| {
            r["Properties"]["FunctionName"]
                .to_string()
                .contains("AuthorizerFunction")
        })
        .map(|r| r["Properties"]["SourceArn"].to_string())
        .collect();
    assert!(
        permissions
            .iter()
            .any(|arn| arn.contains("RestApi") && arn.contains("/authorizers/*")),
        "{permissions:?}"
    );
    assert!(
        permissions
            .iter()
            .any(|arn| arn.contains("HttpApi") && arn.contains("/authorizers/*")),
        "{permissions:?}"
    );
}

/// Issue 7, item 5: the function reads the token only from the identity
/// sources it is told, so the template sets both authorizers' identity
/// source and `TOLLGATE_IDENTITY_SOURCES` from one parameter. Translated
/// with another header, all three name it.
#[test]
fn one_parameter_sets_the_identity_sources_and_the_function_setting() {
    let python = tools::sam_python();
    let scratch = Scratch::new("sam-identity");
    let out = scratch.path("translated.json");
    let output = translate_with(&python, &template(), &out, &["IdentityHeader=X-Api-Token"]);
    assert!(
        output.status.success(),
        "sam translate: {}\n{}",
        output.status,
        tail(&output.stderr)
    );
    let cfn: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let resources = &cfn["Resources"];
    // REST: SAM writes the parameter's value into the TOKEN authorizer.
    let rest = &resources["RestApi"]["Properties"]["Body"];
    assert_eq!(
        rest["securityDefinitions"]["TollgateToken"]["name"],
        "X-Api-Token"
    );
    // HTTP API and the function: the same Fn::Sub of the same parameter,
    // which CloudFormation resolves to the same string for both.
    let sub = "$request.header.${IdentityHeader}";
    let http = &resources["HttpApiAuthorizer"]["Properties"]["IdentitySource"];
    let env = &resources["AuthorizerFunction"]["Properties"]["Environment"]["Variables"]["TOLLGATE_IDENTITY_SOURCES"];
    assert_eq!(http, &json!([{ "Fn::Sub": sub }]));
    assert_eq!(env, &json!({ "Fn::Sub": sub }));
    // What CloudFormation hands the function is a setting it accepts, naming that header.
    let resolved = sub.replace("${IdentityHeader}", "X-Api-Token");
    let sources = tollgate_lambda::identity::IdentitySources::parse(&resolved).unwrap();
    assert!(sources.has_header("x-api-token"));
    assert!(!sources.has_header("authorization"));
}

#[test]
fn the_translator_catches_what_cfn_lint_misses() {
    let python = tools::sam_python();
    let scratch = Scratch::new("sam-broken");
    let original = std::fs::read_to_string(template()).unwrap();
    for (what, from, to, expect) in [
        (
            "wrong FunctionPayloadType",
            "FunctionPayloadType: TOKEN",
            "FunctionPayloadType: TOKENS",
            "FunctionPayloadType",
        ),
        (
            "DefaultAuthorizer naming nothing",
            "DefaultAuthorizer: TollgateToken",
            "DefaultAuthorizer: Nothing",
            "DefaultAuthorizer",
        ),
    ] {
        assert!(original.contains(from), "{what}: the template changed");
        let broken = scratch.path("broken.yaml");
        std::fs::write(&broken, original.replace(from, to)).unwrap();
        let output = translate(&python, &broken, &scratch.path("broken.json"));
        assert!(!output.status.success(), "{what}: translated anyway");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains(expect),
            "{what}: {}",
            tail(&output.stderr)
        );
    }
}
