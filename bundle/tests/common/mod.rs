//! Shared helpers: a sample bundle and a raw tar writer that crafts what
//! the builder never would.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    dead_code,
    missing_docs
)]

use std::io::Read;

use serde_json::{Value, json};
use tollgate_bundle::{Artifact, BundleBuilder, DeclaredChange, sha256_hex};

pub const ENGINE: &str = "tollgate-wasmtime-48.0.8/x86_64-unknown-linux-gnu/baseline/cfg-0123abcd";

pub const POLICY: &str = "# the orders policy\n[issuer.main]\nissuer = \"https://id.example\"\n";

/// A bundle with every kind of part; fixed inputs (also the golden
/// manifest of tests/data/golden/).
pub fn sample() -> BundleBuilder {
    BundleBuilder::new(
        "orders-api",
        42,
        "0.5.0",
        "2026-12-01T06:00:00Z",
        b"\0asm\x0d\0\x01\0 a component".to_vec(),
        POLICY,
    )
    .artifact(Artifact {
        target: "x86_64-unknown-linux-gnu".to_owned(),
        engine: ENGINE.to_owned(),
        bytes: b"precompiled x86_64".to_vec(),
    })
    .artifact(Artifact {
        target: "aarch64-unknown-linux-gnu".to_owned(),
        engine: ENGINE.replace("x86_64", "aarch64"),
        bytes: b"precompiled aarch64".to_vec(),
    })
    .test(
        "tests/orders.test.toml",
        "config = \"../policy.toml\"\n[[case]]\nname = \"a\"\n",
    )
    .test("tests/admin/admin.test.toml", "[[case]]\nname = \"b\"\n")
    .file("files/keys/jwks.json", b"{\"keys\":[]}".to_vec())
    .file("files/allow.txt", b"alice\nbob\n".to_vec())
    .declared_change(DeclaredChange {
        methods: vec!["GET".to_owned()],
        path: "/reports/*".to_owned(),
        from: "forbidden".to_owned(),
        note: "reports opened to all staff".to_owned(),
    })
}

pub fn sample_bytes() -> Vec<u8> {
    sample().to_bytes().unwrap()
}

/// One raw tar entry.
#[derive(Clone, Debug)]
pub struct Raw {
    pub path: Vec<u8>,
    pub entry_type: tar::EntryType,
    pub data: Vec<u8>,
    pub link: Option<Vec<u8>>,
}

impl Raw {
    pub fn file(path: &str, data: &[u8]) -> Self {
        Self {
            path: path.as_bytes().to_vec(),
            entry_type: tar::EntryType::Regular,
            data: data.to_vec(),
            link: None,
        }
    }

    pub fn path(&self) -> String {
        String::from_utf8(self.path.clone()).unwrap()
    }
}

/// The entries of a tar, as written.
pub fn entries(bytes: &[u8]) -> Vec<Raw> {
    let mut archive = tar::Archive::new(bytes);
    archive
        .entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            Raw {
                path: entry.path_bytes().into_owned(),
                entry_type: entry.header().entry_type(),
                data,
                link: None,
            }
        })
        .collect()
}

/// Writes entries with raw headers: no path checks at all (`..`, absolute,
/// symlinks go through as given). Paths up to 100 bytes.
pub fn assemble(entries: &[Raw]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_ustar();
        {
            let name = &mut header.as_old_mut().name;
            assert!(entry.path.len() <= name.len(), "test paths up to 100 bytes");
            name[..entry.path.len()].copy_from_slice(&entry.path);
        }
        if let Some(link) = &entry.link {
            let field = &mut header.as_old_mut().linkname;
            field[..link.len()].copy_from_slice(link);
        }
        header.set_entry_type(entry.entry_type);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_size(entry.data.len() as u64);
        header.set_cksum();
        builder.append(&header, entry.data.as_slice()).unwrap();
    }
    builder.into_inner().unwrap()
}

/// The manifest of an entry list (its first entry) as JSON.
pub fn manifest_of(entries: &[Raw]) -> Value {
    assert_eq!(entries[0].path(), "manifest.json");
    serde_json::from_slice(&entries[0].data).unwrap()
}

/// Replaces the manifest (first entry) of an entry list.
pub fn set_manifest(entries: &mut [Raw], manifest: &Value) {
    entries[0].data = serde_json::to_vec_pretty(manifest).unwrap();
}

/// The sample's entries with the manifest changed by `change`.
pub fn with_manifest(change: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut list = entries(&sample_bytes());
    let mut manifest = manifest_of(&list);
    change(&mut manifest);
    set_manifest(&mut list, &manifest);
    assemble(&list)
}

/// A manifest part entry for `bytes`.
pub fn part(path: &str, kind: &str, bytes: &[u8]) -> Value {
    json!({"path": path, "kind": kind, "sha256": sha256_hex(bytes), "size": bytes.len()})
}
