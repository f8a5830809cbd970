//! Local key material: JWK Set files and HMAC secrets.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::{KeyError, KeySet, b64};

/// Largest JWK Set file [`load_jwks_file`] reads.
pub const MAX_JWKS_FILE_BYTES: u64 = 1024 * 1024;
/// Largest secret file [`load_secret`] reads.
pub const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// Read at most `limit` bytes of `path`; larger files are an error.
fn read_capped(path: &Path, limit: u64, what: &'static str) -> Result<Vec<u8>, KeyError> {
    let read_err = |source| KeyError::ReadFile {
        what,
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut bytes = Vec::new();
    // Read one byte past the limit to detect an oversized (or growing) file.
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > limit {
        return Err(KeyError::FileTooLarge {
            what,
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(bytes)
}

/// Read a local JWK Set file.
///
/// Files over 1 MiB ([`MAX_JWKS_FILE_BYTES`]) are refused. Invalid keys are
/// skipped with a warning, as in [`KeySet::from_jwks_json`]; but a file that
/// yields no usable key at all (none listed, or all invalid) is an error,
/// since a configured local key file is then certainly wrong. Every error
/// names the path.
pub fn load_jwks_file(path: &Path) -> Result<KeySet, KeyError> {
    let bytes = read_capped(path, MAX_JWKS_FILE_BYTES, "JWK Set")?;
    let in_file = |source: KeyError| KeyError::InJwksFile {
        path: path.to_path_buf(),
        source: Box::new(source),
    };
    let text = String::from_utf8(bytes)
        .map_err(|e| in_file(KeyError::JwksNotJson(format!("not UTF-8: {e}"))))?;
    let (set, skipped) = KeySet::from_jwks_json(&text).map_err(in_file)?;
    if set.is_empty() {
        return Err(KeyError::NoUsableKeys {
            path: path.to_path_buf(),
            skipped: skipped.len(),
        });
    }
    Ok(set)
}

/// The encodings [`load_secret`] understands.
#[derive(Clone, Copy)]
enum SecretEncoding {
    Raw,
    Base64,
    Base64Url,
}

impl SecretEncoding {
    fn parse(name: &str) -> Result<Self, KeyError> {
        match name {
            "raw" => Ok(SecretEncoding::Raw),
            "base64" => Ok(SecretEncoding::Base64),
            "base64url" => Ok(SecretEncoding::Base64Url),
            other => Err(KeyError::UnknownSecretEncoding(other.to_string())),
        }
    }

    fn name(self) -> &'static str {
        match self {
            SecretEncoding::Raw => "raw",
            SecretEncoding::Base64 => "base64",
            SecretEncoding::Base64Url => "base64url",
        }
    }
}

/// Read a local HMAC secret.
///
/// `location` is either `env:NAME` (the value of environment variable `NAME`,
/// which must be set and valid UTF-8) or a file path; a relative path is
/// resolved against `base_dir` (normally the configuration file's directory).
/// Secret files over 64 KiB ([`MAX_SECRET_FILE_BYTES`]) are refused.
///
/// `encoding`:
/// - `"raw"`: the bytes are the secret exactly as stored: nothing is trimmed,
///   not even a trailing newline (a warning is logged when a raw secret file
///   ends in one, since `echo secret > file` adds it).
/// - `"base64"` (standard alphabet `+/`) or `"base64url"` (URL alphabet
///   `-_`): all ASCII whitespace is removed first, anywhere in the value (so
///   a trailing newline, CRLF, or line-wrapped output of `base64`/`openssl`
///   all work), then the text is decoded; `=` padding is optional.
///
/// An empty result is an error. Errors name the file or variable but never
/// include the secret or any byte of it. The minimum length for the HMAC
/// algorithm is checked later, by [`crate::NativeKey::from_secret`].
pub fn load_secret(location: &str, encoding: &str, base_dir: &Path) -> Result<Vec<u8>, KeyError> {
    let encoding = SecretEncoding::parse(encoding)?;
    let (described, stored) = if let Some(name) = location.strip_prefix("env:") {
        (format!("environment variable {name}"), read_env(name)?)
    } else {
        if location.is_empty() {
            return Err(KeyError::SecretLocation(location.to_string()));
        }
        let path: PathBuf = base_dir.join(location);
        let bytes = read_capped(&path, MAX_SECRET_FILE_BYTES, "secret")?;
        if matches!(encoding, SecretEncoding::Raw) && bytes.ends_with(b"\n") {
            tracing::warn!(
                path = %path.display(),
                "raw secret file ends with a newline, which is part of the secret with encoding \"raw\"; \
                 remove it (e.g. write the file with `printf`) unless it is intended"
            );
        }
        (format!("file {}", path.display()), bytes)
    };

    let secret = match encoding {
        SecretEncoding::Raw => stored,
        SecretEncoding::Base64 | SecretEncoding::Base64Url => {
            decode_text(&stored, encoding, &described)?
        }
    };
    if secret.is_empty() {
        return Err(KeyError::EmptySecret(described));
    }
    Ok(secret)
}

fn read_env(name: &str) -> Result<Vec<u8>, KeyError> {
    if name.is_empty() {
        return Err(KeyError::SecretLocation("env:".to_string()));
    }
    match std::env::var_os(name) {
        None => Err(KeyError::SecretEnv {
            name: name.to_string(),
            problem: "is not set; set it in tollgate's environment",
        }),
        // Never format the OsString: it is the secret.
        Some(value) => {
            value
                .into_string()
                .map(String::into_bytes)
                .map_err(|_| KeyError::SecretEnv {
                    name: name.to_string(),
                    problem: "is not valid UTF-8; store the secret base64-encoded",
                })
        }
    }
}

fn decode_text(
    stored: &[u8],
    encoding: SecretEncoding,
    described: &str,
) -> Result<Vec<u8>, KeyError> {
    let decode_err = |reason: String| KeyError::SecretDecode {
        location: described.to_string(),
        encoding: encoding.name(),
        reason,
    };
    let compact: Vec<u8> = stored
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let text = std::str::from_utf8(&compact)
        .map_err(|_| decode_err("it contains non-ASCII bytes".to_string()))?;
    let (engine, other, other_name) = match encoding {
        SecretEncoding::Base64Url => (&b64::URL, &b64::STANDARD, "base64"),
        _ => (&b64::STANDARD, &b64::URL, "base64url"),
    };
    b64::decode(engine, text).map_err(|reason| {
        if b64::decode(other, text).is_ok() {
            decode_err(format!(
                "{reason}; it looks like {other_name}, so set the encoding to \"{other_name}\""
            ))
        } else {
            decode_err(reason)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{temp_file, temp_path};
    use crate::{Algorithm, NativeKey};
    use serde_json::json;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-?>";

    fn std_b64(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    fn url_b64(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    fn load(path: &Path, encoding: &str) -> Result<Vec<u8>, KeyError> {
        load_secret(
            &path.display().to_string(),
            encoding,
            Path::new("/nonexistent-base"),
        )
    }

    #[test]
    fn raw_file_is_used_byte_for_byte() {
        let path = temp_file("raw", SECRET);
        assert_eq!(load(&path, "raw").unwrap(), SECRET);
        let mut with_newline = SECRET.to_vec();
        with_newline.push(b'\n');
        let path = temp_file("raw-nl", &with_newline);
        assert_eq!(load(&path, "raw").unwrap(), with_newline);
    }

    #[test]
    fn base64_files_ignore_whitespace_and_padding() {
        // Standard alphabet, padded, with a trailing newline.
        let encoded = std_b64(SECRET);
        let path = temp_file("b64", format!("{encoded}\n").as_bytes());
        assert_eq!(load(&path, "base64").unwrap(), SECRET);
        // Unpadded, CRLF, wrapped.
        let unpadded = encoded.trim_end_matches('=');
        let wrapped = format!("{}\r\n{}\r\n", &unpadded[..20], &unpadded[20..]);
        let path = temp_file("b64-wrapped", wrapped.as_bytes());
        assert_eq!(load(&path, "base64").unwrap(), SECRET);
        // URL alphabet, unpadded and padded.
        let url = url_b64(SECRET);
        let path = temp_file("b64url", format!("{url}\n").as_bytes());
        assert_eq!(load(&path, "base64url").unwrap(), SECRET);
        let path = temp_file("b64url-pad", format!("{url}=").as_bytes());
        assert_eq!(load(&path, "base64url").unwrap(), SECRET);
    }

    #[test]
    fn wrong_alphabet_gets_a_hint_and_never_echoes_the_secret() {
        let bytes = [0xfbu8, 0xff, 0xfe, 0x10, 0x20, 0x30];
        let url = url_b64(&bytes);
        assert!(url.contains('-') || url.contains('_'), "{url}");
        let path = temp_file("hint", url.as_bytes());
        let e = load(&path, "base64").unwrap_err();
        let msg = e.to_string();
        assert!(matches!(
            e,
            KeyError::SecretDecode {
                encoding: "base64",
                ..
            }
        ));
        assert!(msg.contains("set the encoding to \"base64url\""), "{msg}");
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(!msg.contains(&url), "{msg}");

        let path = temp_file("garbage", b"hunter2$$hunter2");
        let msg = load(&path, "base64url").unwrap_err().to_string();
        assert!(!msg.contains("hunter2") && !msg.contains('$'), "{msg}");
    }

    #[test]
    fn relative_paths_resolve_against_base_dir() {
        let path = temp_file("relative", SECRET);
        let name = path.file_name().unwrap().to_str().unwrap();
        let base = path.parent().unwrap();
        assert_eq!(load_secret(name, "raw", base).unwrap(), SECRET);
    }

    #[test]
    fn env_secrets_in_each_encoding() {
        let text = String::from_utf8(SECRET.to_vec()).unwrap();
        let cases = [
            ("raw", text.clone()),
            ("base64", std_b64(SECRET)),
            ("base64url", format!("{}\n", url_b64(SECRET))),
        ];
        for (encoding, value) in cases {
            let name = format!(
                "TOLLGATE_KEYS_TEST_SECRET_{}_{}",
                std::process::id(),
                encoding.to_uppercase()
            );
            // SAFETY: the variable name is unique to this test; no other thread reads or writes it.
            #[allow(unsafe_code)]
            unsafe {
                std::env::set_var(&name, &value)
            };
            let got = load_secret(&format!("env:{name}"), encoding, Path::new("/")).unwrap();
            assert_eq!(got, SECRET, "{encoding}");
            // SAFETY: as above.
            #[allow(unsafe_code)]
            unsafe {
                std::env::remove_var(&name)
            };
        }
    }

    #[test]
    fn secret_errors_name_the_source() {
        let name = format!("TOLLGATE_KEYS_TEST_UNSET_{}", std::process::id());
        let e = load_secret(&format!("env:{name}"), "raw", Path::new("/")).unwrap_err();
        assert!(matches!(&e, KeyError::SecretEnv { name: n, .. } if *n == name));
        assert!(e.to_string().contains(&name));
        assert!(matches!(
            load_secret("env:", "raw", Path::new("/")),
            Err(KeyError::SecretLocation(_))
        ));
        assert!(matches!(
            load_secret("", "raw", Path::new("/")),
            Err(KeyError::SecretLocation(_))
        ));

        let missing = temp_path("missing");
        let e = load(&missing, "raw").unwrap_err();
        assert!(matches!(e, KeyError::ReadFile { what: "secret", .. }));
        assert!(e.to_string().contains(&missing.display().to_string()));

        let path = temp_file("enc", SECRET);
        assert!(
            matches!(load(&path, "hex"), Err(KeyError::UnknownSecretEncoding(e)) if e == "hex")
        );
        assert!(matches!(
            load(&path, "Base64"),
            Err(KeyError::UnknownSecretEncoding(_))
        ));

        let empty = temp_file("empty", b"\n");
        assert!(matches!(
            load(&empty, "base64"),
            Err(KeyError::EmptySecret(_))
        ));
        let empty = temp_file("empty-raw", b"");
        assert!(matches!(load(&empty, "raw"), Err(KeyError::EmptySecret(_))));

        let big = temp_file("big", &vec![b'A'; MAX_SECRET_FILE_BYTES as usize + 1]);
        assert!(matches!(
            load(&big, "raw"),
            Err(KeyError::FileTooLarge { what: "secret", .. })
        ));
    }

    #[test]
    fn too_short_hs256_secret_is_refused() {
        let path = temp_file("short", std_b64(&[5u8; 31]).as_bytes());
        let secret = load(&path, "base64").unwrap();
        assert!(matches!(
            NativeKey::from_secret(&secret, None, Algorithm::Hs256),
            Err(KeyError::SecretTooShort {
                min: 32,
                actual: 31,
                ..
            })
        ));
        let path = temp_file("long-enough", std_b64(&[5u8; 32]).as_bytes());
        let secret = load(&path, "base64").unwrap();
        assert!(NativeKey::from_secret(&secret, None, Algorithm::Hs256).is_ok());
    }

    #[test]
    fn jwks_files() {
        let key = crate::mint::SigningKey::generate(Algorithm::EdDsa, "ed").unwrap();
        let path = temp_file("jwks.json", key.jwks().to_string().as_bytes());
        let set = load_jwks_file(&path).unwrap();
        assert_eq!(set.find(Some("ed")).len(), 1);

        let mut bad = key.public_jwk();
        bad["use"] = json!("enc");
        let path = temp_file(
            "bad-jwks.json",
            json!({"keys": [bad]}).to_string().as_bytes(),
        );
        let e = load_jwks_file(&path).unwrap_err();
        assert!(matches!(e, KeyError::NoUsableKeys { skipped: 1, .. }));
        assert!(e.to_string().contains(&path.display().to_string()));

        let path = temp_file("not-json", b"keys: []");
        let e = load_jwks_file(&path).unwrap_err();
        assert!(
            matches!(&e, KeyError::InJwksFile { source, .. } if matches!(**source, KeyError::JwksNotJson(_)))
        );
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");

        let missing = temp_path("no-such-jwks.json");
        let e = load_jwks_file(&missing).unwrap_err();
        assert!(matches!(
            e,
            KeyError::ReadFile {
                what: "JWK Set",
                ..
            }
        ));
        assert!(e.to_string().contains(&missing.display().to_string()));

        let mut huge = key.jwks().to_string().into_bytes();
        huge.resize(MAX_JWKS_FILE_BYTES as usize + 1, b' ');
        let path = temp_file("huge-jwks.json", &huge);
        assert!(matches!(
            load_jwks_file(&path),
            Err(KeyError::FileTooLarge {
                what: "JWK Set",
                ..
            })
        ));
        huge.truncate(MAX_JWKS_FILE_BYTES as usize);
        let path = temp_file("max-jwks.json", &huge);
        assert_eq!(load_jwks_file(&path).unwrap().len(), 1);
    }
}
