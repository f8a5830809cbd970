//! A real Lambda Runtime API for the end-to-end tests: `cargo lambda watch
//! --only-lambda-apis` serves the Runtime and invoke APIs on 127.0.0.1, and
//! the already-built `bootstrap` runs against it with a policy file and a
//! module precompiled for this architecture's baseline CPU.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::tools::{self, tail, wait_with_timeout};
use super::*;

/// Bound on every invocation.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);

/// `cargo lambda watch --only-lambda-apis` on 127.0.0.1 and the built
/// `bootstrap` started against it, as Lambda would.
pub struct Lambda {
    cargo_lambda: PathBuf,
    port: u16,
    /// Holds the policy, the module, the event files and the logs.
    pub scratch: Scratch,
    // Dropped (killed) function first, then the emulator.
    /// The function.
    pub function: ChildGuard,
    _watch: ChildGuard,
}

impl Lambda {
    /// The test policy, `TOLLGATE_LOG=info`.
    pub fn start() -> Self {
        Self::start_with(&write_policy, &[("TOLLGATE_LOG", Some("info"))])
    }

    /// The policy `write` puts in the scratch folder (it returns the
    /// policy's path), with `env` set over the defaults (`None`: unset).
    pub fn start_with(write: &dyn Fn(&Path) -> PathBuf, env: &[(&str, Option<&str>)]) -> Self {
        Self::start_binary(Path::new(env!("CARGO_BIN_EXE_bootstrap")), write, env)
    }

    /// [`Lambda::start_with`] running the `bootstrap` at `binary` (e.g. the
    /// lean build).
    pub fn start_binary(
        binary: &Path,
        write: &dyn Fn(&Path) -> PathBuf,
        env: &[(&str, Option<&str>)],
    ) -> Self {
        let cargo_lambda = tools::cargo_lambda();
        let scratch = Scratch::new("e2e");
        let policy = write(&scratch.0);
        let cwasm = scratch.path("tollgate.cwasm");
        let bytes = tollgate_host::module::precompile_for(
            tollgate_host::module::DEFAULT_MODULE,
            Some(tollgate_host::module::Target::native()),
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

        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_REGION", "us-east-1")
            .env("TOLLGATE_CONFIG", &policy)
            .env("TOLLGATE_MODULE", &cwasm);
        // `env` over the defaults above: `None` unsets a variable (e.g.
        // `TOLLGATE_CONFIG`, for a function without a deployed policy).
        for (name, value) in env {
            match value {
                Some(value) => command.env(name, value),
                None => command.env_remove(name),
            };
        }
        let function = ChildGuard::spawn(
            "bootstrap",
            command
                .env(
                    "AWS_LAMBDA_RUNTIME_API",
                    format!("http://127.0.0.1:{port}/.rt"),
                )
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

    /// The function's and the emulator's stderr, for messages.
    pub fn logs(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.scratch.path(name)).unwrap_or_default();
        format!(
            "--- function stderr\n{}\n--- watch stderr\n{}",
            tail(read("function.err").as_bytes()),
            tail(read("watch.err").as_bytes())
        )
    }

    /// `cargo lambda invoke`: Ok(answer) or Err(stderr) for a function error.
    pub fn invoke(&mut self, event: &Value) -> Result<Value, String> {
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
    pub fn invoke_http(&mut self, body: &[u8]) -> (u16, Value) {
        self.function.assert_running();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream.set_read_timeout(Some(INVOKE_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(INVOKE_TIMEOUT)).unwrap();
        let head = format!(
            "POST /2015-03-31/functions/_/invocations HTTP/1.0\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.port,
            body.len()
        );
        // One write: head and body in two would wait on Nagle and the
        // delayed ACK (40 ms more for every invocation timed).
        stream.set_nodelay(true).unwrap();
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        stream.write_all(&request).unwrap();
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
