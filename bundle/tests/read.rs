//! Build → read round trips, determinism, extraction, and every refusal of
//! the reader, with archives crafted by hand.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::Read;

use common::{ENGINE, POLICY, Raw, assemble, entries, manifest_of, part, sample, sample_bytes};
use serde_json::json;
use tollgate_bundle::{Bundle, BundleDigest, BundleError, PartKind, ReadLimits};

fn read(bytes: &[u8]) -> Result<Bundle, BundleError> {
    Bundle::read(bytes, &ReadLimits::default())
}

fn refusal(bytes: &[u8]) -> BundleError {
    let error = read(bytes).expect_err("the bundle should be refused");
    // Every refusal says what to do or what was wrong, never a bare word.
    assert!(error.to_string().len() > 30, "{error}");
    error
}

#[test]
fn round_trip() {
    let bytes = sample_bytes();
    let bundle = read(&bytes).unwrap();
    assert_eq!(*bundle.digest(), BundleDigest::of(&bytes));
    assert_eq!(bundle.size(), bytes.len() as u64);
    let m = bundle.manifest();
    assert_eq!(
        (m.format, m.name.as_str(), m.revision),
        (1, "orders-api", 42)
    );
    assert_eq!(
        (m.wit.as_str(), m.created.as_str()),
        ("0.5.0", "2026-12-01T06:00:00Z")
    );
    assert_eq!(bundle.module(), b"\0asm\x0d\0\x01\0 a component");
    assert_eq!(
        bundle.module_sha256(),
        tollgate_bundle::sha256_hex(bundle.module())
    );
    assert_eq!(bundle.policy(), POLICY);
    assert_eq!(
        bundle.artifact_for("x86_64-unknown-linux-gnu", ENGINE),
        Some(&b"precompiled x86_64"[..])
    );
    assert_eq!(
        bundle.artifact_for("x86_64-unknown-linux-gnu", "other engine"),
        None
    );
    assert_eq!(bundle.artifact_for("riscv64", ENGINE), None);
    assert_eq!(bundle.artifacts().count(), 2);
    let tests: Vec<_> = bundle.tests().map(|(path, _)| path).collect();
    assert_eq!(
        tests,
        ["tests/admin/admin.test.toml", "tests/orders.test.toml"]
    );
    let files: Vec<_> = bundle.files().collect();
    assert_eq!(
        files,
        [
            ("files/allow.txt", &b"alice\nbob\n"[..]),
            ("files/keys/jwks.json", &b"{\"keys\":[]}"[..])
        ]
    );
    let kinds: Vec<_> = bundle.parts().map(|(_, kind, _)| kind).collect();
    use PartKind::*;
    assert_eq!(
        kinds,
        [Module, Artifact, Artifact, Policy, Test, Test, File, File]
    );
    assert_eq!(m.declared_changes.len(), 1);
    assert!(bundle.signature().is_none());
    assert!(bundle.signature_key_id().is_none());
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(bundle.manifest_bytes()).unwrap()["name"],
        "orders-api"
    );
}

#[test]
fn deterministic() {
    let first = sample_bytes();
    assert_eq!(first, sample_bytes());
    // The order inputs are given in does not matter.
    let mut shuffled = sample();
    shuffled.tests.reverse();
    shuffled.files.reverse();
    shuffled.artifacts.reverse();
    assert_eq!(first, shuffled.to_bytes().unwrap());
    // `created` is the only thing that changes between builds.
    let mut later = sample();
    later.created = "2026-12-02T06:00:00Z".to_owned();
    assert_ne!(first, later.to_bytes().unwrap());
    // Every entry: mtime 0, uid/gid 0, mode 0644, no owner names, regular.
    let mut archive = tar::Archive::new(first.as_slice());
    let mut paths = Vec::new();
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let header = entry.header();
        assert_eq!(header.mtime().unwrap(), 0);
        assert_eq!((header.uid().unwrap(), header.gid().unwrap()), (0, 0));
        assert_eq!(header.mode().unwrap(), 0o644);
        assert_eq!(header.username().unwrap(), Some(""));
        assert!(header.entry_type().is_file());
        assert!(header.as_ustar().is_some(), "a POSIX ustar header");
        paths.push(String::from_utf8(entry.path_bytes().into_owned()).unwrap());
    }
    assert_eq!(paths[0], "manifest.json");
    assert_eq!(paths[1], "module.wasm");
    assert_eq!(paths[2], "artifacts/aarch64-unknown-linux-gnu.cwasm");
}

#[test]
fn long_paths_round_trip() {
    let long = format!("files/{}/{}.json", "d".repeat(120), "f".repeat(100));
    let bytes = sample()
        .file(long.clone(), b"x".to_vec())
        .to_bytes()
        .unwrap();
    let bundle = read(&bytes).unwrap();
    assert!(bundle.files().any(|(path, _)| path == long));
    let too_long = format!("files/{}", "f".repeat(250));
    let error = sample()
        .file(too_long, b"x".to_vec())
        .to_bytes()
        .unwrap_err();
    assert!(matches!(error, BundleError::InvalidPath { .. }), "{error}");
}

#[test]
fn builder_refuses_what_the_reader_refuses() {
    let mut bad = sample();
    bad.name = "Orders API".to_owned();
    assert!(matches!(
        bad.to_bytes(),
        Err(BundleError::InvalidName { .. })
    ));
    let mut bad = sample();
    bad.wit = "0.5".to_owned();
    assert!(matches!(
        bad.to_bytes(),
        Err(BundleError::InvalidWit { .. })
    ));
    let bad = sample().test("tests/x.toml", "");
    assert!(matches!(
        bad.to_bytes(),
        Err(BundleError::WrongFolder { .. })
    ));
    let bad = sample().file("files/../module.wasm", Vec::new());
    assert!(matches!(
        bad.to_bytes(),
        Err(BundleError::InvalidPath { .. })
    ));
    let bad = sample().file("files/allow.txt", Vec::new());
    assert!(matches!(
        bad.to_bytes(),
        Err(BundleError::DuplicateEntry { .. })
    ));
    let mut bad = sample();
    bad.artifacts[0].target = "../x".to_owned();
    assert!(matches!(
        bad.to_bytes(),
        Err(BundleError::InvalidTarget { .. })
    ));
    let mut bad = sample();
    bad.artifacts[1].target = bad.artifacts[0].target.clone();
    let error = bad.to_bytes().unwrap_err();
    assert!(
        matches!(
            error,
            BundleError::DuplicateEntry { .. } | BundleError::DuplicateArtifact { .. }
        ),
        "{error}"
    );
}

#[test]
fn refuses_over_the_size_cap() {
    let bytes = sample_bytes();
    let limits = ReadLimits {
        max_bytes: bytes.len() as u64 - 1,
    };
    let error = Bundle::read(&bytes, &limits).unwrap_err();
    assert!(matches!(error, BundleError::TooLarge { .. }), "{error}");
    Bundle::read(
        &bytes,
        &ReadLimits {
            max_bytes: bytes.len() as u64,
        },
    )
    .unwrap();
}

#[test]
fn refuses_what_is_not_a_tar() {
    let error = refusal(&[0x42; 2048]);
    assert!(matches!(error, BundleError::NotTar { .. }), "{error}");
    let error = refusal(b"");
    assert!(
        matches!(error, BundleError::ManifestNotFirst { .. }),
        "{error}"
    );
    // Truncated in the middle of a part.
    let bytes = sample_bytes();
    let error = refusal(&bytes[..1200]);
    assert!(
        matches!(
            error,
            BundleError::NotTar { .. } | BundleError::MissingPart { .. }
        ),
        "{error}"
    );
}

#[test]
fn refuses_a_manifest_that_is_not_first() {
    let mut list = entries(&sample_bytes());
    list.swap(0, 1);
    let error = refusal(&assemble(&list));
    assert!(
        matches!(error, BundleError::ManifestNotFirst { ref found } if found == "module.wasm"),
        "{error}"
    );
}

#[test]
fn refuses_unsafe_paths() {
    for path in [
        "../evil",
        "files/../../evil",
        "/etc/passwd",
        "files//x",
        "files/./x",
        "files\\x",
        "files/x/",
    ] {
        let mut list = entries(&sample_bytes());
        list.push(Raw::file(path, b"x"));
        let error = refusal(&assemble(&list));
        assert!(
            matches!(error, BundleError::InvalidPath { .. }),
            "{path}: {error}"
        );
        // Even as the first entry.
        let error = refusal(&assemble(&[Raw::file(path, b"x")]));
        assert!(
            matches!(error, BundleError::InvalidPath { .. }),
            "{path}: {error}"
        );
    }
    // A NUL in the middle of a name field: tar ends the name there, so the
    // path read is "files/a", which the manifest does not list.
    let mut list = entries(&sample_bytes());
    list.push(Raw {
        path: b"files/a\0/../../x".to_vec(),
        ..Raw::file("", b"x")
    });
    let error = refusal(&assemble(&list));
    assert!(matches!(error, BundleError::ExtraEntry { .. }), "{error}");
    // Not UTF-8.
    let mut list = entries(&sample_bytes());
    list.push(Raw {
        path: b"files/\xff".to_vec(),
        ..Raw::file("", b"x")
    });
    let error = refusal(&assemble(&list));
    assert!(matches!(error, BundleError::InvalidPath { .. }), "{error}");
}

#[test]
fn refuses_entries_that_are_not_regular_files() {
    for (entry_type, name) in [
        (tar::EntryType::Symlink, "symbolic link"),
        (tar::EntryType::Link, "hard link"),
        (tar::EntryType::Directory, "folder"),
        (tar::EntryType::Char, "character device"),
        (tar::EntryType::Fifo, "FIFO"),
    ] {
        let mut list = entries(&sample_bytes());
        // In place of a listed part, pointing out of the folder.
        let at = list
            .iter()
            .position(|e| e.path() == "files/allow.txt")
            .unwrap();
        list[at] = Raw {
            entry_type,
            data: Vec::new(),
            link: Some(b"/etc/passwd".to_vec()),
            ..Raw::file("files/allow.txt", b"")
        };
        let error = refusal(&assemble(&list));
        assert!(
            matches!(error, BundleError::NotRegular { ref entry_type, .. } if entry_type == name),
            "{error}"
        );
    }
}

#[test]
fn refuses_duplicate_entries() {
    let mut list = entries(&sample_bytes());
    let module = list[1].clone();
    list.push(module);
    let error = refusal(&assemble(&list));
    assert!(
        matches!(error, BundleError::DuplicateEntry { ref path } if path == "module.wasm"),
        "{error}"
    );

    let mut list = entries(&sample_bytes());
    let manifest = list[0].clone();
    list.insert(1, manifest);
    let error = refusal(&assemble(&list));
    assert!(
        matches!(error, BundleError::DuplicateEntry { ref path } if path == "manifest.json"),
        "{error}"
    );

    // A part written twice in a row (the second where the next part goes).
    let mut list = entries(&sample_bytes());
    let policy_at = list.iter().position(|e| e.path() == "policy.toml").unwrap();
    let policy = list[policy_at].clone();
    list.insert(policy_at, policy);
    let error = refusal(&assemble(&list));
    assert!(
        matches!(error, BundleError::DuplicateEntry { .. }),
        "{error}"
    );
}

#[test]
fn refuses_entries_the_manifest_does_not_list() {
    let mut list = entries(&sample_bytes());
    list.push(Raw::file("files/extra.txt", b"smuggled"));
    let error = refusal(&assemble(&list));
    assert!(
        matches!(error, BundleError::ExtraEntry { ref path } if path == "files/extra.txt"),
        "{error}"
    );
    // Also in the middle.
    let mut list = entries(&sample_bytes());
    list.insert(2, Raw::file("files/extra.txt", b"smuggled"));
    let error = refusal(&assemble(&list));
    assert!(matches!(error, BundleError::ExtraEntry { .. }), "{error}");
}

#[test]
fn refuses_missing_and_misordered_parts() {
    let mut list = entries(&sample_bytes());
    let last = list.pop().unwrap();
    let error = refusal(&assemble(&list));
    assert!(
        matches!(error, BundleError::MissingPart { ref path } if *path == last.path()),
        "{error}"
    );

    let mut list = entries(&sample_bytes());
    let n = list.len();
    list.swap(n - 1, n - 2);
    let error = refusal(&assemble(&list));
    assert!(matches!(error, BundleError::OutOfOrder { .. }), "{error}");
}

#[test]
fn refuses_size_and_digest_mismatches() {
    let mut list = entries(&sample_bytes());
    let at = list.iter().position(|e| e.path() == "policy.toml").unwrap();
    list[at].data[0] ^= 1;
    let error = refusal(&assemble(&list));
    assert!(
        matches!(error, BundleError::DigestMismatch { ref path, .. } if path == "policy.toml"),
        "{error}"
    );

    let mut list = entries(&sample_bytes());
    list[1].data.push(0);
    let error = refusal(&assemble(&list));
    assert!(
        matches!(error, BundleError::SizeMismatch { ref path, .. } if path == "module.wasm"),
        "{error}"
    );
}

#[test]
fn refuses_invalid_manifests() {
    use common::with_manifest;
    type Expected = fn(&BundleError) -> bool;
    let cases: Vec<(Vec<u8>, Expected)> = vec![
        (with_manifest(|m| m["format"] = json!(2)), |e| {
            matches!(e, BundleError::UnknownFormat { format: 2, .. })
        }),
        (with_manifest(|m| m["name"] = json!("")), |e| {
            matches!(e, BundleError::InvalidName { .. })
        }),
        (with_manifest(|m| m["name"] = json!("../orders")), |e| {
            matches!(e, BundleError::InvalidName { .. })
        }),
        (with_manifest(|m| m["wit"] = json!("0.5")), |e| {
            matches!(e, BundleError::InvalidWit { .. })
        }),
        (with_manifest(|m| m["wit"] = json!("latest")), |e| {
            matches!(e, BundleError::InvalidWit { .. })
        }),
        (with_manifest(|m| m["surprise"] = json!(true)), |e| {
            matches!(e, BundleError::ManifestInvalid { .. })
        }),
        (
            with_manifest(|m| m["parts"][1]["signed_by"] = json!("x")),
            |e| matches!(e, BundleError::ManifestInvalid { .. }),
        ),
        (
            with_manifest(|m| m["parts"][1]["kind"] = json!("plugin")),
            |e| matches!(e, BundleError::ManifestInvalid { .. }),
        ),
        (
            with_manifest(|m| m["parts"][1]["sha256"] = json!("ABC")),
            |e| matches!(e, BundleError::InvalidField { .. }),
        ),
        // Two modules (the second listed as a file's kind turned module).
        (
            with_manifest(|m| m["parts"][6]["kind"] = json!("module")),
            |e| {
                matches!(
                    e,
                    BundleError::PartCount {
                        kind: "module",
                        count: 2
                    }
                )
            },
        ),
        (
            with_manifest(|m| m["parts"][3]["kind"] = json!("file")),
            |e| {
                matches!(
                    e,
                    BundleError::PartCount {
                        kind: "policy",
                        count: 0
                    }
                )
            },
        ),
        // An artifact without target or engine, another part with them.
        (
            with_manifest(|m| {
                m["parts"][1].as_object_mut().unwrap().remove("engine");
            }),
            |e| matches!(e, BundleError::ArtifactFields { .. }),
        ),
        (
            with_manifest(|m| {
                m["parts"][2].as_object_mut().unwrap().remove("target");
            }),
            |e| matches!(e, BundleError::ArtifactFields { .. }),
        ),
        (
            with_manifest(|m| m["parts"][6]["target"] = json!("x86_64")),
            |e| matches!(e, BundleError::ArtifactFields { .. }),
        ),
        (
            with_manifest(|m| m["parts"][2]["target"] = m["parts"][1]["target"].clone()),
            |e| matches!(e, BundleError::DuplicateArtifact { .. }),
        ),
        // Parts outside their kind's folder.
        (
            with_manifest(|m| m["parts"][4]["kind"] = json!("file")),
            |e| matches!(e, BundleError::WrongFolder { .. }),
        ),
        (
            with_manifest(|m| m["parts"][6]["kind"] = json!("test")),
            |e| matches!(e, BundleError::WrongFolder { .. }),
        ),
        (
            with_manifest(|m| m["parts"][6]["path"] = json!("../allow.txt")),
            |e| matches!(e, BundleError::InvalidPath { .. }),
        ),
        (
            with_manifest(|m| m["parts"][7]["path"] = m["parts"][6]["path"].clone()),
            |e| matches!(e, BundleError::DuplicateEntry { .. }),
        ),
        (
            with_manifest(|m| m["declared_changes"][0]["methods"] = json!([])),
            |e| matches!(e, BundleError::InvalidField { .. }),
        ),
        (with_manifest(|m| m["created"] = json!("a\nb")), |e| {
            matches!(e, BundleError::InvalidField { .. })
        }),
    ];
    for (index, (bytes, expected)) in cases.iter().enumerate() {
        let error = refusal(bytes);
        assert!(expected(&error), "case {index}: {error}");
    }
    // Not JSON at all.
    let mut list = entries(&sample_bytes());
    list[0].data = b"name = 'toml?'".to_vec();
    assert!(matches!(
        refusal(&assemble(&list)),
        BundleError::ManifestInvalid { .. }
    ));
}

#[test]
fn refuses_text_parts_that_are_not_utf8() {
    let mut list = entries(&sample_bytes());
    let mut manifest = manifest_of(&list);
    let at = list.iter().position(|e| e.path() == "policy.toml").unwrap();
    list[at].data = b"\xff\xfe".to_vec();
    manifest["parts"][3] = part("policy.toml", "policy", b"\xff\xfe");
    common::set_manifest(&mut list, &manifest);
    let error = refusal(&assemble(&list));
    assert!(matches!(error, BundleError::NotUtf8 { .. }), "{error}");
}

#[test]
fn refuses_a_signature_anywhere_but_second() {
    let mut list = entries(&sample_bytes());
    list.push(Raw::file(
        "manifest.json.minisig",
        b"untrusted comment: x\n",
    ));
    let error = refusal(&assemble(&list));
    assert!(matches!(error, BundleError::SignatureNotSecond), "{error}");
    // Second, it is read (and checked by verify, not by read).
    let mut list = entries(&sample_bytes());
    list.insert(1, Raw::file("manifest.json.minisig", b"not a signature"));
    let bundle = read(&assemble(&list)).unwrap();
    assert_eq!(bundle.signature(), Some("not a signature"));
    let error = bundle
        .verify(&tollgate_bundle::TrustedKeys::parse(include_str!("data/minisign.pub")).unwrap())
        .unwrap_err();
    assert!(matches!(error, BundleError::BadSignature { .. }), "{error}");
    // Twice.
    let mut list = entries(&sample_bytes());
    list.insert(1, Raw::file("manifest.json.minisig", b"a"));
    list.insert(2, Raw::file("manifest.json.minisig", b"b"));
    let error = refusal(&assemble(&list));
    assert!(
        matches!(error, BundleError::DuplicateEntry { .. }),
        "{error}"
    );
}

#[test]
fn extracts_policy_tests_and_files() {
    let bundle = read(&sample_bytes()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    bundle.extract_to(&out).unwrap();
    assert_eq!(
        std::fs::read_to_string(out.join("policy.toml")).unwrap(),
        POLICY
    );
    assert!(out.join("tests/admin/admin.test.toml").is_file());
    assert!(out.join("tests/orders.test.toml").is_file());
    assert_eq!(
        std::fs::read(out.join("files/keys/jwks.json")).unwrap(),
        b"{\"keys\":[]}"
    );
    assert!(!out.join("module.wasm").exists());
    assert!(!out.join("artifacts").exists());
    // Again over the same folder: files are overwritten.
    bundle.extract_to(&out).unwrap();
}

#[cfg(unix)]
#[test]
fn extraction_never_follows_symlinks() {
    let bundle = read(&sample_bytes()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::os::unix::fs::symlink(&elsewhere, out.join("files")).unwrap();
    let error = bundle.extract_to(&out).unwrap_err();
    assert!(
        matches!(error, BundleError::ExtractBlocked { .. }),
        "{error}"
    );
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    // A symlink where a file goes.
    let out2 = dir.path().join("out2");
    std::fs::create_dir(&out2).unwrap();
    std::os::unix::fs::symlink(elsewhere.join("policy"), out2.join("policy.toml")).unwrap();
    let error = bundle.extract_to(&out2).unwrap_err();
    assert!(
        matches!(error, BundleError::ExtractBlocked { .. }),
        "{error}"
    );
    assert!(!elsewhere.join("policy").exists());
}

#[test]
fn summary_and_description() {
    let bytes = sample_bytes();
    let bundle = read(&bytes).unwrap();
    let summary = bundle.summary();
    assert_eq!(summary["name"], "orders-api");
    assert_eq!(summary["revision"], 42);
    assert_eq!(summary["digest"], BundleDigest::of(&bytes).to_string());
    assert_eq!(summary["signature"], serde_json::Value::Null);
    assert_eq!(summary["parts"].as_array().unwrap().len(), 8);
    assert_eq!(
        summary["parts"][1]["engine"],
        ENGINE.replace("x86_64", "aarch64")
    );
    assert_eq!(summary["declared_changes"][0]["from"], "forbidden");
    let text = bundle.describe();
    assert!(
        text.starts_with("bundle orders-api revision 42\n"),
        "{text}"
    );
    assert!(text.contains("signature none"), "{text}");
    assert!(text.contains("files/keys/jwks.json"), "{text}");
    assert!(
        text.contains("GET /reports/* (was forbidden): reports opened to all staff"),
        "{text}"
    );
}

#[test]
fn the_manifest_is_readable_json_with_a_newline() {
    let bytes = sample_bytes();
    let mut archive = tar::Archive::new(bytes.as_slice());
    let mut first = archive.entries().unwrap().next().unwrap().unwrap();
    let mut text = String::new();
    first.read_to_string(&mut text).unwrap();
    assert!(
        text.starts_with("{\n  \"format\": 1,\n  \"name\": \"orders-api\""),
        "{text}"
    );
    assert!(text.ends_with("}\n"));
}

/// A part whose tar header and manifest both claim a huge size, with only
/// a few bytes behind it (written before any signature check): refused
/// before anything that large is allocated.
#[test]
fn a_part_claiming_more_than_the_bundle_is_refused_before_allocating() {
    let huge: u64 = 1 << 40;
    let module_path = "module.wasm";
    let manifest = json!({
        "format": 1, "name": "orders-api", "revision": 1, "wit": "0.5.0",
        "created": "2026-12-01T06:00:00Z",
        "parts": [
            {"path": module_path, "kind": "module", "sha256": "0".repeat(64), "size": huge},
            {"path": "policy.toml", "kind": "policy", "sha256": "0".repeat(64), "size": 1},
        ],
        "declared_changes": [],
    })
    .to_string();
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_size(manifest.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(&mut header, "manifest.json", manifest.as_bytes())
        .unwrap();
    let mut bytes = builder.into_inner().unwrap();
    // A header block claiming `huge` bytes, and a few bytes after it.
    let mut part = tar::Header::new_ustar();
    part.set_path(module_path).unwrap();
    part.set_size(huge);
    part.set_mode(0o644);
    part.set_entry_type(tar::EntryType::Regular);
    part.set_cksum();
    bytes.extend_from_slice(part.as_bytes());
    bytes.extend_from_slice(&[0u8; 1024]);
    // Refused (the tar reader may already stop at the short entry), and
    // the process is still here: nothing of `huge` bytes was allocated.
    let error = refusal(&bytes).to_string();
    assert!(
        error.contains("more than the whole bundle") || error.contains("does not hold"),
        "{error}"
    );
}
