//! `tollgate token mint`: sign a token with a key or secret file.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::{Value, json};
use tollgate_host::clock::unix_now;
use tollgate_keys::mint::SigningKey;

use super::keys::parse_alg;
use crate::CliError;
use crate::error::io_error;

/// `tollgate token ...`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Sign a token with a key file from `tollgate keys new`.
    Mint {
        /// The private key file, or for HS* the secret file (then `--alg` is needed).
        #[arg(long)]
        key: PathBuf,
        /// For a secret file: HS256, HS384 or HS512. For a key file: must be its algorithm.
        #[arg(long)]
        alg: Option<String>,
        /// The header `kid` (default: the key file's; none for a secret file).
        #[arg(long)]
        kid: Option<String>,
        /// Claims as a JSON object, or `@file`.
        #[arg(long)]
        claims: String,
        /// Set `iat` to now and `exp` to now + this many seconds (unless the claims set them).
        #[arg(long)]
        expires_in: Option<i64>,
    },
}

/// Run `tollgate token …`.
pub fn run(command: TokenCommand) -> Result<(), CliError> {
    match command {
        TokenCommand::Mint {
            key,
            alg,
            kid,
            claims,
            expires_in,
        } => token_mint(&key, alg.as_deref(), kid.as_deref(), &claims, expires_in),
    }
}

fn token_mint(
    key_path: &Path,
    alg: Option<&str>,
    kid: Option<&str>,
    claims: &str,
    expires_in: Option<i64>,
) -> Result<(), CliError> {
    let key_text = std::fs::read_to_string(key_path).map_err(io_error(key_path))?;
    let alg = alg.map(parse_alg).transpose()?;
    let key = if key_text.trim_start().starts_with('{') {
        let key = SigningKey::from_json(&key_text)?;
        if let Some(alg) = alg.filter(|alg| *alg != key.alg()) {
            return Err(CliError::Usage(format!(
                "--alg {alg}: {} holds a {} key; drop --alg or pick its algorithm",
                key_path.display(),
                key.alg()
            )));
        }
        key
    } else {
        // A secret file from `keys new --alg HS*`, read exactly as
        // `[[issuer.secrets]]` reads it with `encoding = "base64url"`.
        let alg = alg.filter(|alg| alg.is_symmetric()).ok_or_else(|| {
            CliError::Usage(format!(
                "{} is not a tollgate signing key file, so it is read as an HMAC secret (base64url): pass --alg HS256, HS384 or HS512 (and --kid as configured)",
                key_path.display()
            ))
        })?;
        let secret =
            tollgate_keys::load_secret(&key_path.to_string_lossy(), "base64url", Path::new(""))
                .map_err(|e| CliError::Usage(e.to_string()))?;
        SigningKey::from_secret(alg, kid.unwrap_or_default(), &secret)?
    };
    let claims_text = match claims.strip_prefix('@') {
        Some(file) => std::fs::read_to_string(file).map_err(io_error(Path::new(file)))?,
        None => claims.to_string(),
    };
    let mut claims: Value = serde_json::from_str(&claims_text)
        .map_err(|e| CliError::Usage(format!("--claims is not JSON: {e}")))?;
    let object = claims
        .as_object_mut()
        .ok_or_else(|| CliError::Usage("--claims must be a JSON object".into()))?;
    if let Some(seconds) = expires_in {
        let now = unix_now();
        object.entry("iat").or_insert(json!(now));
        object.entry("exp").or_insert(json!(now + seconds));
    }
    let mut header = serde_json::Map::new();
    header.insert("alg".into(), key.alg().name().into());
    header.insert("typ".into(), "JWT".into());
    if let Some(kid) = kid.or(Some(key.kid())).filter(|kid| !kid.is_empty()) {
        header.insert("kid".into(), kid.into());
    }
    let payload = serde_json::to_vec(&claims).map_err(tollgate_keys::mint::MintError::from)?;
    println!(
        "{}",
        tollgate_keys::mint::compact(&Value::Object(header), &payload, &key)?
    );
    Ok(())
}
