//! Signing and key generation (feature `sign`), with the `minisign` crate:
//! the keys and signatures are minisign's own formats, so `minisign -G`
//! keys sign bundles and `minisign -V` verifies their manifests.

use std::fmt;
use std::io::Cursor;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::build::rewrite;
use crate::error::BundleError;
use crate::read::{Bundle, ReadLimits};

fn key_id_text(keynum: &[u8]) -> String {
    let bytes = <[u8; 8]>::try_from(keynum).unwrap_or([0; 8]);
    format!("{:016X}", u64::from_le_bytes(bytes))
}

/// A minisign secret key, decrypted and ready to sign.
#[derive(Clone)]
pub struct SigningKey {
    secret: minisign::SecretKey,
    public: minisign::PublicKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

/// The decoded key line of a minisign secret key file.
fn secret_key_bytes(text: &str) -> Result<Vec<u8>, BundleError> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with("untrusted comment:"))
        .ok_or_else(|| BundleError::SecretKey {
            detail: "the file holds no key line: give a minisign secret key file (minisign -G or tollgate bundle keygen)".to_owned(),
        })?;
    let bytes = STANDARD.decode(line).map_err(|_| BundleError::SecretKey {
        detail: "the key line is not base64: give a minisign secret key file".to_owned(),
    })?;
    if bytes.len() != SECRET_KEY_BYTES || bytes.get(0..2) != Some(b"Ed") {
        return Err(BundleError::SecretKey {
            detail: "not a minisign Ed25519 secret key".to_owned(),
        });
    }
    Ok(bytes)
}

/// The size of a decoded minisign secret key: algorithms (3 × 2), salt
/// (32), scrypt limits (2 × 8), key id (8), key (64), checksum (32).
const SECRET_KEY_BYTES: usize = 158;

impl SigningKey {
    /// Loads a minisign secret key file's text (`untrusted comment:` line
    /// and base64 line). An encrypted key needs `password`; an unencrypted
    /// one (`minisign -G -W`, `tollgate bundle keygen --unencrypted`)
    /// ignores it. Never prompts.
    pub fn from_text(text: &str, password: Option<&str>) -> Result<Self, BundleError> {
        let bytes = secret_key_bytes(text)?;
        let key_error = |e: minisign::PError| BundleError::SecretKey {
            detail: format!("{e} (wrong password, or not a minisign secret key)"),
        };
        let secret = match bytes.get(2..4) {
            Some(b"Sc") => {
                let password = password.ok_or_else(|| BundleError::SecretKey {
                    detail:
                        "the key is encrypted: give its password in TOLLGATE_BUNDLE_KEY_PASSWORD"
                            .to_owned(),
                })?;
                minisign::SecretKeyBox::from_string(text)
                    .and_then(|secret_box| secret_box.into_secret_key(Some(password.to_owned())))
                    .map_err(key_error)?
            }
            // Unencrypted (`minisign -G -W`, which since minisign 0.11
            // leaves the checksum zero, so the `minisign` crate's own
            // loader refuses it): the test signature below checks the key.
            Some([0, 0]) => minisign::SecretKey::from_bytes(&bytes).map_err(key_error)?,
            _ => {
                return Err(BundleError::SecretKey {
                    detail: "not a minisign secret key (unknown key derivation)".to_owned(),
                });
            }
        };
        let public =
            minisign::PublicKey::from_secret_key(&secret).map_err(|e| BundleError::SecretKey {
                detail: e.to_string(),
            })?;
        // Signing verifies the result with the public half: a damaged key
        // is refused here rather than at `sign`.
        minisign::sign(
            Some(&public),
            &secret,
            Cursor::new(b"tollgate key check"),
            None,
            None,
        )
        .map_err(|e| BundleError::SecretKey {
            detail: format!("the key does not produce valid signatures ({e}); it is damaged"),
        })?;
        Ok(Self { secret, public })
    }

    /// The key id (16 upper-case hex digits, as minisign prints it).
    pub fn key_id(&self) -> String {
        key_id_text(self.secret.keynum())
    }

    /// The public key as a minisign `.pub` file (comment line and the
    /// base64 line), to give to the hosts as a trusted key.
    pub fn public_key_text(&self) -> Result<String, BundleError> {
        public_key_text(&self.public)
    }
}

fn public_key_text(public: &minisign::PublicKey) -> Result<String, BundleError> {
    public
        .to_box()
        .map(minisign::PublicKeyBox::into_string)
        .map_err(|e| BundleError::SecretKey {
            detail: e.to_string(),
        })
}

/// A new key pair in minisign's file formats.
#[derive(Clone)]
pub struct GeneratedKeyPair {
    /// The `.pub` file: `untrusted comment: minisign public key: <id>` and
    /// the base64 line (what hosts trust).
    pub public_key: String,
    /// The secret key file (encrypted unless generated without a password);
    /// keep it private (mode 0600).
    pub secret_key: String,
    /// The key id (16 upper-case hex digits).
    pub key_id: String,
}

impl fmt::Debug for GeneratedKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKeyPair")
            .field("public_key", &self.public_key)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// Generates a minisign key pair. With `password`, the secret key is
/// encrypted with it (scrypt, as `minisign -G`); with `None` it is written
/// unencrypted (as `minisign -G -W`). Never prompts.
pub fn generate_keypair(password: Option<String>) -> Result<GeneratedKeyPair, BundleError> {
    let generate_error = |e: minisign::PError| BundleError::SecretKey {
        detail: format!("cannot generate a key pair: {e}"),
    };
    let encrypted = password.is_some();
    let pair = match password {
        Some(password) => minisign::KeyPair::generate_encrypted_keypair(Some(password)),
        None => minisign::KeyPair::generate_unencrypted_keypair(),
    }
    .map_err(generate_error)?;
    let comment = if encrypted {
        "tollgate bundle secret key (encrypted)"
    } else {
        "tollgate bundle secret key (unencrypted)"
    };
    let secret_key = pair
        .sk
        .to_box(Some(comment))
        .map(minisign::SecretKeyBox::into_string)
        .map_err(generate_error)?;
    Ok(GeneratedKeyPair {
        public_key: public_key_text(&pair.pk)?,
        secret_key,
        key_id: key_id_text(pair.pk.keynum()),
    })
}

/// Signs a bundle: a minisign signature of its `manifest.json` (prehashed
/// Ed25519, the standard minisign format) with `trusted_comment` (one
/// line; it is signed too), written as `manifest.json.minisig` right after
/// the manifest, replacing any signature there. Returns the new bundle
/// file; the manifest and parts are unchanged.
pub fn sign(
    bundle: &[u8],
    key: &SigningKey,
    trusted_comment: &str,
) -> Result<Vec<u8>, BundleError> {
    if trusted_comment.chars().any(char::is_control) {
        return Err(BundleError::Sign {
            detail: "the trusted comment must be one line without control characters".to_owned(),
        });
    }
    let bundle = Bundle::read(
        bundle,
        &ReadLimits {
            max_bytes: u64::MAX,
        },
    )?;
    let untrusted_comment = format!("signature from tollgate bundle key {}", key.key_id());
    let signature = minisign::sign(
        Some(&key.public),
        &key.secret,
        Cursor::new(bundle.manifest_bytes()),
        Some(trusted_comment),
        Some(&untrusted_comment),
    )
    .map_err(|e| BundleError::Sign {
        detail: e.to_string(),
    })?;
    rewrite(&bundle, Some(&signature.into_string()))
}
