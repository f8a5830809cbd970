//! `tollgate keys new`: a signing key (and its public JWK Set), or an HMAC
//! secret with the policy snippet that reads it.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use tollgate_keys::Algorithm;
use tollgate_keys::mint::SigningKey;

use crate::CliError;
use crate::error::io_error;
use crate::output::{Readers, write_new};

/// `tollgate keys ...`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate a signing key. Asymmetric keys: writes the private key file
    /// and prints (or writes) its public JWKS. HMAC keys (HS*): writes the
    /// secret file, as `[[issuer.secrets]]` reads it, and prints the config
    /// snippet that uses it (an HMAC key has no public part).
    New {
        /// Algorithm: ES256, ES384, ES512, RS256..PS512, EdDSA, HS256..HS512.
        #[arg(long)]
        alg: String,
        /// Key id.
        #[arg(long, default_value = "demo-1")]
        kid: String,
        /// Private key file to write, readable by its owner only (tollgate
        /// signing key JSON; for HS*, the base64url secret). Never overwritten.
        #[arg(long)]
        out: PathBuf,
        /// Public JWKS file to write (default: print to stdout). Never
        /// overwritten; refused for HS* keys.
        #[arg(long)]
        jwks: Option<PathBuf>,
    },
}

/// Run `tollgate keys …`.
pub fn run(command: KeysCommand) -> Result<(), CliError> {
    match command {
        KeysCommand::New {
            alg,
            kid,
            out,
            jwks,
        } => keys_new(&alg, &kid, &out, jwks.as_deref()),
    }
}

/// An algorithm named on the command line.
pub(crate) fn parse_alg(alg: &str) -> Result<Algorithm, CliError> {
    Algorithm::from_name(alg).ok_or_else(|| {
        let names: Vec<&str> = Algorithm::ALL.iter().map(|a| a.name()).collect();
        CliError::Usage(format!(
            "unknown --alg {alg:?}; use one of {}",
            names.join(", ")
        ))
    })
}

fn refuse_existing(path: &Path, what: &str, flag: &str) -> Result<(), CliError> {
    if path.exists() {
        return Err(CliError::Usage(format!(
            "{} already exists; refusing to overwrite {what} (remove it or pick another {flag})",
            path.display()
        )));
    }
    Ok(())
}

fn keys_new(alg: &str, kid: &str, out: &Path, jwks: Option<&Path>) -> Result<(), CliError> {
    let alg = parse_alg(alg)?;
    if kid.trim().is_empty() || kid.trim() != kid {
        return Err(CliError::Usage(
            "--kid must not be empty or have surrounding spaces (tokens and the policy name the key by it)".into(),
        ));
    }
    // Everything is checked before anything is written.
    if alg.is_symmetric() && jwks.is_some() {
        return Err(CliError::Usage(format!(
            "--jwks: an {alg} key has no public part, so there is no JWK Set to write (tollgate never reads secrets from a JWK Set); drop --jwks: the secret goes only to --out"
        )));
    }
    refuse_existing(out, "a key", "--out")?;
    if let Some(path) = jwks {
        refuse_existing(path, "a JWK Set", "--jwks")?;
        if path == out {
            return Err(CliError::Usage(
                "--out and --jwks name the same file; give the JWK Set its own".into(),
            ));
        }
    }
    let key = SigningKey::generate(alg, kid)?;
    if let Some(secret) = key.secret_file_text() {
        write_new(out, &secret, Readers::Owner).map_err(io_error(out))?;
        eprintln!(
            "tollgate: wrote the {alg} secret to {} (readable by its owner only); sign tokens with\n  tollgate token mint --key {} --alg {alg} --kid {kid} --claims '{{...}}'\nand verify them with this under the [[issuer]] that lists {alg} in `algorithms`:",
            out.display(),
            out.display()
        );
        println!("{}", secrets_snippet(&key, out));
        return Ok(());
    }
    write_new(out, &key.to_json(), Readers::Owner).map_err(io_error(out))?;
    let jwks_text = serde_json::to_string_pretty(&key.jwks()).unwrap_or_default();
    match jwks {
        Some(path) => {
            if let Err(e) = write_new(path, &(jwks_text + "\n"), Readers::Anyone) {
                // All or nothing: the key without its JWK Set is of no use.
                let _ = std::fs::remove_file(out);
                return Err(io_error(path)(e));
            }
        }
        None => println!("{jwks_text}"),
    }
    Ok(())
}

/// The `[[issuer.secrets]]` section that reads the secret file `path`
/// (named by its absolute path, which holds wherever the policy file is).
fn secrets_snippet(key: &SigningKey, path: &Path) -> String {
    let quoted = |text: &str| serde_json::to_string(text).unwrap_or_default();
    let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    format!(
        "[[issuer.secrets]]\nkid       = {}\nfile      = {}   # or a path relative to the policy file's folder\nencoding  = \"base64url\"\nalgorithm = \"{}\"",
        quoted(key.kid()),
        quoted(&absolute.display().to_string()),
        key.alg().name()
    )
}
