//! Helpers shared by the unit tests.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::Algorithm;
use crate::mint::SigningKey;

/// Base64url-encode without padding.
pub(crate) fn b64u(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Split a compact JWS into (signing input, decoded signature).
pub(crate) fn split_jws(token: &str) -> (String, Vec<u8>) {
    let (input, sig) = token.rsplit_once('.').expect("compact JWS has dots");
    (
        input.to_string(),
        URL_SAFE_NO_PAD.decode(sig).expect("signature is base64url"),
    )
}

/// Decode a compact JWS's header.
pub(crate) fn jws_header(token: &str) -> Value {
    let header = token.split('.').next().expect("header segment");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64url")).expect("json")
}

/// One RSA 2048 key generated per test binary (generation is the slow part),
/// re-labelled for each RSA algorithm through the key file format.
pub(crate) fn rsa_key(alg: Algorithm, kid: &str) -> SigningKey {
    static SHARED: OnceLock<String> = OnceLock::new();
    let json = SHARED.get_or_init(|| {
        SigningKey::generate(Algorithm::Rs256, "shared")
            .expect("generate RSA")
            .to_json()
    });
    let mut doc: Value = serde_json::from_str(json).expect("key json");
    doc["alg"] = json!(alg.name());
    doc["kid"] = json!(kid);
    SigningKey::from_json(&doc.to_string()).expect("relabelled RSA key")
}

/// A signing key for any algorithm (RSA ones share one modulus).
pub(crate) fn signing_key(alg: Algorithm, kid: &str) -> SigningKey {
    if crate::algorithm::RSA_ALGORITHMS.contains(&alg) {
        rsa_key(alg, kid)
    } else {
        SigningKey::generate(alg, kid).expect("generate key")
    }
}

/// A fresh path in the temp dir (not created).
pub(crate) fn temp_path(name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "tollgate-keys-test-{}-{n}-{name}",
        std::process::id()
    ))
}

/// A temp file removed on drop; derefs to its path.
pub(crate) struct TempFile(PathBuf);

impl std::ops::Deref for TempFile {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Write `bytes` to a fresh temp file.
pub(crate) fn temp_file(name: &str, bytes: &[u8]) -> TempFile {
    let path = temp_path(name);
    std::fs::write(&path, bytes).expect("write temp file");
    TempFile(path)
}
