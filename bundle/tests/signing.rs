//! Signing (feature `sign`, on for the tests through the self
//! dev-dependency) and verification; minisign compatibility both ways with
//! fixtures made by the real `minisign` tool (0.11).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::Cursor;
use std::sync::OnceLock;

use common::{Raw, assemble, entries, sample, sample_bytes};
use tollgate_bundle::{
    Bundle, BundleError, GeneratedKeyPair, ReadLimits, SigningKey, TrustedKeys, attach_signature,
    generate_keypair, sign,
};

/// `minisign -G -W -p minisign.pub -s minisign.key` (minisign 0.11).
const TOOL_PUB: &str = include_str!("data/minisign.pub");
const TOOL_KEY: &str = include_str!("data/minisign.key");
const TOOL_KEY_ID: &str = "5208381D18E5343A";
/// The manifest of `common::sample()`, and `minisign -S -s minisign.key -m
/// manifest.json -t 'orders-api revision 42'` over it.
const GOLDEN_MANIFEST: &[u8] = include_bytes!("data/golden/manifest.json");
const GOLDEN_SIGNATURE: &str = include_str!("data/golden/manifest.json.minisig");

fn read(bytes: &[u8]) -> Result<Bundle, BundleError> {
    Bundle::read(bytes, &ReadLimits::default())
}

/// Two unencrypted key pairs, made once.
fn pairs() -> &'static (GeneratedKeyPair, GeneratedKeyPair) {
    static PAIRS: OnceLock<(GeneratedKeyPair, GeneratedKeyPair)> = OnceLock::new();
    PAIRS.get_or_init(|| {
        (
            generate_keypair(None).unwrap(),
            generate_keypair(None).unwrap(),
        )
    })
}

fn key(pair: &GeneratedKeyPair) -> SigningKey {
    SigningKey::from_text(&pair.secret_key, None).unwrap()
}

fn trust(pairs: &[&GeneratedKeyPair]) -> TrustedKeys {
    let text: String = pairs.iter().map(|p| p.public_key.clone()).collect();
    TrustedKeys::parse(&text).unwrap()
}

#[test]
fn sign_then_verify() {
    let (a, _) = pairs();
    let signed = sign(&sample_bytes(), &key(a), "orders-api revision 42").unwrap();
    let bundle = read(&signed).unwrap();
    let by = bundle.verify(&trust(&[a])).unwrap();
    assert_eq!(by.key_id, a.key_id);
    assert_eq!(by.trusted_comment, "orders-api revision 42");
    assert_eq!(
        bundle.signature_key_id().as_deref(),
        Some(a.key_id.as_str())
    );
    // The manifest and the parts are those of the unsigned bundle.
    let unsigned = read(&sample_bytes()).unwrap();
    assert_eq!(bundle.manifest_bytes(), unsigned.manifest_bytes());
    assert!(bundle.parts().eq(unsigned.parts()));
    assert_ne!(bundle.digest(), unsigned.digest());
    // The signature is the second entry.
    let list = entries(&signed);
    assert_eq!(list[1].path(), "manifest.json.minisig");
    // inspect shows who signed (unverified).
    assert_eq!(bundle.summary()["signature"]["key_id"], a.key_id);
    assert!(bundle.describe().contains(&a.key_id));
}

#[test]
fn the_signature_has_the_minisign_shape_and_the_minisign_crate_accepts_it() {
    let (a, _) = pairs();
    let signed = sign(&sample_bytes(), &key(a), "t c").unwrap();
    let bundle = read(&signed).unwrap();
    let text = bundle.signature().unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("untrusted comment: "), "{text}");
    assert!(
        lines[1].starts_with("RU"),
        "prehashed Ed25519 ('ED'): {text}"
    );
    assert_eq!(lines[2], "trusted comment: t c");
    assert!(text.ends_with('\n'));
    // The full `minisign` crate verifies it too.
    let public = minisign::PublicKeyBox::from_string(&a.public_key)
        .unwrap()
        .into_public_key()
        .unwrap();
    let signature = minisign::SignatureBox::from_string(text).unwrap();
    minisign::verify(
        &public,
        &signature,
        Cursor::new(bundle.manifest_bytes()),
        true,
        false,
        false,
    )
    .unwrap();
}

#[test]
fn a_signature_by_the_minisign_tool_verifies() {
    // The manifest format is stable: the builder still writes the bytes the
    // tool signed.
    let bytes = sample_bytes();
    let unsigned = read(&bytes).unwrap();
    assert_eq!(
        unsigned.manifest_bytes(),
        GOLDEN_MANIFEST,
        "the manifest of common::sample() changed; if on purpose, regenerate tests/data/golden with the minisign tool"
    );
    let signed = attach_signature(&bytes, GOLDEN_SIGNATURE).unwrap();
    let bundle = read(&signed).unwrap();
    let by = bundle
        .verify(&TrustedKeys::parse(TOOL_PUB).unwrap())
        .unwrap();
    assert_eq!(by.key_id, TOOL_KEY_ID);
    assert_eq!(by.trusted_comment, "orders-api revision 42");
    // The bare key line works as well as the .pub file.
    let line = TOOL_PUB.lines().nth(1).unwrap();
    bundle.verify(&TrustedKeys::parse(line).unwrap()).unwrap();
}

#[test]
fn a_minisign_tool_key_signs() {
    let key = SigningKey::from_text(TOOL_KEY, None).unwrap();
    assert_eq!(key.key_id(), TOOL_KEY_ID);
    let signed = sign(&sample_bytes(), &key, "by the tool's key").unwrap();
    let by = read(&signed)
        .unwrap()
        .verify(&TrustedKeys::parse(TOOL_PUB).unwrap())
        .unwrap();
    assert_eq!(by.key_id, TOOL_KEY_ID);
    // What we write, the real tool verifies (when it is installed here).
    tool_verifies(&signed);
}

/// Runs `minisign -V` on the extracted manifest and signature if the tool
/// is on PATH (it is not needed for the rest of the tests).
fn tool_verifies(signed: &[u8]) {
    let Ok(output) = std::process::Command::new("minisign").arg("-v").output() else {
        eprintln!("minisign is not installed: skipping the check with the real tool");
        return;
    };
    assert!(output.status.success());
    let bundle = read(signed).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("manifest.json");
    std::fs::write(&manifest, bundle.manifest_bytes()).unwrap();
    std::fs::write(
        dir.path().join("manifest.json.minisig"),
        bundle.signature().unwrap(),
    )
    .unwrap();
    let status = std::process::Command::new("minisign")
        .arg("-Vm")
        .arg(&manifest)
        .arg("-P")
        .arg(TOOL_PUB.lines().nth(1).unwrap())
        .status()
        .unwrap();
    assert!(status.success(), "minisign -V refused our signature");
}

#[test]
fn a_part_changed_after_signing_is_refused_at_read() {
    let (a, _) = pairs();
    let signed = sign(&sample_bytes(), &key(a), "c").unwrap();
    let mut list = entries(&signed);
    let at = list.iter().position(|e| e.path() == "module.wasm").unwrap();
    list[at].data[0] ^= 0xff;
    let error = read(&assemble(&list)).unwrap_err();
    assert!(
        matches!(error, BundleError::DigestMismatch { .. }),
        "{error}"
    );
}

#[test]
fn a_manifest_changed_after_signing_fails_verification() {
    let (a, _) = pairs();
    let signed = sign(&sample_bytes(), &key(a), "c").unwrap();
    let mut list = entries(&signed);
    let text = String::from_utf8(list[0].data.clone()).unwrap();
    let changed = text.replace("\"revision\": 42", "\"revision\": 43");
    assert_ne!(text, changed);
    list[0].data = changed.into_bytes();
    let bundle = read(&assemble(&list)).unwrap();
    assert_eq!(bundle.manifest().revision, 43);
    let error = bundle.verify(&trust(&[a])).unwrap_err();
    assert!(matches!(error, BundleError::BadSignature { .. }), "{error}");
    // A changed trusted comment fails too (the global signature covers it).
    let mut list = entries(&signed);
    let signature = String::from_utf8(list[1].data.clone()).unwrap();
    list[1].data = signature
        .replace("trusted comment: c", "trusted comment: d")
        .into_bytes();
    let error = read(&assemble(&list))
        .unwrap()
        .verify(&trust(&[a]))
        .unwrap_err();
    assert!(matches!(error, BundleError::BadSignature { .. }), "{error}");
}

#[test]
fn untrusted_unsigned_and_no_keys() {
    let (a, b) = pairs();
    let signed = sign(&sample_bytes(), &key(a), "c").unwrap();
    let error = read(&signed).unwrap().verify(&trust(&[b])).unwrap_err();
    assert!(
        matches!(error, BundleError::UntrustedKey { ref key_id } if *key_id == a.key_id),
        "{error}"
    );
    assert!(error.to_string().contains(&a.key_id));

    let error = read(&sample_bytes())
        .unwrap()
        .verify(&trust(&[a]))
        .unwrap_err();
    assert!(matches!(error, BundleError::NotSigned), "{error}");

    let error = read(&signed)
        .unwrap()
        .verify(&TrustedKeys::default())
        .unwrap_err();
    assert!(matches!(error, BundleError::NoTrustedKeys), "{error}");
}

#[test]
fn rotation_trusts_two_keys_at_once() {
    let (a, b) = pairs();
    let both = trust(&[a, b]);
    assert_eq!(both.len(), 2);
    assert_eq!(both.key_ids(), [a.key_id.clone(), b.key_id.clone()]);
    for pair in [a, b] {
        let signed = sign(&sample_bytes(), &key(pair), "c").unwrap();
        let by = read(&signed).unwrap().verify(&both).unwrap();
        assert_eq!(by.key_id, pair.key_id);
    }
    // Bare lines and .pub files mixed, with comments.
    let mixed = format!(
        "# old key, retired after the rollout\n{}\n# new key\n{}",
        a.public_key.lines().nth(1).unwrap(),
        b.public_key
    );
    assert_eq!(TrustedKeys::parse(&mixed).unwrap().len(), 2);
    let mut extended = trust(&[a]);
    extended.extend(trust(&[a, b]));
    assert_eq!(extended.len(), 2);
}

#[test]
fn signing_again_replaces_the_signature() {
    let (a, b) = pairs();
    let once = sign(&sample_bytes(), &key(a), "first").unwrap();
    let twice = sign(&once, &key(b), "second").unwrap();
    let list = entries(&twice);
    assert_eq!(
        list.iter()
            .filter(|e| e.path() == "manifest.json.minisig")
            .count(),
        1
    );
    let bundle = read(&twice).unwrap();
    let by = bundle.verify(&trust(&[a, b])).unwrap();
    assert_eq!(
        (by.key_id.as_str(), by.trusted_comment.as_str()),
        (b.key_id.as_str(), "second")
    );
    assert!(matches!(
        bundle.verify(&trust(&[a])),
        Err(BundleError::UntrustedKey { .. })
    ));
}

#[test]
fn encrypted_keys_need_their_password() {
    let pair = generate_keypair(Some("correct horse".to_owned())).unwrap();
    let error = SigningKey::from_text(&pair.secret_key, None).unwrap_err();
    assert!(error.to_string().contains("password"), "{error}");
    let error = SigningKey::from_text(&pair.secret_key, Some("wrong")).unwrap_err();
    assert!(matches!(error, BundleError::SecretKey { .. }), "{error}");
    let key = SigningKey::from_text(&pair.secret_key, Some("correct horse")).unwrap();
    assert_eq!(key.key_id(), pair.key_id);
    let signed = sign(&sample_bytes(), &key, "c").unwrap();
    read(&signed).unwrap().verify(&trust(&[&pair])).unwrap();
    // The public key text from the secret key is the generated one.
    assert_eq!(key.public_key_text().unwrap(), pair.public_key);
    // And the unencrypted key ignores a password.
    let (a, _) = pairs();
    SigningKey::from_text(&a.secret_key, Some("anything")).unwrap();
}

#[test]
fn refuses_bad_inputs() {
    let (a, _) = pairs();
    let error = sign(&sample_bytes(), &key(a), "two\nlines").unwrap_err();
    assert!(matches!(error, BundleError::Sign { .. }), "{error}");
    let error = sign(b"not a bundle", &key(a), "c").unwrap_err();
    assert!(
        matches!(
            error,
            BundleError::NotTar { .. } | BundleError::ManifestNotFirst { .. }
        ),
        "{error}"
    );
    let error = SigningKey::from_text("untrusted comment: x\nnot a key\n", None).unwrap_err();
    assert!(matches!(error, BundleError::SecretKey { .. }), "{error}");
    let error = SigningKey::from_text(&a.public_key, None).unwrap_err();
    assert!(matches!(error, BundleError::SecretKey { .. }), "{error}");
    let error = attach_signature(&sample_bytes(), "hello\n").unwrap_err();
    assert!(matches!(error, BundleError::BadSignature { .. }), "{error}");
    // A signature over another manifest is attached but never verifies.
    let other = sample()
        .test("tests/more.test.toml", "")
        .to_bytes()
        .unwrap();
    let signed_other = sign(&other, &key(a), "c").unwrap();
    let signature = read(&signed_other).unwrap().signature().unwrap().to_owned();
    let moved = attach_signature(&sample_bytes(), &signature).unwrap();
    let error = read(&moved).unwrap().verify(&trust(&[a])).unwrap_err();
    assert!(matches!(error, BundleError::BadSignature { .. }), "{error}");
    // A signature entry crafted by hand that is not a minisign signature.
    let mut list = entries(&sample_bytes());
    list.insert(
        1,
        Raw::file(
            "manifest.json.minisig",
            b"untrusted comment: x\nAAAA\ntrusted comment: y\nAAAA\n",
        ),
    );
    let error = read(&assemble(&list))
        .unwrap()
        .verify(&trust(&[a]))
        .unwrap_err();
    assert!(matches!(error, BundleError::BadSignature { .. }), "{error}");
}

#[test]
fn generated_keys_have_minisign_formats() {
    let (a, _) = pairs();
    let lines: Vec<&str> = a.public_key.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(
        lines[0].starts_with("untrusted comment: minisign public key"),
        "{}",
        a.public_key
    );
    assert!(lines[0].contains(&a.key_id));
    assert!(
        lines[1].starts_with("RW") && lines[1].len() == 56,
        "{}",
        a.public_key
    );
    let secret: Vec<&str> = a.secret_key.lines().collect();
    assert_eq!(secret.len(), 2);
    assert!(secret[0].starts_with("untrusted comment: "));
    // The minisign crate reads both.
    minisign::PublicKeyBox::from_string(&a.public_key)
        .unwrap()
        .into_public_key()
        .unwrap();
    minisign::SecretKeyBox::from_string(&a.secret_key)
        .unwrap()
        .into_unencrypted_secret_key()
        .unwrap();
}
