//! The build folder: `BundleSource::from_dir` and what it refuses.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::path::Path;

use tollgate_bundle::{Artifact, Bundle, BundleError, BundleSource, ReadLimits};

const CREATED: &str = "2026-12-01T06:00:00Z";

fn write(dir: &Path, path: &str, bytes: &[u8]) {
    let path = dir.join(path);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

/// A complete build folder.
fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "bundle.toml",
        br#"name = "orders-api"
revision = 7
targets = ["x86_64", "aarch64"]

[[declared_change]]
methods = ["GET"]
path = "/reports/*"
from = "forbidden"
note = "reports opened to all staff"
"#,
    );
    write(d, "policy.toml", b"[issuer.main]\n");
    write(
        d,
        "tests/orders.test.toml",
        b"config = \"../policy.toml\"\n[[case]]\nname = \"a\"\n",
    );
    write(
        d,
        "tests/deep/admin.test.toml",
        b"config = \"../../policy.toml\"\n",
    );
    write(
        d,
        "tests/plain.test.toml",
        b"[[case]]\nname = \"no config\"\n",
    );
    write(d, "files/keys/jwks.json", b"{\"keys\":[]}");
    write(d, "files/allow.txt", b"alice\n");
    write(d, "README.md", b"other top-level files are not read");
    dir
}

fn build(dir: &Path) -> Vec<u8> {
    let source = BundleSource::from_dir(dir).unwrap();
    let module = source.module().unwrap_or(b"default module").to_vec();
    let artifacts = source
        .targets()
        .iter()
        .map(|target| Artifact {
            target: target.clone(),
            engine: format!("engine-{target}"),
            bytes: [module.as_slice(), target.as_bytes()].concat(),
        })
        .collect();
    source
        .into_builder(
            Some(b"default module".to_vec()),
            "0.5.0",
            artifacts,
            CREATED,
        )
        .unwrap()
        .to_bytes()
        .unwrap()
}

#[test]
fn reads_a_folder() {
    let dir = folder();
    let source = BundleSource::from_dir(dir.path()).unwrap();
    assert_eq!(source.config.name, "orders-api");
    assert_eq!(source.config.revision, 7);
    assert_eq!(source.targets(), ["x86_64", "aarch64"]);
    assert!(source.module().is_none());
    let tests: Vec<_> = source.tests.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        tests,
        [
            "tests/deep/admin.test.toml",
            "tests/orders.test.toml",
            "tests/plain.test.toml"
        ]
    );
    let files: Vec<_> = source.files.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(files, ["files/allow.txt", "files/keys/jwks.json"]);

    let bytes = build(dir.path());
    let bundle = Bundle::read(&bytes, &ReadLimits::default()).unwrap();
    assert_eq!(bundle.module(), b"default module");
    assert_eq!(
        bundle.manifest().declared_changes[0].note,
        "reports opened to all staff"
    );
    assert_eq!(
        bundle.artifact_for("aarch64", "engine-aarch64"),
        Some(&b"default moduleaarch64"[..])
    );
    assert_eq!(bundle.policy(), "[issuer.main]\n");
    // Deterministic from the folder too.
    assert_eq!(bytes, build(dir.path()));
    // Extracting gives back a folder that reads the same (less bundle.toml).
    let out = tempfile::tempdir().unwrap();
    bundle.extract_to(out.path()).unwrap();
    fs::copy(
        dir.path().join("bundle.toml"),
        out.path().join("bundle.toml"),
    )
    .unwrap();
    assert_eq!(build(out.path()), bytes);
}

#[test]
fn the_module_bundle_toml_names() {
    let dir = folder();
    write(dir.path(), "build/policy.wasm", b"the folder's module");
    let config = fs::read_to_string(dir.path().join("bundle.toml")).unwrap();
    write(
        dir.path(),
        "bundle.toml",
        config
            .replace(
                "revision = 7",
                "revision = 7\nmodule = \"build/policy.wasm\"",
            )
            .as_bytes(),
    );
    let source = BundleSource::from_dir(dir.path()).unwrap();
    assert_eq!(source.module(), Some(&b"the folder's module"[..]));
    let builder = source
        .into_builder(Some(b"default".to_vec()), "0.5.0", Vec::new(), CREATED)
        .unwrap();
    assert_eq!(builder.module, b"the folder's module");
    // Without a module anywhere.
    let source = BundleSource::from_dir(folder().path()).unwrap();
    let error = source
        .into_builder(None, "0.5.0", Vec::new(), CREATED)
        .unwrap_err();
    assert!(matches!(error, BundleError::ModuleMissing), "{error}");
    // A WIT version that is not x.y.z.
    let source = BundleSource::from_dir(folder().path()).unwrap();
    let error = source
        .into_builder(Some(Vec::new()), "0.5", Vec::new(), CREATED)
        .unwrap_err();
    assert!(matches!(error, BundleError::InvalidWit { .. }), "{error}");
}

#[test]
fn refuses_unknown_fields_in_bundle_toml() {
    let dir = folder();
    write(
        dir.path(),
        "bundle.toml",
        b"name = \"a\"\nrevision = 1\nrevison = 2\n",
    );
    let error = BundleSource::from_dir(dir.path()).unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, BundleError::BundleToml { .. }), "{text}");
    assert!(text.contains("revison"), "{text}");
    assert!(text.contains("line 3"), "{text}");

    write(
        dir.path(),
        "bundle.toml",
        b"name = \"a\"\nrevision = 1\n[[declared_change]]\nmethods = [\"GET\"]\npath = \"/x\"\nfrom = \"forbidden\"\nwhy = \"?\"\n",
    );
    let text = BundleSource::from_dir(dir.path()).unwrap_err().to_string();
    assert!(text.contains("why"), "{text}");
}

#[test]
fn refuses_invalid_bundle_toml_values() {
    for (config, expected) in [
        ("name = \"Orders\"\nrevision = 1\n", "invalid bundle name"),
        ("name = \"a\"\nrevision = -1\n", "bundle.toml"),
        ("name = \"a\"\n", "revision"),
        (
            "name = \"a\"\nrevision = 1\ntargets = [\"../x\"]\n",
            "invalid target",
        ),
        (
            "name = \"a\"\nrevision = 1\n[[declared_change]]\nmethods = []\npath = \"/x\"\nfrom = \"forbidden\"\n",
            "declared_change",
        ),
        (
            "name = \"a\"\nrevision = 1\n[[declared_change]]\nmethods = [\"GET\"]\npath = \"x\"\nfrom = \"forbidden\"\n",
            "start with '/'",
        ),
    ] {
        let dir = folder();
        write(dir.path(), "bundle.toml", config.as_bytes());
        let text = BundleSource::from_dir(dir.path()).unwrap_err().to_string();
        assert!(text.contains(expected), "{config}: {text}");
    }
}

#[test]
fn refuses_missing_files() {
    let dir = folder();
    fs::remove_file(dir.path().join("policy.toml")).unwrap();
    let error = BundleSource::from_dir(dir.path()).unwrap_err();
    assert!(matches!(error, BundleError::MissingFile { .. }), "{error}");
    let dir = folder();
    fs::remove_file(dir.path().join("bundle.toml")).unwrap();
    let error = BundleSource::from_dir(dir.path()).unwrap_err();
    assert!(matches!(error, BundleError::MissingFile { .. }), "{error}");
    let dir = folder();
    write(
        dir.path(),
        "bundle.toml",
        b"name = \"a\"\nrevision = 1\nmodule = \"nope.wasm\"\n",
    );
    let error = BundleSource::from_dir(dir.path()).unwrap_err();
    assert!(matches!(error, BundleError::Io { .. }), "{error}");
}

#[test]
fn refuses_tests_that_name_another_policy() {
    for (path, config) in [
        ("tests/a.test.toml", "policy.toml"),
        ("tests/a.test.toml", "../other.toml"),
        ("tests/a.test.toml", "/etc/policy.toml"),
        ("tests/deep/a.test.toml", "../policy.toml"),
    ] {
        let dir = folder();
        write(
            dir.path(),
            path,
            format!("config = {config:?}\n").as_bytes(),
        );
        let error = BundleSource::from_dir(dir.path()).unwrap_err();
        assert!(
            matches!(error, BundleError::TestConfig { .. }),
            "{path} {config}: {error}"
        );
        assert!(error.to_string().contains("remove `config`"), "{error}");
    }
    let dir = folder();
    write(dir.path(), "tests/a.test.toml", b"config = 3\n");
    let error = BundleSource::from_dir(dir.path()).unwrap_err();
    assert!(matches!(error, BundleError::TestConfig { .. }), "{error}");
    let dir = folder();
    write(dir.path(), "tests/a.test.toml", b"config = \n");
    let error = BundleSource::from_dir(dir.path()).unwrap_err();
    assert!(matches!(error, BundleError::TestToml { .. }), "{error}");
    let dir = folder();
    write(dir.path(), "tests/notes.md", b"# notes\n");
    let error = BundleSource::from_dir(dir.path()).unwrap_err();
    assert!(matches!(error, BundleError::NotATestFile { .. }), "{error}");
}

#[cfg(unix)]
#[test]
fn refuses_symlinks() {
    use std::os::unix::fs::symlink;
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "secret", b"not for the bundle");
    for link in [
        "files/secret",
        "tests/x.test.toml",
        "files",
        "tests",
        "policy.toml",
        "bundle.toml",
    ] {
        let dir = folder();
        let at = dir.path().join(link);
        if at.is_dir() {
            fs::remove_dir_all(&at).unwrap();
        } else if at.exists() {
            fs::remove_file(&at).unwrap();
        }
        let target = if link == "files" || link == "tests" {
            outside.path().to_path_buf()
        } else {
            outside.path().join("secret")
        };
        symlink(&target, &at).unwrap();
        let error = BundleSource::from_dir(dir.path()).unwrap_err();
        assert!(
            matches!(error, BundleError::Symlink { .. }),
            "{link}: {error}"
        );
    }
}

#[test]
fn caps_the_total_size() {
    let dir = folder();
    write(dir.path(), "files/big.bin", &vec![7u8; 10_000]);
    let error = BundleSource::from_dir_with_limit(dir.path(), 9_000).unwrap_err();
    assert!(
        matches!(error, BundleError::SourceTooLarge { max: 9_000 }),
        "{error}"
    );
    BundleSource::from_dir_with_limit(dir.path(), 11_000).unwrap();
}

#[test]
fn refuses_text_that_is_not_utf8() {
    let dir = folder();
    write(dir.path(), "policy.toml", b"\xff\xfe");
    let error = BundleSource::from_dir(dir.path()).unwrap_err();
    assert!(matches!(error, BundleError::NotUtf8 { .. }), "{error}");
}
