//! The Python tools the tests need, installed by the tests themselves (the
//! README's single test command is `cargo test --workspace`): a virtual
//! environment at `<CARGO_TARGET_TMPDIR>/test-venv`, created with
//! `python3 -m venv`, into which pinned versions are pip-installed once.
//! A file lock serialises parallel test binaries. If PyPI cannot be reached
//! the test fails with a message saying so; it is never skipped.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// cargo-lambda (prebuilt binary wheel; `--no-deps` keeps its 400 MB zig out).
pub const CARGO_LAMBDA: &str = "cargo-lambda==1.9.2";
/// CloudFormation linter.
pub const CFN_LINT: &str = "cfn-lint==1.58.0";
/// The SAM transform, run offline.
pub const SAM_TRANSLATOR: &str = "aws-sam-translator==1.115.0";

/// How long one `pip install` may take.
const PIP_TIMEOUT: Duration = Duration::from_secs(600);

/// The virtual environment's folder.
pub fn venv_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("test-venv")
}

/// `<venv>/bin/<name>`.
pub fn venv_bin(name: &str) -> PathBuf {
    venv_dir().join("bin").join(name)
}

/// The `cargo-lambda` binary, installed if needed.
pub fn cargo_lambda() -> PathBuf {
    install(&[CARGO_LAMBDA], true);
    venv_bin("cargo-lambda")
}

/// The venv's `python` with cfn-lint and aws-sam-translator installed.
pub fn sam_python() -> PathBuf {
    install(&[CFN_LINT, SAM_TRANSLATOR], false);
    venv_bin("python")
}

/// Make sure `packages` (pinned `name==version`) are installed in the venv.
pub fn install(packages: &[&str], no_deps: bool) {
    let venv = venv_dir();
    let parent = venv.parent().expect("venv has a parent");
    std::fs::create_dir_all(parent).expect("create the target tmp dir");
    let lock_path = parent.join("test-venv.lock");
    let lock = File::create(&lock_path)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", lock_path.display()));
    // Held until this function returns: other test binaries wait here.
    lock.lock()
        .unwrap_or_else(|e| panic!("cannot lock {}: {e}", lock_path.display()));

    let marker = venv.join(format!(
        ".installed-{}",
        packages
            .iter()
            .map(|p| p.replace(['=', '/'], "_"))
            .collect::<Vec<_>>()
            .join("+")
    ));
    if marker.is_file() && venv_bin("python").is_file() {
        return;
    }
    if !venv_bin("python").is_file() {
        let _ = std::fs::remove_dir_all(&venv);
        run(
            Command::new("python3").args(["-m", "venv"]).arg(&venv),
            "python3 -m venv (is python3 with the venv module installed?)",
            Duration::from_secs(120),
        );
    }
    let mut pip = Command::new(venv_bin("python"));
    pip.args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
        "--timeout",
        "60",
    ]);
    if no_deps {
        pip.arg("--no-deps");
    }
    pip.args(packages);
    run(
        &mut pip,
        &format!(
            "pip install {} from PyPI into {} — these tests need PyPI (https://pypi.org) to install their tools; they are not skipped",
            packages.join(" "),
            venv.display()
        ),
        PIP_TIMEOUT,
    );
    std::fs::write(&marker, packages.join("\n")).expect("write the install marker");
}

/// Run `command` to completion within `timeout`; panic with `what` and its
/// output if it fails.
fn run(command: &mut Command, what: &str, timeout: Duration) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let output = wait_with_timeout(&mut child, timeout)
        .unwrap_or_else(|| panic!("{what}: still running after {timeout:?}; killed"));
    assert!(
        output.status.success(),
        "{what}: failed ({})\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        tail(&output.stdout),
        tail(&output.stderr)
    );
}

/// Wait for `child` at most `timeout`, collecting its output; kill it and
/// return `None` when it takes longer.
pub fn wait_with_timeout(
    child: &mut std::process::Child,
    timeout: Duration,
) -> Option<std::process::Output> {
    // Drain the pipes on threads so a chatty child cannot block on a full pipe.
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => break None,
        }
    };
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        return None;
    };
    let collect = |h: Option<std::thread::JoinHandle<Vec<u8>>>| {
        h.map(|h| h.join().unwrap_or_default()).unwrap_or_default()
    };
    Some(std::process::Output {
        status,
        stdout: collect(stdout),
        stderr: collect(stderr),
    })
}

fn drain<R: std::io::Read + Send + 'static>(mut reader: R) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = reader.read_to_end(&mut buf);
        buf
    })
}

/// The last 4000 bytes of `bytes`, as text.
pub fn tail(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(4000);
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

/// Whether `path` exists (for messages).
pub fn exists(path: &Path) -> bool {
    path.exists()
}
