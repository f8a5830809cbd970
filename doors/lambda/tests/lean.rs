//! The lean Lambda build: `cargo build -p tollgate-lambda
//! --no-default-features` leaves wasmtime's Cranelift compiler out of
//! `bootstrap`. It is its own build invocation (in a workspace build other
//! crates turn the compiler back on), so this test runs it, into
//! `target/lean`, and shows that the lean `bootstrap`:
//!
//! - has no compiler in it, and is smaller than the default one;
//! - refuses at init, with the reason, a module that needs compiling (a
//!   `.wasm`), and starting with no module at all (it embeds none);
//! - serves from a `.cwasm` precompiled by the default build, through a real
//!   Runtime API, like the default `bootstrap`.

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
use std::sync::OnceLock;
use std::time::Duration;

use common::runtime::Lambda;
use common::tools::wait_with_timeout;
use common::*;
use tollgate_host::module::DEFAULT_MODULE;

/// How long the lean build may take (a cold build compiles wasmtime,
/// aws-lc and tokio again, for its own feature set).
const BUILD_TIMEOUT: Duration = Duration::from_secs(1800);
/// How long a `bootstrap` may take to fail its init.
const INIT_TIMEOUT: Duration = Duration::from_secs(60);

/// The lean `bootstrap`, built once per test process into `target/lean`.
fn lean_bootstrap() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let target_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .expect("the target tmp dir has a parent")
            .join("lean");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut child = Command::new(cargo)
            .current_dir(crate_dir())
            .args([
                "build",
                "--locked",
                "--package",
                "tollgate-lambda",
                "--no-default-features",
                "--bin",
                "bootstrap",
                "--target-dir",
            ])
            .arg(&target_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start cargo build for the lean bootstrap");
        let output = wait_with_timeout(&mut child, BUILD_TIMEOUT)
            .unwrap_or_else(|| panic!("the lean build took longer than {BUILD_TIMEOUT:?}"));
        assert!(
            output.status.success(),
            "the lean build failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        target_dir.join("debug").join("bootstrap")
    })
}

/// Run `binary` to its init failure (it must not start serving): exit
/// status and stderr.
fn init_failure(binary: &Path, policy: &Path, module: Option<&Path>) -> (bool, String) {
    let mut command = Command::new(binary);
    command
        .env_clear()
        // Nothing listens here: init must fail before the runtime loop.
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .env("AWS_LAMBDA_FUNCTION_NAME", "_")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("TOLLGATE_CONFIG", policy)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(module) = module {
        command.env("TOLLGATE_MODULE", module);
    }
    let mut child = command.spawn().expect("start bootstrap");
    let output = wait_with_timeout(&mut child, INIT_TIMEOUT)
        .unwrap_or_else(|| panic!("bootstrap did not end its init within {INIT_TIMEOUT:?}"));
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn the_lean_bootstrap_has_no_compiler_and_is_smaller() {
    let lean = std::fs::read(lean_bootstrap()).unwrap();
    let default = std::fs::read(env!("CARGO_BIN_EXE_bootstrap")).unwrap();
    // The compiler's panic locations name its source files (kept in any
    // profile, stripped or not): in the default build, not in the lean one.
    assert!(contains(&default, b"cranelift-codegen-"));
    assert!(!contains(&lean, b"cranelift-codegen-"));
    assert!(
        lean.len() < default.len(),
        "lean {} bytes, default {} bytes",
        lean.len(),
        default.len()
    );
}

#[test]
fn the_lean_bootstrap_refuses_a_module_that_needs_compiling() {
    let scratch = Scratch::new("lean-refuses");
    let policy = write_policy(&scratch.0);
    let wasm = scratch.path("tollgate.wasm");
    std::fs::write(&wasm, DEFAULT_MODULE).unwrap();

    let (ok, stderr) = init_failure(lean_bootstrap(), &policy, Some(&wasm));
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains("lean build without the Cranelift compiler")
            && stderr.contains("tollgate compile --target"),
        "{stderr}"
    );

    // No module at all: the lean build embeds none. (A layer's module at
    // /opt/tollgate would be found first: this machine must have none.)
    let layer_module =
        Path::new(tollgate_lambda::setup::LAYER_DIR).join(tollgate_lambda::setup::MODULE_FILE_NAME);
    assert!(
        !layer_module.exists(),
        "{} exists: bootstrap would load it; run this test where no layer is mounted",
        layer_module.display()
    );
    let (ok, stderr) = init_failure(lean_bootstrap(), &policy, None);
    assert!(!ok, "{stderr}");
    assert!(stderr.contains("embeds no policy module"), "{stderr}");

    // The default build compiles the same .wasm and serves (it does not
    // exit): shown by the runtime-API test below for the lean build with a
    // .cwasm, and by `runtime_api.rs` for the default build.
}

#[test]
fn the_lean_bootstrap_serves_a_precompiled_module_through_the_runtime_api() {
    let mut lambda = Lambda::start_binary(
        lean_bootstrap(),
        &write_policy,
        &[("TOLLGATE_LOG", Some("info"))],
    );
    let bearer = format!("Bearer {}", good_token());
    for (name, event) in all_formats(&bearer) {
        let answer = lambda
            .invoke(&event)
            .unwrap_or_else(|e| panic!("{name}: {e}\n{}", lambda.logs()));
        assert_eq!(answer["principalId"], "alice", "{name}: {answer}");
        assert_eq!(
            answer["policyDocument"]["Statement"][0]["Effect"], "Allow",
            "{name}: {answer}"
        );
    }
    let denied = lambda
        .invoke(&token_event("Bearer not-a-token"))
        .expect_err("a bad token is a 401");
    assert!(denied.contains("Unauthorized"), "{denied}");
}
