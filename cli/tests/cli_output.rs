//! What the `tollgate` binary writes and prints (issue 7, items 1, 2, 4, 7
//! and 10): an HMAC secret is written once, for its owner only, never to
//! stdout; no token, signature or secret reaches the output at any log
//! level (other crates' logs included: the remote JWK Set is fetched over
//! HTTP); a usage error does not echo a header that holds a token; a 403
//! names the principal; and an oversized token is a `malformed` deny
//! (exit 1), not a module failure (exit 3).

// Tests: a failed expectation is a panic, and fixtures are indexed directly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use base64::Engine as _;
use common::{Scratch, output_within};
use serde_json::{Value, json};
use tollgate_jwks::testing::{Behaviour, TestServer};
use tollgate_keys::Algorithm;
use tollgate_keys::mint::SigningKey;

/// Run `tollgate` with `args`, `env` (and no inherited `TOLLGATE_LOG`)
/// and `stdin`, killed after 60 s.
fn run(args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Output {
    output_within(
        Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(args)
            .env_remove("TOLLGATE_LOG")
            .envs(env.iter().copied()),
        stdin,
        Duration::from_secs(60),
    )
}

/// A scratch folder with a fresh ES256 key, its JWK Set and a policy
/// trusting it (issuer `https://issuer.example`, audience `api`) plus
/// `extra` lines; returns the folder, the key and the policy's path.
fn es256_policy(label: &str, extra: &str) -> (Scratch, SigningKey, std::path::PathBuf) {
    let dir = Scratch::new(&format!("cli-output-{label}"));
    let key = SigningKey::generate(Algorithm::Es256, "k1").expect("key");
    std::fs::write(dir.path("jwks.json"), key.jwks().to_string()).expect("jwks");
    std::fs::write(
        dir.path("policy.toml"),
        format!("[[issuer]]\nissuer = \"https://issuer.example\"\njwks_file = \"jwks.json\"\naudiences = [\"api\"]\nalgorithms = [\"ES256\"]\n{extra}"),
    )
    .expect("policy");
    let config = dir.path("policy.toml");
    (dir, key, config)
}

/// `tollgate keys new --alg ALG [--kid KID] --out OUT [--jwks JWKS]`.
fn keys_new(alg: &str, kid: Option<&str>, out: &Path, jwks: Option<&Path>) -> Output {
    let mut args = vec!["keys", "new", "--alg", alg];
    if let Some(kid) = kid {
        args.extend(["--kid", kid]);
    }
    args.extend(["--out", out.to_str().expect("utf-8")]);
    if let Some(jwks) = jwks {
        args.extend(["--jwks", jwks.to_str().expect("utf-8")]);
    }
    run(&args, &[], b"")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

fn secret_forms(secret: &[u8]) -> Vec<String> {
    vec![
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret),
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(secret),
        secret.iter().map(|b| format!("{b:02x}")).collect(),
    ]
}

/// Item 1: `keys new --alg HS256` printed the secret as a "public JWKS" and
/// `--jwks` wrote it with mode 0644 (overwriting a file). Now the secret is
/// written once, 0600, as `[[issuer.secrets]]` reads it, and the printed
/// snippet configures it.
#[test]
fn an_hmac_key_is_written_once_for_its_owner_and_never_printed() {
    let dir = Scratch::new("cli-output-hmac");
    let secret_path = dir.path("h.secret");
    let out = keys_new("HS256", Some("h"), &secret_path, None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(mode(&secret_path), 0o600);
    let stored = std::fs::read_to_string(&secret_path).expect("the secret file");
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(stored.trim())
        .expect("base64url");
    assert_eq!(secret.len(), 32);
    let printed = format!("{}{}", text(&out.stdout), text(&out.stderr));
    for form in secret_forms(&secret) {
        assert!(
            !printed.contains(&form),
            "the secret was printed: {printed}"
        );
    }
    // stdout is the config snippet; with an issuer around it, it verifies
    // tokens minted with the secret file.
    let snippet = text(&out.stdout);
    assert!(snippet.contains("[[issuer.secrets]]"), "{snippet}");
    // The policy lives in another folder: the snippet names the file so
    // that it is found from there.
    std::fs::create_dir_all(dir.path("conf")).expect("conf");
    std::fs::write(
        dir.path("conf/policy.toml"),
        format!(
            "[[issuer]]\nissuer = \"urn:example:batch\"\nalgorithms = [\"HS256\"]\naudiences = [\"orders-api\"]\n\n{snippet}"
        ),
    )
    .expect("policy");
    let claims = r#"{"iss":"urn:example:batch","sub":"batch","aud":"orders-api"}"#;
    let minted = run(
        &[
            "token",
            "mint",
            "--key",
            secret_path.to_str().expect("utf-8"),
            "--alg",
            "HS256",
            "--kid",
            "h",
            "--claims",
            claims,
            "--expires-in",
            "300",
        ],
        &[],
        b"",
    );
    assert!(minted.status.success(), "{}", text(&minted.stderr));
    let token = text(&minted.stdout).trim().to_string();
    let check = run(
        &[
            "check",
            "--config",
            dir.path("conf/policy.toml").to_str().expect("utf-8"),
            "--token",
            "-",
        ],
        &[],
        token.as_bytes(),
    );
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stdout));
    // An empty kid would give a snippet the policy refuses: refused first.
    let nameless = dir.path("nameless.secret");
    let out = keys_new("HS256", Some(""), &nameless, None);
    assert_eq!(out.status.code(), Some(2));
    assert!(!nameless.exists());
    // Without --alg, a secret file is not guessed at.
    let no_alg = run(
        &[
            "token",
            "mint",
            "--key",
            secret_path.to_str().expect("utf-8"),
            "--claims",
            claims,
        ],
        &[],
        b"",
    );
    assert_eq!(no_alg.status.code(), Some(2));
    assert!(
        text(&no_alg.stderr).contains("--alg"),
        "{}",
        text(&no_alg.stderr)
    );

    // --jwks for an HMAC key: refused before anything is written.
    let other = dir.path("other.secret");
    let jwks = dir.path("jwks.json");
    let out = keys_new("HS384", None, &other, Some(&jwks));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no public part"),
        "{}",
        text(&out.stderr)
    );
    assert!(!other.exists() && !jwks.exists());
    assert!(out.stdout.is_empty());
}

/// Item 1, the asymmetric side: `--jwks` overwrote an existing file while
/// `--out` refused to. Both refuse now, before anything is written.
#[test]
fn keys_new_overwrites_neither_file_and_writes_nothing_when_one_exists() {
    let dir = Scratch::new("cli-output-overwrite");
    let key = dir.path("key.json");
    let jwks = dir.path("jwks.json");
    std::fs::write(&jwks, "{\"keys\": []}\n").expect("an existing JWKS");
    let out = keys_new("ES256", None, &key, Some(&jwks));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("refusing to overwrite"));
    assert_eq!(
        std::fs::read_to_string(&jwks).expect("jwks"),
        "{\"keys\": []}\n"
    );
    assert!(
        !key.exists(),
        "the key was written although the command failed"
    );
    // A JWK Set that cannot be written (no such folder): the key written
    // just before is taken back, so the command wrote nothing.
    let out = keys_new("ES256", None, &key, Some(&dir.path("missing/jwks.json")));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(!key.exists(), "a key was left without its JWK Set");
    // With a fresh name both are written: the key 0600, the public JWKS
    // readable, and it holds no private member.
    std::fs::remove_file(&jwks).expect("remove");
    let out = keys_new("ES256", None, &key, Some(&jwks));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(mode(&key), 0o600);
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(&jwks).expect("jwks")).expect("JSON");
    assert!(doc["keys"][0].get("d").is_none(), "{doc}");
}

/// Item 4: `--header` without a colon echoed the argument (the token).
#[test]
fn a_header_without_a_colon_is_not_echoed() {
    let key = SigningKey::generate(Algorithm::Es256, "k").expect("key");
    let token = key.sign_jwt(&json!({"sub": "x"}), None).expect("token");
    let out = run(
        &[
            "check",
            "--config",
            "/nonexistent/policy.toml",
            "--token",
            "x.y.z",
            "--header",
            &format!("Bearer {token}"),
        ],
        &[],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("--header #1"), "{stderr}");
    let signature = token.rsplit('.').next().expect("segments");
    assert!(
        !stderr.contains(signature) && !stderr.contains(&token[..40]),
        "{stderr}"
    );
}

fn policy_dir(server: &TestServer, key: &SigningKey, secret: &[u8]) -> Scratch {
    let dir = Scratch::new("cli-output-logs");
    server.set("/jwks", Behaviour::json(&key.jwks()));
    std::fs::write(dir.path("hs.secret"), secret).expect("secret");
    std::fs::write(
        dir.path("policy.toml"),
        format!(
            r#"[[issuer]]
issuer = "https://issuer.example"
jwks_uri = "{}"
audiences = ["orders-api"]
algorithms = ["ES256"]

[[issuer]]
issuer = "urn:example:batch"
audiences = ["orders-api"]
algorithms = ["HS256"]

[[issuer.secrets]]
kid = "hs"
file = "hs.secret"
algorithm = "HS256"
"#,
            server.url("/jwks")
        ),
    )
    .expect("policy");
    dir
}

/// Item 2, for the CLI: at every level, and with filters enabling the HTTP
/// and TLS stacks at `trace`, no token, signature or secret is printed,
/// and no other crate logs below `warn`.
#[test]
fn the_cli_never_prints_a_token_or_secret_at_any_log_level() {
    let server = TestServer::start();
    let es = SigningKey::generate(Algorithm::Es256, "k1").expect("key");
    let secret = b"a-48-byte-secret-for-the-cli-log-tests-0123456789";
    let hs = SigningKey::from_secret(Algorithm::Hs256, "hs", secret).expect("hs key");
    let dir = policy_dir(&server, &es, secret);
    let config = dir.path("policy.toml");
    let now = tollgate_host::clock::unix_now();
    let claims =
        |iss: &str| json!({"iss": iss, "sub": "alice", "aud": "orders-api", "exp": now + 300});
    let good_es = es
        .sign_jwt(&claims("https://issuer.example"), None)
        .expect("token");
    let good_hs = hs
        .sign_jwt(&claims("urn:example:batch"), None)
        .expect("token");
    let forged = SigningKey::generate(Algorithm::Es256, "k1")
        .expect("key")
        .sign_jwt(&claims("https://issuer.example"), None)
        .expect("token");
    let tokens = [&good_es, &good_hs, &forged];
    for level in [
        "error",
        "warn",
        "info",
        "debug",
        "trace",
        "trace,reqwest=trace,hyper=trace,hyper_util=trace,rustls=trace,h2=trace,tokio=trace",
    ] {
        let mut printed = String::new();
        let mut answers = 0;
        for (token, code) in [(&good_es, 0), (&good_hs, 0), (&forged, 1)] {
            let out = run(
                &[
                    "check",
                    "--config",
                    config.to_str().expect("utf-8"),
                    "--token",
                    token,
                    "--header",
                    &format!("authorization: Bearer {token}"),
                ],
                &[("TOLLGATE_LOG", level)],
                b"",
            );
            assert_eq!(
                out.status.code(),
                Some(code),
                "{level}: {}",
                text(&out.stderr)
            );
            answers += 1;
            printed.push_str(&text(&out.stdout));
            printed.push_str(&text(&out.stderr));
            for line in text(&out.stderr).lines() {
                let line: Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("{level}: not a JSON log line ({e}): {line}"));
                let target = line["target"].as_str().unwrap_or_default();
                let own = tollgate_host::logging::is_own_target(target);
                assert!(
                    own || matches!(line["level"].as_str(), Some("WARN" | "ERROR")),
                    "{level}: another crate logged below warn: {line}"
                );
            }
        }
        // The usage error holding a token, too.
        let out = run(
            &[
                "check",
                "--config",
                config.to_str().expect("utf-8"),
                "--token",
                "-",
                "--header",
                &good_hs,
            ],
            &[("TOLLGATE_LOG", level)],
            good_es.as_bytes(),
        );
        assert_eq!(out.status.code(), Some(2));
        printed.push_str(&text(&out.stderr));
        assert_eq!(answers, 3);
        for token in tokens {
            let signature = token.rsplit('.').next().expect("segments");
            assert!(
                !printed.contains(token.as_str()),
                "{level}: a token was printed:\n{printed}"
            );
            assert!(
                !printed.contains(signature),
                "{level}: a signature was printed:\n{printed}"
            );
        }
        for form in secret_forms(secret) {
            assert!(
                !printed.contains(&form),
                "{level}: the secret was printed:\n{printed}"
            );
        }
        assert!(
            !printed.contains(&String::from_utf8_lossy(secret).into_owned()),
            "{level}: the secret was printed:\n{printed}"
        );
        // Not vacuous: from info on, the decisions are logged.
        if !matches!(level, "error" | "warn") {
            assert!(
                printed.contains("\"outcome\":\"allow\""),
                "{level}:\n{printed}"
            );
        }
    }
    assert!(server.hits("/jwks") >= 1);
}

/// Item 10: a 70 MB token through the CLI hit the module's memory cap and
/// answered 500 (exit 3). The host refuses it as `malformed` (401, exit 1)
/// before the module sees it; a token at the host's limit still reaches the
/// module, which applies the policy's own (smaller) limit.
#[test]
fn an_oversized_token_is_a_malformed_deny_not_a_module_failure() {
    let (_dir, _key, config) = es256_policy("oversized", "");
    let limit = tollgate_host::request_limits::DEFAULT_MAX_CREDENTIAL_BYTES;
    for (size, from_host) in [(70 * 1024 * 1024, true), (limit + 1, true), (limit, false)] {
        let token = "A".repeat(size);
        let out = run(
            &[
                "check",
                "--config",
                config.to_str().expect("utf-8"),
                "--token",
                "-",
            ],
            &[],
            token.as_bytes(),
        );
        assert_eq!(out.status.code(), Some(1), "{size}: {}", text(&out.stderr));
        let decision: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(decision["reason"], "malformed", "{size}: {decision}");
        assert_eq!(decision["status"], 401);
        let detail = decision["detail"].as_str().unwrap_or_default();
        assert_eq!(
            detail.contains("host's limit"),
            from_host,
            "{size}: {detail}"
        );
    }
}

/// Item 7, as `check` prints it: a 403 names the authenticated principal;
/// a 401 names none.
#[test]
fn a_forbidden_decision_names_the_principal() {
    let (_dir, key, config) = es256_policy("forbidden", "required_scopes = [\"orders.read\"]\n");
    let now = tollgate_host::clock::unix_now();
    for (scope, exp, status, principal) in [
        ("profile", now + 300, 403, json!("carol")),
        ("orders.read", now - 600, 401, Value::Null),
    ] {
        let token = key
            .sign_jwt(
                &json!({"iss": "https://issuer.example", "sub": "carol", "aud": "api", "scope": scope, "exp": exp}),
                None,
            )
            .expect("token");
        let out = run(
            &[
                "check",
                "--config",
                config.to_str().expect("utf-8"),
                "--token",
                &token,
            ],
            &[],
            b"",
        );
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        let decision: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(decision["status"], status, "{decision}");
        assert_eq!(decision["principal"], principal, "{decision}");
    }
}
