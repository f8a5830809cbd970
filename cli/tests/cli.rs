//! The `tollgate` binary end to end: keys, tokens, check (exit codes and JSON),
//! compile, config errors, and the demo.

// Tests: a failed expectation is a panic, and fixtures are indexed directly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn tollgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args)
        .output()
        .expect("run tollgate")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

struct Scratch(PathBuf);
impl Scratch {
    fn new(label: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("tollgate-cli-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("keys")).expect("scratch");
        Scratch(dir)
    }
    fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const POLICY: &str = r#"
[[issuer]]
issuer = "https://issuer.example"
jwks_file = "keys/jwks.json"
audiences = ["orders-api"]
algorithms = ["ES256"]
"#;

/// A scratch dir with an ES256 key, its JWKS and the policy; returns (dir, key path, config path).
fn setup(label: &str) -> (Scratch, String, String) {
    let dir = Scratch::new(label);
    let key = dir.path("key.json");
    let out = tollgate(&[
        "keys",
        "new",
        "--alg",
        "ES256",
        "--kid",
        "k1",
        "--out",
        &key,
        "--jwks",
        &dir.path("keys/jwks.json"),
    ]);
    assert!(out.status.success(), "keys new: {}", stderr(&out));
    std::fs::write(dir.path("policy.toml"), POLICY).expect("write policy");
    let config = dir.path("policy.toml");
    (dir, key, config)
}

fn mint(key: &str, claims: &str) -> String {
    let out = tollgate(&[
        "token",
        "mint",
        "--key",
        key,
        "--claims",
        claims,
        "--expires-in",
        "300",
    ]);
    assert!(out.status.success(), "mint: {}", stderr(&out));
    stdout(&out).trim().to_string()
}

fn decision(out: &Output) -> Value {
    serde_json::from_str(stdout(out).trim())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(out)))
}

#[test]
fn check_allows_a_good_token_with_exit_0() {
    let (_dir, key, config) = setup("allow");
    let token = mint(
        &key,
        r#"{"iss":"https://issuer.example","sub":"alice","aud":"orders-api"}"#,
    );
    let out = tollgate(&[
        "check", "--config", &config, "--token", &token, "--method", "POST", "--path", "/orders",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let d = decision(&out);
    assert_eq!(d["allow"], true);
    assert_eq!(d["principal"], "alice");
    assert_eq!(d["reason"], Value::Null);
}

#[test]
fn check_denies_with_exit_1_and_a_reason() {
    let (_dir, key, config) = setup("deny");
    let token = mint(
        &key,
        r#"{"iss":"https://issuer.example","sub":"alice","aud":"billing-api"}"#,
    );
    let out = tollgate(&[
        "check",
        "--config",
        &config,
        "--token",
        &format!("Bearer {token}"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let d = decision(&out);
    assert_eq!(d["allow"], false);
    assert_eq!(d["reason"], "wrong-audience");
    assert_eq!(d["status"], 401);
    assert!(
        !stdout(&out).contains(&token),
        "the token must not be echoed"
    );
    assert!(
        !stderr(&out).contains(&token),
        "the token must not be logged"
    );
}

#[test]
fn a_token_of_non_ascii_text_is_a_malformed_deny_not_a_crash() {
    let (_dir, _key, config) = setup("non-ascii");
    // Byte 7 falls inside a multi-byte character.
    let token = "ééééééééé.secret-part.xyz";
    let out = tollgate(&["check", "--config", &config, "--token", token]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let d = decision(&out);
    assert_eq!(d["allow"], false);
    assert_eq!(d["reason"], "malformed");
    assert!(!stderr(&out).contains("secret-part"), "{}", stderr(&out));
}

#[test]
fn logs_are_json_lines_without_the_token_or_its_signature() {
    let (_dir, key, config) = setup("logs");
    let token = mint(
        &key,
        r#"{"iss":"https://issuer.example","sub":"erin","aud":"orders-api"}"#,
    );
    let tampered = format!("{}x", &token[..token.len() - 1]);
    for (t, outcome) in [(&token, "allow"), (&tampered, "deny")] {
        let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(["check", "--config", &config, "--token", t])
            .env("TOLLGATE_LOG", "debug")
            .output()
            .expect("run");
        let logs = stderr(&out);
        let lines: Vec<Value> = logs
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"))
            })
            .collect();
        assert!(
            lines.iter().any(|l| l["fields"]["outcome"] == outcome),
            "no {outcome} decision logged: {logs}"
        );
        let signature = t.rsplit('.').next().expect("segments");
        let payload = t.split('.').nth(1).expect("segments");
        assert!(
            !logs.contains(signature) && !logs.contains(payload),
            "token material in logs: {logs}"
        );
    }
}

#[test]
fn check_reads_the_token_from_stdin() {
    use std::io::Write;
    let (_dir, key, config) = setup("stdin");
    let token = mint(
        &key,
        r#"{"iss":"https://issuer.example","sub":"bob","aud":"orders-api"}"#,
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["check", "--config", &config, "--token", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(token.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(decision(&out)["principal"], "bob");
}

#[test]
fn a_bad_config_is_exit_2_naming_the_field() {
    let dir = Scratch::new("badconfig");
    std::fs::write(
        dir.path("policy.toml"),
        "[[issuer]]\nissuer = \"https://i\"\njwks_file = \"x.json\"\naudiences = [\"a\"]\nalgorithms = [\"RS257\"]\n",
    )
    .expect("write");
    let out = tollgate(&[
        "check",
        "--config",
        &dir.path("policy.toml"),
        "--token",
        "x.y.z",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("issuer[0].algorithms"), "{err}");
    assert!(err.contains("RS257"), "{err}");
}

#[test]
fn a_missing_config_file_is_exit_2() {
    let out = tollgate(&[
        "check",
        "--config",
        "/nonexistent/tollgate.toml",
        "--token",
        "x.y.z",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/nonexistent/tollgate.toml"));
}

#[test]
fn usage_errors_are_exit_2() {
    assert_eq!(tollgate(&["check"]).status.code(), Some(2));
    assert_eq!(
        tollgate(&["keys", "new", "--alg", "ES999", "--out", "/tmp/x"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn a_precompiled_module_decides_like_the_embedded_one() {
    let (dir, key, config) = setup("compile");
    let cwasm = dir.path("policy.cwasm");
    let out = tollgate(&["compile", "-o", &cwasm]);
    assert!(out.status.success(), "compile: {}", stderr(&out));
    assert!(Path::new(&cwasm).metadata().expect("written").len() > 1000);
    let token = mint(
        &key,
        r#"{"iss":"https://issuer.example","sub":"carol","aud":"orders-api"}"#,
    );
    let out = tollgate(&[
        "check", "--config", &config, "--token", &token, "--module", &cwasm,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(decision(&out)["principal"], "carol");

    // A corrupted .cwasm is refused with a clear message, not a crash.
    let mut bytes = std::fs::read(&cwasm).expect("read");
    let len = bytes.len();
    bytes.truncate(len / 2);
    std::fs::write(&cwasm, bytes).expect("write");
    let out = tollgate(&[
        "check", "--config", &config, "--token", &token, "--module", &cwasm,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("module"), "{}", stderr(&out));
}

#[test]
fn keys_new_refuses_to_overwrite() {
    let (dir, key, _config) = setup("overwrite");
    let before = std::fs::read(&key).expect("read");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).expect("stat").permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "a private key is for its owner only: {mode:o}"
        );
    }
    let out = tollgate(&[
        "keys",
        "new",
        "--alg",
        "ES256",
        "--out",
        &key,
        "--jwks",
        &dir.path("other.json"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        std::fs::read(&key).expect("read"),
        before,
        "the key file was changed"
    );
}

#[test]
fn every_demo_algorithm_mints_tokens_the_module_accepts() {
    for alg in ["RS256", "PS256", "ES384", "ES512", "EdDSA"] {
        let dir = Scratch::new(&format!("alg-{alg}"));
        let key = dir.path("key.json");
        let out = tollgate(&[
            "keys",
            "new",
            "--alg",
            alg,
            "--kid",
            "k",
            "--out",
            &key,
            "--jwks",
            &dir.path("keys/jwks.json"),
        ]);
        assert!(out.status.success(), "{alg}: {}", stderr(&out));
        std::fs::write(
            dir.path("policy.toml"),
            POLICY.replace("\"ES256\"", &format!("\"{alg}\"")),
        )
        .expect("policy");
        let token = mint(
            &key,
            r#"{"iss":"https://issuer.example","sub":"dave","aud":"orders-api"}"#,
        );
        let out = tollgate(&[
            "check",
            "--config",
            &dir.path("policy.toml"),
            "--token",
            &token,
        ]);
        assert_eq!(out.status.code(), Some(0), "{alg}: {}", stdout(&out));
    }
}

#[test]
fn the_demo_runs_with_nothing_to_write_first() {
    let out = tollgate(&["demo"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("ALLOW") || l.starts_with("DENY"))
        .collect();
    assert_eq!(lines.len(), 10, "{text}");
    assert!(
        lines[0].starts_with("ALLOW") && lines[0].contains("\"principal\":\"alice\""),
        "{}",
        lines[0]
    );
    for (line, reason) in lines[1..].iter().zip([
        "missing-token",
        "missing-token",
        "expired",
        "wrong-audience",
        "bad-signature",
        "bad-signature",
        "disallowed-algorithm",
        "insufficient-scope",
        "multiple-tokens",
    ]) {
        assert!(
            line.starts_with("DENY") && line.contains(&format!("\"reason\":\"{reason}\"")),
            "{line}"
        );
    }
    assert!(text.contains("warm decisions"), "{text}");
}

/// With `--features cross-precompile`: an aarch64 module is precompiled on
/// this machine (an AArch64 ELF), and refused here with a clear message.
#[cfg(feature = "cross-precompile")]
#[test]
fn cross_precompiles_for_aarch64() {
    let dir = Scratch::new("cross");
    let cwasm = dir.path("arm64.cwasm");
    let out = tollgate(&["compile", "--target", "aarch64", "-o", &cwasm]);
    assert!(out.status.success(), "{}", stderr(&out));
    let bytes = std::fs::read(&cwasm).expect("written");
    assert_eq!(&bytes[..4], b"\x7fELF");
    assert_eq!(
        u16::from_le_bytes([bytes[18], bytes[19]]),
        183,
        "EM_AARCH64"
    );
    if cfg!(target_arch = "x86_64") {
        let out = tollgate(&[
            "check",
            "--config",
            "/nonexistent.toml",
            "--token",
            "x",
            "--module",
            &cwasm,
        ]);
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains("aarch64"), "{}", stderr(&out));
    }
}
