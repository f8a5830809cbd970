//! Trusted minisign public keys and signature verification (no signing
//! code: hosts verify with `minisign-verify` only).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::error::BundleError;

/// A minisign key id: 8 bytes, shown as minisign shows it (16 upper-case
/// hex digits of the little-endian number).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct KeyId(pub(crate) [u8; 8]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016X}", u64::from_le_bytes(self.0))
    }
}

/// Decodes a base64 line of a minisign key or signature and returns its
/// algorithm (2 bytes) and key id (the next 8), checking the length.
fn algorithm_and_key_id(line: &str, len: usize) -> Option<([u8; 2], KeyId)> {
    let bytes = STANDARD.decode(line.trim()).ok()?;
    if bytes.len() != len {
        return None;
    }
    let algorithm = <[u8; 2]>::try_from(bytes.get(0..2)?).ok()?;
    let key_id = <[u8; 8]>::try_from(bytes.get(2..10)?).ok()?;
    Some((algorithm, KeyId(key_id)))
}

/// The key id a minisign signature text names (its second line).
pub(crate) fn signature_key_id(signature: &str) -> Option<KeyId> {
    let line = signature.lines().nth(1)?;
    algorithm_and_key_id(line, 74).map(|(_, key_id)| key_id)
}

/// The trusted comment of a minisign signature text (its third line,
/// without the `trusted comment: ` prefix).
pub(crate) fn signature_trusted_comment(signature: &str) -> Option<&str> {
    signature.lines().nth(2)?.strip_prefix("trusted comment: ")
}

/// One trusted public key.
#[derive(Clone, Debug)]
struct TrustedKey {
    key_id: KeyId,
    key: minisign_verify::PublicKey,
}

/// The minisign public keys a host trusts to sign bundles; several keys
/// may be trusted at once (key rotation).
#[derive(Clone, Debug, Default)]
pub struct TrustedKeys {
    keys: Vec<TrustedKey>,
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl TrustedKeys {
    /// Parses one or more minisign public keys.
    ///
    /// Each key is either the bare base64 line (`RW…`) or a minisign `.pub`
    /// file (an `untrusted comment:` line and the base64 line); several
    /// keys or files may be concatenated. Blank lines, `untrusted comment:`
    /// lines and lines starting with `#` are ignored; any other line must
    /// be a public key. A key listed twice counts once. An empty text
    /// gives an empty set (see [`TrustedKeys::is_empty`]).
    pub fn parse(text: &str) -> Result<Self, BundleError> {
        let mut keys = Self::default();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with("untrusted comment:") {
                continue;
            }
            let invalid = |detail: String| BundleError::InvalidTrustedKey {
                line: index + 1,
                detail,
            };
            let (algorithm, key_id) = algorithm_and_key_id(line, 42).ok_or_else(|| {
                invalid("not a minisign public key (expected 56 base64 characters)".to_owned())
            })?;
            if &algorithm != b"Ed" {
                return Err(invalid(format!(
                    "not an Ed25519 minisign public key (algorithm {algorithm:?})"
                )));
            }
            let key = minisign_verify::PublicKey::from_base64(line)
                .map_err(|e| invalid(format!("not a minisign public key ({e})")))?;
            if keys.find(key_id).is_none() {
                keys.keys.push(TrustedKey { key_id, key });
            }
        }
        Ok(keys)
    }

    /// True when no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How many keys are trusted.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// The trusted keys' ids (16 upper-case hex digits, as minisign prints
    /// them), in the order given.
    pub fn key_ids(&self) -> Vec<String> {
        self.keys.iter().map(|key| key.key_id.to_string()).collect()
    }

    /// Adds the keys of `other` (those not already trusted).
    pub fn extend(&mut self, other: TrustedKeys) {
        for key in other.keys {
            if self.find(key.key_id).is_none() {
                self.keys.push(key);
            }
        }
    }

    fn find(&self, key_id: KeyId) -> Option<&TrustedKey> {
        self.keys.iter().find(|key| key.key_id == key_id)
    }

    /// Verifies a minisign `signature` text over `message` with the trusted
    /// key it names.
    pub(crate) fn verify(
        &self,
        message: &[u8],
        signature: &str,
    ) -> Result<VerifiedBy, BundleError> {
        if self.is_empty() {
            return Err(BundleError::NoTrustedKeys);
        }
        let decoded = minisign_verify::Signature::decode(signature).map_err(|e| {
            BundleError::BadSignature {
                detail: format!("manifest.json.minisig is not a minisign signature ({e})"),
            }
        })?;
        let key_id = signature_key_id(signature).ok_or_else(|| BundleError::BadSignature {
            detail: "manifest.json.minisig names no key id".to_owned(),
        })?;
        let key = self.find(key_id).ok_or_else(|| BundleError::UntrustedKey {
            key_id: key_id.to_string(),
        })?;
        key.key
            .verify(message, &decoded, false)
            .map_err(|e| BundleError::BadSignature {
                detail: format!("the signature by key {key_id} does not match manifest.json ({e})"),
            })?;
        Ok(VerifiedBy {
            key_id: key_id.to_string(),
            trusted_comment: decoded.trusted_comment().to_owned(),
        })
    }
}

/// Which trusted key a verified bundle was signed with.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VerifiedBy {
    /// The key id (16 upper-case hex digits, as minisign prints it).
    pub key_id: String,
    /// The signature's trusted comment (signed too).
    pub trusted_comment: String,
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]

    use super::*;

    // Made with minisign 0.11: `minisign -G -W` (tests/data/minisign.pub).
    const PUB_FILE: &str = include_str!("../tests/data/minisign.pub");

    #[test]
    fn parse_forms() {
        let line = PUB_FILE.lines().nth(1).unwrap();
        let from_file = TrustedKeys::parse(PUB_FILE).unwrap();
        let from_line = TrustedKeys::parse(line).unwrap();
        assert_eq!(from_file.key_ids(), from_line.key_ids());
        assert_eq!(from_file.len(), 1);
        assert_eq!(from_file.key_ids(), ["5208381D18E5343A"]);
        let twice = TrustedKeys::parse(&format!("# ops key\n{PUB_FILE}\n\n{line}\n")).unwrap();
        assert_eq!(twice.len(), 1);
        assert!(TrustedKeys::parse("").unwrap().is_empty());
        assert!(TrustedKeys::parse("\n# nothing\n").unwrap().is_empty());
    }

    #[test]
    fn refuses_what_is_not_a_key() {
        for bad in ["hello", "RWQ", "untrusted comment: x\nnot base64!!"] {
            let error = TrustedKeys::parse(bad).unwrap_err();
            assert!(
                matches!(error, BundleError::InvalidTrustedKey { .. }),
                "{error}"
            );
        }
        let error = TrustedKeys::parse("# a\nRWQ=\n").unwrap_err();
        assert!(error.to_string().contains("line 2"), "{error}");
    }
}
