//! `tollgate bundle` and `tollgate serve --bundle-source` as processes, on
//! the example bundle `examples/bundles/orders`: keys, build (its tests
//! gate the write), sign, verify, inspect, diff; then a server that swaps
//! bundles published to a watched file, rolls back through the admin port,
//! keeps its bundle when a broken one is published, and stops on SIGTERM.
//! See docs/bundles.md.

// Tests: a failed expectation is a panic, and fixtures are indexed directly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::serving::Serving;
use common::{Scratch, output_within};
use serde_json::Value;
use tollgate_bundle::{Bundle, BundleBuilder, ReadLimits, sha256_hex};

/// The example bundle folder.
fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/bundles/orders")
}

/// Run `tollgate <args>` in `dir` with extra environment variables (and
/// TOLLGATE_BUNDLE_KEY_PASSWORD removed unless given), killed after 180 s.
fn tollgate_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tollgate"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("TOLLGATE_LOG")
        .env_remove("TOLLGATE_BUNDLE_KEY_PASSWORD");
    for (name, value) in env {
        command.env(name, value);
    }
    output_within(&mut command, b"", Duration::from_secs(180))
}

fn tollgate(dir: &Path, args: &[&str]) -> Output {
    tollgate_env(dir, args, &[])
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Both streams, for assertion messages.
fn both(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

fn succeeded(out: &Output) -> &Output {
    assert_eq!(out.status.code(), Some(0), "{}", both(out));
    out
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Copy a folder recursively.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Replace `from` (which must occur) by `to` in the file at `path`.
fn edit(path: &Path, from: &str, to: &str) {
    let content = std::fs::read_to_string(path).unwrap();
    assert!(content.contains(from), "{} has no {from:?}", path.display());
    std::fs::write(path, content.replacen(from, to, 1)).unwrap();
}

/// Turn a copy of the example into revision 2: `GET /catalog/*` becomes
/// public (a widening) and cancelling an order needs `orders.admin`
/// instead of `orders.write` (a narrowing). Its own cases still pass.
fn make_revision_2(dir: &Path) {
    edit(&dir.join("bundle.toml"), "revision = 1", "revision = 2");
    edit(
        &dir.join("policy.toml"),
        "path = \"/orders/{id}\"\nscopes = [\"orders.write\"]",
        "path = \"/orders/{id}\"\nscopes = [\"orders.admin\"]",
    );
    let policy = dir.join("policy.toml");
    let mut content = std::fs::read_to_string(&policy).unwrap();
    content.push_str(
        "\n[[route]]\nname = \"catalog\"\nmethods = [\"GET\"]\npath = \"/catalog/*\"\npublic = true\n",
    );
    std::fs::write(policy, content).unwrap();
}

/// The key id `tollgate bundle keygen` printed.
fn key_id(keygen: &Output) -> String {
    let stderr = text(&keygen.stderr);
    stderr
        .trim_end()
        .rsplit("key id ")
        .next()
        .unwrap()
        .to_string()
}

/// The 64-hex digest a `bundle build` or `sign` printed last on stderr.
fn printed_digest(out: &Output) -> String {
    let stderr = text(&out.stderr);
    let digest = stderr.trim_end().rsplit("digest ").next().unwrap().trim();
    assert_eq!(digest.len(), 64, "{stderr}");
    assert!(digest.chars().all(|c| c.is_ascii_hexdigit()), "{stderr}");
    digest.to_string()
}

fn inspect_json(dir: &Path, bundle: &Path) -> Value {
    let out = tollgate(dir, &["bundle", "inspect", "--json", s(bundle)]);
    succeeded(&out);
    serde_json::from_slice(&out.stdout).expect("inspect --json prints JSON")
}

/// Write an unencrypted key pair `<name>.pub` / `<name>.key` in `dir`;
/// its key id.
fn keypair(dir: &Path, name: &str) -> String {
    let out = tollgate(
        dir,
        &[
            "bundle",
            "keygen",
            "--public",
            &format!("{name}.pub"),
            "--secret",
            &format!("{name}.key"),
            "--unencrypted",
        ],
    );
    key_id(succeeded(&out))
}

#[test]
fn keygen_writes_minisign_keys_encrypted_or_not_and_never_overwrites() {
    let scratch = Scratch::new("bundle-keygen");
    let dir = &scratch.0;

    let plain = tollgate(
        dir,
        &[
            "bundle",
            "keygen",
            "--public",
            "plain.pub",
            "--secret",
            "plain.key",
            "--unencrypted",
        ],
    );
    succeeded(&plain);
    let id = key_id(&plain);
    assert_eq!(id.len(), 16, "{}", both(&plain));
    // A minisign public key file: the comment names the key id, then `RW…`.
    let public = std::fs::read_to_string(scratch.path("plain.pub")).unwrap();
    let lines: Vec<&str> = public.lines().collect();
    assert_eq!(
        lines[0],
        format!("untrusted comment: minisign public key: {id}")
    );
    assert!(
        lines[1].starts_with("RW") && lines[1].len() == 56,
        "{public}"
    );
    let secret = std::fs::read_to_string(scratch.path("plain.key")).unwrap();
    assert!(secret.contains("unencrypted"), "{secret}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(scratch.path("plain.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the secret key is private");
    }

    // With a password from the environment, the secret key is encrypted.
    let encrypted = tollgate_env(
        dir,
        &[
            "bundle", "keygen", "--public", "enc.pub", "--secret", "enc.key",
        ],
        &[("TOLLGATE_BUNDLE_KEY_PASSWORD", "correct horse")],
    );
    succeeded(&encrypted);
    let secret = std::fs::read_to_string(scratch.path("enc.key")).unwrap();
    assert!(secret.contains("(encrypted)"), "{secret}");
    assert_ne!(key_id(&encrypted), id);

    // Neither a password nor --unencrypted: refused, nothing written.
    let neither = tollgate(
        dir,
        &["bundle", "keygen", "--public", "n.pub", "--secret", "n.key"],
    );
    assert_eq!(neither.status.code(), Some(2), "{}", both(&neither));
    assert!(
        text(&neither.stderr).contains("TOLLGATE_BUNDLE_KEY_PASSWORD"),
        "{}",
        both(&neither)
    );
    assert!(!scratch.path("n.pub").exists() && !scratch.path("n.key").exists());

    // An empty password would make an "encrypted" key anyone can use.
    let empty = tollgate_env(
        dir,
        &["bundle", "keygen", "--public", "e.pub", "--secret", "e.key"],
        &[("TOLLGATE_BUNDLE_KEY_PASSWORD", "")],
    );
    assert_eq!(empty.status.code(), Some(2), "{}", both(&empty));
    assert!(text(&empty.stderr).contains("is empty"), "{}", both(&empty));
    assert!(!scratch.path("e.pub").exists() && !scratch.path("e.key").exists());

    // Never overwritten: neither both files, nor one of them.
    let before_public = std::fs::read(scratch.path("plain.pub")).unwrap();
    let before_secret = std::fs::read(scratch.path("plain.key")).unwrap();
    for (public, secret) in [
        ("plain.pub", "plain.key"),
        ("other.pub", "plain.key"),
        ("plain.pub", "other.key"),
    ] {
        let again = tollgate(
            dir,
            &[
                "bundle",
                "keygen",
                "--public",
                public,
                "--secret",
                secret,
                "--unencrypted",
            ],
        );
        assert_eq!(again.status.code(), Some(2), "{}", both(&again));
        assert!(
            text(&again.stderr).contains("not overwritten"),
            "{}",
            both(&again)
        );
    }
    assert!(!scratch.path("other.pub").exists() && !scratch.path("other.key").exists());
    assert_eq!(
        std::fs::read(scratch.path("plain.pub")).unwrap(),
        before_public
    );
    assert_eq!(
        std::fs::read(scratch.path("plain.key")).unwrap(),
        before_secret
    );
}

#[test]
fn build_inspect_sign_and_verify_the_example() {
    let scratch = Scratch::new("bundle-build");
    let dir = &scratch.0;
    let example = example();
    let id = keypair(dir, "signer");
    let other_id = keypair(dir, "other");
    let encrypted = tollgate_env(
        dir,
        &[
            "bundle", "keygen", "--public", "enc.pub", "--secret", "enc.key",
        ],
        &[("TOLLGATE_BUNDLE_KEY_PASSWORD", "s3cret")],
    );
    let enc_id = key_id(succeeded(&encrypted));

    // Build: every case passes, the file is written, its digest printed.
    let built = tollgate(
        dir,
        &[
            "bundle",
            "build",
            s(&example),
            "-o",
            "orders.bundle",
            "--deadline-ms",
            "10000",
        ],
    );
    succeeded(&built);
    let stderr = text(&built.stderr);
    assert!(
        stderr.contains("orders revision 1, 11 test cases passed, not signed"),
        "{stderr}"
    );
    let digest = printed_digest(&built);
    let bytes = std::fs::read(scratch.path("orders.bundle")).unwrap();
    assert_eq!(
        sha256_hex(&bytes),
        digest,
        "the digest is the file's SHA-256"
    );

    // Inspect, text: name, revision, every part with its digest.
    let inspect = tollgate(dir, &["bundle", "inspect", "orders.bundle"]);
    let listing = text(&succeeded(&inspect).stdout);
    assert!(
        listing.starts_with("bundle orders revision 1\n"),
        "{listing}"
    );
    assert!(listing.contains(&digest), "{listing}");
    assert!(listing.contains("signature none"), "{listing}");
    let policy = std::fs::read(example.join("policy.toml")).unwrap();
    let jwks = std::fs::read(example.join("files/jwks.json")).unwrap();
    let tests = std::fs::read(example.join("tests/orders.test.toml")).unwrap();
    for (part, content) in [
        ("policy.toml", &policy),
        ("files/jwks.json", &jwks),
        ("tests/orders.test.toml", &tests),
    ] {
        let line = listing
            .lines()
            .find(|l| l.contains(&format!(" {part} ")))
            .unwrap_or_else(|| panic!("no {part} in {listing}"));
        assert!(line.contains(&sha256_hex(content)), "{line}");
    }
    assert!(listing.contains("module.wasm"), "{listing}");
    assert!(!listing.contains("artifact"), "{listing}");

    // Inspect, JSON: the manifest and digests.
    let manifest = inspect_json(dir, &scratch.path("orders.bundle"));
    assert_eq!(manifest["name"], "orders");
    assert_eq!(manifest["revision"], 1);
    assert_eq!(manifest["format"], 1);
    assert_eq!(manifest["digest"], digest.as_str());
    assert_eq!(manifest["signature"], Value::Null);
    let parts = manifest["parts"].as_array().unwrap();
    let kinds: Vec<&str> = parts.iter().map(|p| p["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["module", "policy", "test", "file"], "{manifest:#}");
    for part in parts {
        let sha = part["sha256"].as_str().unwrap();
        assert!(
            sha.len() == 64 && sha.chars().all(|c| c.is_ascii_hexdigit()),
            "{part}"
        );
        assert!(part["size"].as_u64().unwrap() > 0, "{part}");
    }
    assert_eq!(parts[1]["sha256"], sha256_hex(&policy).as_str());
    assert_eq!(parts[3]["path"], "files/jwks.json");
    assert_eq!(parts[3]["sha256"], sha256_hex(&jwks).as_str());

    // Unsigned: verify refuses it.
    let unsigned = tollgate(
        dir,
        &["bundle", "verify", "orders.bundle", "--key", "signer.pub"],
    );
    assert_eq!(unsigned.status.code(), Some(2), "{}", both(&unsigned));
    assert!(
        text(&unsigned.stderr).contains("not signed"),
        "{}",
        both(&unsigned)
    );

    // Sign to another file: the original stays unsigned.
    let signed = tollgate(
        dir,
        &[
            "bundle",
            "sign",
            "orders.bundle",
            "--key",
            "signer.key",
            "-o",
            "signed.bundle",
        ],
    );
    succeeded(&signed);
    assert_eq!(
        std::fs::read(scratch.path("orders.bundle")).unwrap(),
        bytes,
        "-o leaves the input alone"
    );
    let signed_digest = printed_digest(&signed);
    assert_ne!(signed_digest, digest);

    // Verify with the right key: exit 0, the key id printed.
    let verified = tollgate(
        dir,
        &["bundle", "verify", "signed.bundle", "--key", "signer.pub"],
    );
    let line = text(&succeeded(&verified).stdout);
    assert!(line.contains(&format!("signature ok (key {id})")), "{line}");
    assert!(line.contains("orders revision 1"), "{line}");
    assert!(line.contains(&signed_digest), "{line}");
    // A key given as its `RW…` line, beside another trusted key (rotation).
    let public_line = std::fs::read_to_string(scratch.path("signer.pub"))
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    let rotated = tollgate(
        dir,
        &[
            "bundle",
            "verify",
            "signed.bundle",
            "--key",
            "other.pub",
            "--key",
            &public_line,
        ],
    );
    succeeded(&rotated);

    // The wrong key: refused, naming the untrusted signer.
    let wrong = tollgate(
        dir,
        &["bundle", "verify", "signed.bundle", "--key", "other.pub"],
    );
    assert_eq!(wrong.status.code(), Some(2), "{}", both(&wrong));
    let message = text(&wrong.stderr);
    assert!(message.contains("not a trusted key"), "{message}");
    assert!(message.contains(&id), "{message}");
    assert!(!message.contains(&other_id), "{message}");

    // Inspect shows the signer, without verifying.
    let manifest = inspect_json(dir, &scratch.path("signed.bundle"));
    assert_eq!(manifest["signature"]["key_id"], id.as_str());
    assert_eq!(
        manifest["signature"]["trusted_comment"],
        "tollgate bundle orders revision 1 wit ".to_string() + manifest["wit"].as_str().unwrap()
    );

    // Tampered with after signing: a part no longer matches the manifest.
    let mut tampered = std::fs::read(scratch.path("signed.bundle")).unwrap();
    let at = tampered
        .windows(b"orders.write".len())
        .position(|w| w == b"orders.write")
        .unwrap();
    tampered[at] = b'O';
    std::fs::write(scratch.path("tampered.bundle"), &tampered).unwrap();
    let refused = tollgate(
        dir,
        &["bundle", "verify", "tampered.bundle", "--key", "signer.pub"],
    );
    assert_eq!(refused.status.code(), Some(2), "{}", both(&refused));

    // An encrypted key signs only with its password; in place.
    std::fs::copy(
        scratch.path("orders.bundle"),
        scratch.path("enc-signed.bundle"),
    )
    .unwrap();
    let no_password = tollgate(
        dir,
        &["bundle", "sign", "enc-signed.bundle", "--key", "enc.key"],
    );
    assert_eq!(no_password.status.code(), Some(2), "{}", both(&no_password));
    assert!(
        text(&no_password.stderr).contains("encrypted"),
        "{}",
        both(&no_password)
    );
    let wrong_password = tollgate_env(
        dir,
        &["bundle", "sign", "enc-signed.bundle", "--key", "enc.key"],
        &[("TOLLGATE_BUNDLE_KEY_PASSWORD", "guess")],
    );
    assert_eq!(
        wrong_password.status.code(),
        Some(2),
        "{}",
        both(&wrong_password)
    );
    assert_eq!(
        std::fs::read(scratch.path("enc-signed.bundle")).unwrap(),
        bytes,
        "a failed sign leaves the bundle alone"
    );
    succeeded(&tollgate_env(
        dir,
        &["bundle", "sign", "enc-signed.bundle", "--key", "enc.key"],
        &[("TOLLGATE_BUNDLE_KEY_PASSWORD", "s3cret")],
    ));
    let verified = tollgate(
        dir,
        &["bundle", "verify", "enc-signed.bundle", "--key", "enc.pub"],
    );
    assert!(
        text(&succeeded(&verified).stdout).contains(&format!("(key {enc_id})")),
        "{}",
        both(&verified)
    );

    // Build, precompile for this machine's architecture and sign at once:
    // the artifact is a part of its own, with its target and engine.
    let arch = std::env::consts::ARCH;
    let with_artifact = tollgate(
        dir,
        &[
            "bundle",
            "build",
            s(&example),
            "-o",
            "orders-native.bundle",
            "--target",
            arch,
            "--sign",
            "signer.key",
            "--deadline-ms",
            "10000",
        ],
    );
    succeeded(&with_artifact);
    assert!(
        text(&with_artifact.stderr).contains("passed, signed"),
        "{}",
        both(&with_artifact)
    );
    let manifest = inspect_json(dir, &scratch.path("orders-native.bundle"));
    let artifact = manifest["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "artifact")
        .unwrap_or_else(|| panic!("no artifact in {manifest:#}"));
    let target = artifact["target"].as_str().unwrap();
    assert!(target.starts_with(&format!("{arch}-")), "{artifact}");
    assert_eq!(
        artifact["path"],
        format!("artifacts/{target}.cwasm").as_str()
    );
    assert!(
        artifact["engine"].as_str().unwrap().contains(target),
        "{artifact}"
    );
    assert_eq!(manifest["signature"]["key_id"], id.as_str());
    succeeded(&tollgate(
        dir,
        &[
            "bundle",
            "verify",
            "orders-native.bundle",
            "--key",
            "signer.pub",
        ],
    ));
}

#[test]
fn build_writes_nothing_when_a_case_fails_or_the_folder_is_wrong() {
    let scratch = Scratch::new("bundle-build-refused");
    let dir = &scratch.0;

    // A case that fails: the report names the folder's file, and nothing
    // is written.
    let failing = scratch.path("failing");
    copy_dir(&example(), &failing);
    let tests = failing.join("tests/orders.test.toml");
    let mut content = std::fs::read_to_string(&tests).unwrap();
    content.push_str(
        "\n[[case]]\nname = \"health is closed (wrong)\"\npath = \"/health\"\ntoken = false\nexpect = { decision = \"deny\", reason = \"missing-token\" }\n",
    );
    std::fs::write(&tests, content).unwrap();
    let out = tollgate(
        dir,
        &[
            "bundle",
            "build",
            "failing",
            "-o",
            "failing.bundle",
            "--deadline-ms",
            "10000",
        ],
    );
    assert_ne!(out.status.code(), Some(0), "{}", both(&out));
    assert!(!scratch.path("failing.bundle").exists(), "written anyway");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("FAIL failing/tests/orders.test.toml: health is closed (wrong)"),
        "the report names the file in the folder built from:\n{}",
        both(&out)
    );
    assert!(!stdout.contains("tollgate-bundle-tests"), "{}", both(&out));
    assert!(
        text(&out.stderr).contains("not written: 11 of 12 test cases passed"),
        "{}",
        both(&out)
    );

    // A folder without any case.
    let untested = scratch.path("untested");
    copy_dir(&example(), &untested);
    std::fs::remove_dir_all(untested.join("tests")).unwrap();
    let out = tollgate(
        dir,
        &["bundle", "build", "untested", "-o", "untested.bundle"],
    );
    assert_ne!(out.status.code(), Some(0), "{}", both(&out));
    assert!(!scratch.path("untested.bundle").exists());
    assert!(
        text(&out.stderr).contains("untested: no test cases"),
        "{}",
        both(&out)
    );

    // An unknown bundle.toml field is named, with its line.
    let unknown = scratch.path("unknown");
    copy_dir(&example(), &unknown);
    let config = unknown.join("bundle.toml");
    let mut content = std::fs::read_to_string(&config).unwrap();
    content.push_str("colour = \"blue\"\n");
    std::fs::write(&config, content).unwrap();
    let out = tollgate(dir, &["bundle", "build", "unknown", "-o", "unknown.bundle"]);
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    assert!(!scratch.path("unknown.bundle").exists());
    let message = text(&out.stderr);
    assert!(message.contains("bundle.toml"), "{message}");
    assert!(message.contains("unknown field `colour`"), "{message}");
    assert!(message.contains("line 5"), "{message}");

    // A test file that names another policy than the bundle's.
    let elsewhere = scratch.path("elsewhere");
    copy_dir(&example(), &elsewhere);
    let tests = elsewhere.join("tests/orders.test.toml");
    let content = std::fs::read_to_string(&tests).unwrap();
    std::fs::write(&tests, format!("config = \"../../other.toml\"\n{content}")).unwrap();
    let out = tollgate(
        dir,
        &["bundle", "build", "elsewhere", "-o", "elsewhere.bundle"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    assert!(!scratch.path("elsewhere.bundle").exists());
    assert!(
        text(&out.stderr).contains("../policy.toml"),
        "{}",
        both(&out)
    );
}

/// Recorded requests for `bundle diff`: their expectations are not judged.
const RECORDED: &str = r#"
now = 1767225600

[token]
claims = { sub = "alice", aud = "orders-api", scope = "orders.read orders.write" }

[[case]]
name = "the catalog without a token"
path = "/catalog/shoes"
token = false
expect = { decision = "deny" }

[[case]]
name = "a writer cancels an order"
method = "DELETE"
path = "/orders/42"
expect = { decision = "allow" }

[[case]]
name = "a reader reads an order"
path = "/orders/42"
expect = { decision = "allow" }

[[case]]
name = "health"
path = "/health"
token = false
expect = { decision = "allow" }
"#;

#[test]
fn diff_prints_the_changed_cases_and_marks_widenings() {
    let scratch = Scratch::new("bundle-diff");
    let dir = &scratch.0;
    let revision_2 = scratch.path("orders-2");
    copy_dir(&example(), &revision_2);
    make_revision_2(&revision_2);
    std::fs::create_dir(scratch.path("recorded")).unwrap();
    std::fs::write(scratch.path("recorded/traffic.test.toml"), RECORDED).unwrap();
    let example = example();
    for (folder, output) in [
        (s(&example), "one.bundle"),
        (s(&example), "one-again.bundle"),
        ("orders-2", "two.bundle"),
    ] {
        succeeded(&tollgate(
            dir,
            &[
                "bundle",
                "build",
                folder,
                "-o",
                output,
                "--deadline-ms",
                "10000",
            ],
        ));
    }

    let out = tollgate(
        dir,
        &[
            "bundle",
            "diff",
            "one.bundle",
            "two.bundle",
            "--cases",
            "recorded",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert_eq!(
        lines[0],
        "recorded/traffic.test.toml `the catalog without a token`: deny (missing-token) -> allow  (widening: the new bundle allows what the old denied)"
    );
    assert_eq!(
        lines[1],
        "recorded/traffic.test.toml `a writer cancels an order`: allow -> deny (insufficient-scope)"
    );
    assert_eq!(
        lines[2],
        "2 of 4 cases decided differently (old orders revision 1, new orders revision 2)"
    );

    let out = tollgate(
        dir,
        &[
            "bundle",
            "diff",
            "one.bundle",
            "two.bundle",
            "--cases",
            "recorded/traffic.test.toml",
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["cases"], 4);
    assert_eq!(report["old"]["revision"], 1);
    assert_eq!(report["new"]["revision"], 2);
    let differences = report["differences"].as_array().unwrap();
    assert_eq!(differences.len(), 2, "{report:#}");
    assert_eq!(differences[0]["case"], "the catalog without a token");
    assert_eq!(differences[0]["widening"], true);
    assert_eq!(differences[0]["old"]["status"], 401);
    assert_eq!(differences[0]["new"]["rule"], "catalog");
    assert_eq!(differences[1]["case"], "a writer cancels an order");
    assert_eq!(differences[1]["widening"], false);
    assert_eq!(differences[1]["new"]["reason"], "insufficient-scope");

    // The same policy in two builds: they agree on every case.
    let out = tollgate(
        dir,
        &[
            "bundle",
            "diff",
            "one.bundle",
            "one-again.bundle",
            "--cases",
            "recorded",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert_eq!(
        text(&out.stdout),
        "0 of 4 cases decided differently (old orders revision 1, new orders revision 1)\n"
    );

    // With --key, an unsigned bundle is refused before any case runs.
    keypair(dir, "signer");
    let out = tollgate(
        dir,
        &[
            "bundle",
            "diff",
            "one.bundle",
            "two.bundle",
            "--cases",
            "recorded",
            "--key",
            "signer.pub",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    assert!(text(&out.stderr).contains("not signed"), "{}", both(&out));
}

/// An nginx `auth_request` subrequest for `method uri`: the status code
/// and the whole response.
fn nginx(addr: &str, method: &str, uri: &str, token: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut request = format!(
        "GET /auth HTTP/1.1\r\nHost: tollgate\r\nConnection: close\r\nX-Original-Method: {method}\r\nX-Original-URI: {uri}\r\n"
    );
    if let Some(token) = token {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    (status, response)
}

/// `tollgate bundle status`, parsed.
fn status(dir: &Path, admin: &str) -> Value {
    let out = tollgate(dir, &["bundle", "status", "--admin", admin]);
    serde_json::from_slice(&succeeded(&out).stdout).expect("status prints JSON")
}

/// Publish `bundle` at `target` the way a publisher should: written beside
/// it, then renamed over it.
fn publish(bundle: &Path, target: &Path) {
    let temporary = target.with_extension("partial");
    std::fs::copy(bundle, &temporary).unwrap();
    std::fs::rename(&temporary, target).unwrap();
}

/// Wait (at most `limit`) until `check` holds; how long it took.
fn wait_for(limit: Duration, what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    loop {
        if check() {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "not within {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `bundle` rebuilt as `revision` with a case its policy fails (what `bundle
/// build` refuses to write, but a publisher could upload anyway).
fn with_failing_case(bundle: &Path, revision: u64, output: &Path) {
    let bytes = std::fs::read(bundle).unwrap();
    let bundle = Bundle::read(&bytes, &ReadLimits::default()).unwrap();
    let manifest = bundle.manifest();
    let mut builder = BundleBuilder::new(
        manifest.name.clone(),
        revision,
        manifest.wit.clone(),
        manifest.created.clone(),
        bundle.module().to_vec(),
        bundle.policy(),
    );
    for (path, content) in bundle.tests() {
        let health = "expect = { decision = \"allow\", status = 200, rule = \"health\" }";
        assert!(content.contains(health), "{content}");
        builder = builder.test(
            path,
            content.replace(
                health,
                "expect = { decision = \"deny\", reason = \"missing-token\" }",
            ),
        );
    }
    for (path, content) in bundle.files() {
        builder = builder.file(path, content.to_vec());
    }
    std::fs::write(output, builder.to_bytes().unwrap()).unwrap();
}

#[test]
fn serve_swaps_in_published_bundles_rolls_back_and_keeps_its_bundle_when_one_is_broken() {
    let scratch = Scratch::new("bundle-serve");
    let dir = &scratch.0;

    // The example with an issuer key of our own, so real tokens can be
    // minted; its JWK Set travels in the bundle as files/jwks.json.
    let one = scratch.path("orders-1");
    copy_dir(&example(), &one);
    std::fs::remove_file(one.join("files/jwks.json")).unwrap();
    succeeded(&tollgate(
        dir,
        &[
            "keys",
            "new",
            "--alg",
            "ES256",
            "--kid",
            "orders-test",
            "--out",
            "issuer.key",
            "--jwks",
            "orders-1/files/jwks.json",
        ],
    ));
    let two = scratch.path("orders-2");
    copy_dir(&one, &two);
    make_revision_2(&two);
    // Revision 5: a JWK Set the host cannot load (the cases never read it,
    // so `bundle build` takes it; the host refuses it at `configure`).
    let five = scratch.path("orders-5");
    copy_dir(&two, &five);
    edit(&five.join("bundle.toml"), "revision = 2", "revision = 5");
    std::fs::write(five.join("files/jwks.json"), "{\"keys\": [").unwrap();
    let trusted = keypair(dir, "bundles");
    let stranger = keypair(dir, "stranger");
    for (folder, output, key) in [
        ("orders-1", "one.bundle", "bundles.key"),
        ("orders-2", "two.bundle", "bundles.key"),
        ("orders-2", "four.bundle", "stranger.key"),
        ("orders-5", "five.bundle", "bundles.key"),
    ] {
        let mut args = vec![
            "bundle",
            "build",
            folder,
            "-o",
            output,
            "--sign",
            key,
            "--deadline-ms",
            "10000",
        ];
        if output == "four.bundle" {
            args.extend(["--revision", "4"]);
        }
        succeeded(&tollgate(dir, &args));
    }
    // Revision 3: signed by the trusted key, but a case of its own fails.
    with_failing_case(
        &scratch.path("two.bundle"),
        3,
        &scratch.path("three.bundle"),
    );
    succeeded(&tollgate(
        dir,
        &["bundle", "sign", "three.bundle", "--key", "bundles.key"],
    ));
    let digest_of = |name: &str| sha256_hex(&std::fs::read(scratch.path(name)).unwrap());

    let mint = |claims: &str| {
        let out = tollgate(
            dir,
            &[
                "token",
                "mint",
                "--key",
                "issuer.key",
                "--claims",
                claims,
                "--expires-in",
                "3600",
            ],
        );
        text(&succeeded(&out).stdout).trim().to_string()
    };
    let reader = mint(
        r#"{"iss": "https://issuer.example", "sub": "alice", "aud": "orders-api", "scope": "orders.read", "email": "alice@example.com"}"#,
    );
    let writer = mint(
        r#"{"iss": "https://issuer.example", "sub": "bob", "aud": "orders-api", "scope": "orders.write"}"#,
    );

    std::fs::create_dir(scratch.path("published")).unwrap();
    let source = scratch.path("published/orders.bundle");
    publish(&scratch.path("one.bundle"), &source);

    let started = Instant::now();
    let mut serving = Serving::start(
        dir,
        &[
            "--bundle-source",
            "published/orders.bundle",
            "--bundle-name",
            "orders",
            "--bundle-key",
            "bundles.pub",
            "--bundle-state-dir",
            "state",
            // Only the file watch can see a change within this test.
            "--bundle-interval-seconds",
            "3600",
            // `tollgate bundle rollback` below.
            "--admin-bundle-actions",
            "--nginx",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
            "--deadline-ms",
            "10000",
        ],
    );
    let first = serving.line_with("tollgate serve: bundle ");
    assert!(
        first.starts_with("tollgate serve: bundle orders revision 1 (published/orders.bundle)"),
        "{first}"
    );
    let (addr, admin) = serving.addresses();
    println!("serve: ready in {:?}", started.elapsed());
    // The last good bundle is kept in the private state folder.
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(scratch.path("state"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the state folder is private");
    }

    // Revision 1 answers.
    let (code, response) = nginx(&addr, "GET", "/orders/42", Some(&reader));
    assert_eq!(code, 200, "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("x-auth-principal: alice"),
        "{response}"
    );
    assert_eq!(nginx(&addr, "GET", "/health", None).0, 200);
    assert_eq!(nginx(&addr, "GET", "/orders/42", None).0, 401);
    assert_eq!(nginx(&addr, "GET", "/catalog/shoes", None).0, 401);
    assert_eq!(nginx(&addr, "DELETE", "/orders/42", Some(&writer)).0, 200);
    let (code, response) = nginx(&addr, "POST", "/orders", Some(&reader));
    assert_eq!(code, 403, "{response}");
    assert!(response.contains("insufficient_scope"), "{response}");
    let status_1 = status(dir, &admin);
    assert_eq!(status_1["active"]["revision"], 1, "{status_1:#}");
    assert_eq!(
        status_1["active"]["digest"],
        digest_of("one.bundle").as_str()
    );

    // Revision 2, renamed over the source: the watch sees it.
    let published = Instant::now();
    publish(&scratch.path("two.bundle"), &source);
    let took = wait_for(Duration::from_secs(20), "revision 2 answers", || {
        nginx(&addr, "GET", "/catalog/shoes", None).0 == 200
    });
    println!(
        "serve: revision 2 answered {took:?} after it was published (file watch, module from the artifact cache)"
    );
    assert!(
        published.elapsed() < Duration::from_secs(10),
        "the watch took {took:?}"
    );
    // Every answer is revision 2's now: the writer may no longer cancel.
    assert_eq!(nginx(&addr, "DELETE", "/orders/42", Some(&writer)).0, 403);
    assert_eq!(nginx(&addr, "GET", "/orders/42", Some(&reader)).0, 200);
    let out = tollgate(dir, &["bundle", "status", "--admin", &admin]);
    let status_2: Value = serde_json::from_slice(&succeeded(&out).stdout).unwrap();
    assert_eq!(status_2["active"]["revision"], 2, "{status_2:#}");
    assert_eq!(
        status_2["active"]["digest"],
        digest_of("two.bundle").as_str()
    );
    assert_eq!(status_2["active"]["name"], "orders");
    assert_eq!(status_2["previous"]["revision"], 1, "{status_2:#}");
    assert_eq!(status_2["last_failure"], Value::Null, "{status_2:#}");

    // Rollback through the admin port: revision 1 answers at once.
    let out = tollgate(dir, &["bundle", "rollback", "--admin", &admin]);
    let rolled: Value = serde_json::from_slice(&succeeded(&out).stdout).unwrap();
    assert_eq!(rolled["active"]["revision"], 1, "{rolled:#}");
    assert_eq!(rolled["rollbacks"], 1, "{rolled:#}");
    assert_eq!(nginx(&addr, "GET", "/catalog/shoes", None).0, 401);
    assert_eq!(nginx(&addr, "DELETE", "/orders/42", Some(&writer)).0, 200);
    assert_eq!(status(dir, &admin)["active"]["revision"], 1);

    // Broken bundles never answer; each is the last failure, with its step.
    let mut failures = 0;
    for (bundle, step) in [
        ("three.bundle", "tests"),
        ("four.bundle", "signature"),
        ("five.bundle", "configure"),
    ] {
        let digest = digest_of(bundle);
        publish(&scratch.path(bundle), &source);
        let mut last = Value::Null;
        wait_for(Duration::from_secs(20), bundle, || {
            last = status(dir, &admin);
            last["last_failure"]["digest"] == digest.as_str()
        });
        failures += 1;
        let failure = &last["last_failure"];
        assert_eq!(failure["step"], step, "{last:#}");
        assert_eq!(
            failure["previous_digest"],
            digest_of("one.bundle").as_str(),
            "{last:#}"
        );
        let reason = failure["reason"].as_str().unwrap();
        assert!(!reason.is_empty(), "{last:#}");
        if step == "signature" {
            assert!(reason.contains(&stranger), "{last:#}");
            assert!(!reason.contains(&trusted), "{last:#}");
        }
        assert_eq!(last["failures"][step], 1, "{last:#}");
        assert_eq!(last["active"]["revision"], 1, "{last:#}");
        assert_eq!(nginx(&addr, "GET", "/catalog/shoes", None).0, 401);
        assert_eq!(nginx(&addr, "GET", "/orders/42", Some(&reader)).0, 200);
    }
    let last = status(dir, &admin);
    let counted: u64 = last["failures"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(counted, failures, "{last:#}");
    assert!(
        last["last_failure"]["reason"]
            .as_str()
            .unwrap()
            .contains("JWK Set is not valid JSON"),
        "{last:#}"
    );
    let out = tollgate(dir, &["bundle", "status", "--admin", &admin]);
    assert!(
        text(&out.stdout).contains("\"step\":\"configure\""),
        "{}",
        both(&out)
    );

    // SIGTERM: a clean stop, nothing listening.
    let exit = serving.terminate();
    assert!(exit.success(), "exit {exit:?}");
    serving.line_with("tollgate serve: stopped");
    assert!(TcpStream::connect(&addr).is_err(), "still listening");
    assert!(TcpStream::connect(&admin).is_err(), "admin still listening");
}

#[test]
fn serve_refuses_sources_it_could_not_trust() {
    let scratch = Scratch::new("bundle-serve-refused");
    let dir = &scratch.0;
    let refused = |args: &[&str]| {
        let mut all = vec!["serve", "--nginx", "127.0.0.1:0", "--admin", "127.0.0.1:0"];
        all.extend(args);
        let out = tollgate(dir, &all);
        assert_eq!(out.status.code(), Some(2), "{}", both(&out));
        text(&out.stderr)
    };

    // A remote source without a trusted key, with or without
    // --bundle-allow-unsigned (local files only).
    for extra in [&[][..], &["--bundle-allow-unsigned"][..]] {
        let mut args = vec![
            "--bundle-source",
            "https://bundles.example.com/orders.bundle",
            "--bundle-name",
            "orders",
            "--bundle-state-dir",
            "remote-state",
        ];
        args.extend(extra);
        let message = refused(&args);
        assert!(
            message.contains("remote but no trusted bundle key is configured"),
            "{message}"
        );
        assert!(message.contains("--bundle-key"), "{message}");
    }

    // A local file, no key, and unsigned bundles not allowed explicitly.
    succeeded(&tollgate(
        dir,
        &[
            "bundle",
            "build",
            s(&example()),
            "-o",
            "orders.bundle",
            "--deadline-ms",
            "10000",
        ],
    ));
    let message = refused(&[
        "--bundle-source",
        "orders.bundle",
        "--bundle-name",
        "orders",
        "--bundle-state-dir",
        "file-state",
    ]);
    assert!(
        message.contains("no trusted bundle key is configured"),
        "{message}"
    );
    assert!(message.contains("--bundle-allow-unsigned"), "{message}");

    // No --bundle-name.
    let message = refused(&[
        "--bundle-source",
        "orders.bundle",
        "--bundle-allow-unsigned",
    ]);
    assert!(message.contains("--bundle-name"), "{message}");

    // A bundle of another name, and no fallback policy: nothing answers.
    let message = refused(&[
        "--bundle-source",
        "orders.bundle",
        "--bundle-name",
        "billing",
        "--bundle-allow-unsigned",
        "--bundle-state-dir",
        "billing-state",
    ]);
    assert!(message.contains("billing"), "{message}");

    // Explicitly allowed, the unsigned local bundle answers.
    let mut serving = Serving::start(
        dir,
        &[
            "--bundle-source",
            "orders.bundle",
            "--bundle-name",
            "orders",
            "--bundle-allow-unsigned",
            "--bundle-state-dir",
            "unsigned-state",
            "--nginx",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
            "--deadline-ms",
            "10000",
        ],
    );
    let (addr, admin) = serving.addresses();
    assert_eq!(nginx(&addr, "GET", "/health", None).0, 200);
    assert_eq!(nginx(&addr, "GET", "/orders/1", None).0, 401);
    assert_eq!(status(dir, &admin)["active"]["revision"], 1);
    // Without --admin-bundle-actions the admin port does not roll back.
    let out = tollgate(dir, &["bundle", "rollback", "--admin", &admin]);
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    assert!(
        text(&out.stdout).contains("--admin-bundle-actions"),
        "{}",
        both(&out)
    );
    assert!(serving.terminate().success());
}
