//! End to end through a real Lambda Runtime API: `cargo lambda watch
//! --only-lambda-apis` serves the Runtime and invoke APIs on 127.0.0.1;
//! the test starts the already-built `bootstrap` against it, as Lambda
//! would (Lambda variables, a policy file, a module precompiled for this
//! architecture's baseline CPU), and invokes every event format with `cargo lambda
//! invoke` and with the HTTP invoke endpoint.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::tools::{self, tail, wait_with_timeout};
use common::*;
use serde_json::{Value, json};

/// Bound on every invocation.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);

struct Lambda {
    cargo_lambda: PathBuf,
    port: u16,
    scratch: Scratch,
    // Dropped (killed) function first, then the emulator.
    function: ChildGuard,
    _watch: ChildGuard,
}

impl Lambda {
    fn start() -> Self {
        let cargo_lambda = tools::cargo_lambda();
        let scratch = Scratch::new("e2e");
        let policy = write_policy(&scratch.0);
        let cwasm = scratch.path("tollgate.cwasm");
        let bytes = tollgate::engine::precompile_for(
            tollgate::engine::DEFAULT_MODULE,
            Some(if cfg!(target_arch = "aarch64") {
                tollgate::engine::Target::Aarch64
            } else {
                tollgate::engine::Target::X86_64
            }),
        )
        .expect("precompile");
        std::fs::write(&cwasm, bytes).unwrap();

        // `cargo lambda watch` reads a Cargo manifest even when it starts
        // no function: give it a one-package stand-in (no dependencies, so
        // its `cargo metadata` needs no network).
        let emulator_dir = scratch.path("emulator");
        std::fs::create_dir_all(emulator_dir.join("src")).unwrap();
        std::fs::write(
            emulator_dir.join("Cargo.toml"),
            "[package]\nname = \"bootstrap\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\n[workspace]\n",
        )
        .unwrap();
        std::fs::write(emulator_dir.join("src/main.rs"), "fn main() {}\n").unwrap();

        let port = free_port();
        let log = |name: &str| std::fs::File::create(scratch.path(name)).unwrap();
        let mut watch = ChildGuard::spawn(
            "cargo lambda watch",
            Command::new(&cargo_lambda)
                .args([
                    "lambda",
                    "watch",
                    "--only-lambda-apis",
                    "-A",
                    "127.0.0.1",
                    "-P",
                ])
                .arg(port.to_string())
                .current_dir(&emulator_dir)
                .env_remove("CARGO_TARGET_DIR")
                .stdin(Stdio::null())
                .stdout(log("watch.out"))
                .stderr(log("watch.err")),
        );
        wait_for_port(port, Duration::from_secs(60), &mut watch);

        let function = ChildGuard::spawn(
            "bootstrap",
            Command::new(env!("CARGO_BIN_EXE_bootstrap"))
                .env_clear()
                .env(
                    "AWS_LAMBDA_RUNTIME_API",
                    format!("http://127.0.0.1:{port}/.rt"),
                )
                .env("AWS_LAMBDA_FUNCTION_NAME", "_")
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
                .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
                .env("AWS_REGION", "us-east-1")
                .env("TOLLGATE_CONFIG", &policy)
                .env("TOLLGATE_MODULE", &cwasm)
                .env("TOLLGATE_LOG", "info")
                .stdin(Stdio::null())
                .stdout(log("function.out"))
                .stderr(log("function.err")),
        );
        Lambda {
            cargo_lambda,
            port,
            scratch,
            function,
            _watch: watch,
        }
    }

    fn logs(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.scratch.path(name)).unwrap_or_default();
        format!(
            "--- function stderr\n{}\n--- watch stderr\n{}",
            tail(read("function.err").as_bytes()),
            tail(read("watch.err").as_bytes())
        )
    }

    /// `cargo lambda invoke`: Ok(answer) or Err(stderr) for a function error.
    fn invoke(&mut self, event: &Value) -> Result<Value, String> {
        self.function.assert_running();
        let file = self.scratch.path("event.json");
        std::fs::write(&file, event.to_string()).unwrap();
        let mut child = Command::new(&self.cargo_lambda)
            .args([
                "lambda",
                "invoke",
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
            ])
            .arg(self.port.to_string())
            .arg("--data-file")
            .arg(&file)
            .args(["--output-format", "json", "_"])
            .env("NO_COLOR", "1")
            .env("CARGO_LAMBDA_COLOR", "never")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start cargo lambda invoke");
        let output = wait_with_timeout(&mut child, INVOKE_TIMEOUT)
            .unwrap_or_else(|| panic!("cargo lambda invoke timed out\n{}", self.logs()));
        if output.status.success() {
            Ok(serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
                panic!("invoke printed no JSON ({e}): {}", tail(&output.stdout))
            }))
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    /// The HTTP invoke endpoint: (status, body as JSON).
    fn invoke_http(&mut self, body: &[u8]) -> (u16, Value) {
        self.function.assert_running();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream.set_read_timeout(Some(INVOKE_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(INVOKE_TIMEOUT)).unwrap();
        let head = format!(
            "POST /2015-03-31/functions/_/invocations HTTP/1.0\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.port,
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .unwrap_or_else(|e| panic!("read the invoke response: {e}\n{}", self.logs()));
        let text = String::from_utf8_lossy(&response);
        let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status code");
        let body = serde_json::from_str(body).unwrap_or(Value::String(body.to_string()));
        (status, body)
    }
}

fn policy_resources(answer: &Value) -> Value {
    answer["policyDocument"]["Statement"][0]["Resource"].clone()
}

#[test]
fn bootstrap_answers_every_format_through_the_runtime_api() {
    let mut lambda = Lambda::start();
    let bearer = format!("Bearer {}", good_token());
    let stages = [
        (
            "rest-token",
            "arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/*/*/*",
        ),
        (
            "rest-request",
            "arn:aws:execute-api:us-east-1:123456789012:s4x3opwd6i/test/*/*",
        ),
        (
            "http-1.0",
            "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/*/*",
        ),
        (
            "http-2.0",
            "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/*/*",
        ),
    ];

    // Allow: the IAM policy for the granted routes, with the context.
    for ((name, event), (_, resource)) in all_formats(&bearer).into_iter().zip(stages) {
        let answer = lambda
            .invoke(&event)
            .unwrap_or_else(|e| panic!("{name}: {e}\n{}", lambda.logs()));
        assert_eq!(answer["principalId"], "alice", "{name}: {answer}");
        assert_eq!(
            answer["policyDocument"]["Statement"][0]["Effect"], "Allow",
            "{name}"
        );
        assert_eq!(policy_resources(&answer), json!([resource]), "{name}");
        assert_eq!(answer["context"], expected_context(), "{name}");
    }

    // 403: an explicit Deny of the requested route.
    let mut claims = good_claims(now());
    claims["scope"] = json!("profile");
    let no_scope = format!("Bearer {}", mint("ed-1", &claims));
    let answer = lambda.invoke(&rest_request_event(&no_scope)).unwrap();
    assert_eq!(answer["policyDocument"]["Statement"][0]["Effect"], "Deny");
    assert_eq!(
        policy_resources(&answer),
        json!(["arn:aws:execute-api:us-east-1:123456789012:s4x3opwd6i/test/GET/request"])
    );

    // 401: the function error `Unauthorized`, in every format.
    let mut claims = good_claims(now() - 1000);
    claims["exp"] = json!(now() - 10);
    let expired = format!("Bearer {}", mint("rsa-1", &claims));
    for (name, event) in all_formats(&expired) {
        let error = lambda.invoke(&event).expect_err(name);
        assert!(error.contains("Unauthorized"), "{name}: {error}");
        let (status, body) = lambda.invoke_http(event.to_string().as_bytes());
        assert_ne!(status, 200, "{name}");
        assert_eq!(
            body,
            json!({"errorType": "Unauthorized", "errorMessage": "Unauthorized"}),
            "{name}"
        );
    }
}

#[test]
fn a_bad_event_is_an_error_and_the_function_keeps_serving() {
    let mut lambda = Lambda::start();
    let bearer = format!("Bearer {}", good_token());
    assert!(
        lambda.invoke(&token_event(&bearer)).is_ok(),
        "{}",
        lambda.logs()
    );

    // Not an authorizer event: a function error that is not `Unauthorized`.
    let (status, body) = lambda.invoke_http(br#"{"hello": "world"}"#);
    assert_ne!(status, 200);
    assert_eq!(body["errorType"], "InvalidEvent", "{body}");
    assert_ne!(body["errorMessage"], "Unauthorized");
    // Not even JSON: the runtime's own deserialization error.
    let (status, body) = lambda.invoke_http(b"this is not json");
    assert_ne!(status, 200, "{body}");
    assert_ne!(body["errorMessage"], "Unauthorized");

    // Still serving, every format.
    for (name, event) in all_formats(&bearer) {
        let answer = lambda
            .invoke(&event)
            .unwrap_or_else(|e| panic!("{name} after bad events: {e}\n{}", lambda.logs()));
        assert_eq!(answer["principalId"], "alice", "{name}");
    }
    lambda.function.assert_running();

    // One process served them all, from one init.
    let log = std::fs::read_to_string(lambda.scratch.path("function.err")).unwrap();
    assert_eq!(log.matches("loading the policy").count(), 1, "{log}");
    assert!(log.matches("\"outcome\":\"allow\"").count() >= 5, "{log}");
}
