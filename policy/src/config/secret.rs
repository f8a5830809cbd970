//! An `[[issuer.secrets]]` section: a local HMAC secret.

use serde::Deserialize;

use super::SecretPolicy;
use super::document::{deserialize_table, err};
use crate::model::{Algorithm, ConfigError};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecret {
    kid: Option<String>,
    file: Option<String>,
    env: Option<String>,
    encoding: Option<String>,
    algorithm: Option<String>,
}

pub(super) fn parse_secret(
    table: &toml::Table,
    path: &str,
    algorithms: &[Algorithm],
) -> Result<SecretPolicy, ConfigError> {
    let raw: RawSecret = deserialize_table(table, path)?;

    let kid = match raw.kid {
        Some(k) if k.is_empty() => {
            return Err(err(
                format!("{path}.kid"),
                "empty; write the `kid` tokens carry, or remove the field for tokens without `kid`",
            ));
        }
        other => other,
    };

    let location = match (raw.file, raw.env) {
        (Some(_), Some(_)) => {
            return Err(err(
                format!("{path}.env"),
                "both `file` and `env` are set; keep exactly one of them",
            ));
        }
        (None, None) => {
            return Err(err(
                format!("{path}.file"),
                "no secret location; write file = \"secret.txt\" or env = \"VARIABLE_NAME\"",
            ));
        }
        (Some(file), None) => {
            if file.trim().is_empty() {
                return Err(err(
                    format!("{path}.file"),
                    "empty; write the path of the file holding the secret",
                ));
            }
            if file != file.trim() {
                return Err(err(
                    format!("{path}.file"),
                    "starts or ends with white space; write the path exactly",
                ));
            }
            if file.starts_with("env:") {
                return Err(err(
                    format!("{path}.file"),
                    "looks like an environment variable; write env = \"NAME\" instead of file = \"env:NAME\"",
                ));
            }
            file
        }
        (None, Some(env)) => {
            if env.is_empty() || env.contains('=') || env.chars().any(char::is_whitespace) {
                return Err(err(
                    format!("{path}.env"),
                    "not a valid environment variable name; write e.g. env = \"TOLLGATE_SECRET\"",
                ));
            }
            format!("env:{env}")
        }
    };

    let encoding = match raw.encoding.as_deref() {
        None => String::from("raw"),
        Some(e @ ("raw" | "base64" | "base64url")) => String::from(e),
        Some(other) => {
            return Err(err(
                format!("{path}.encoding"),
                format!("unknown encoding `{other}`; write \"raw\", \"base64\" or \"base64url\""),
            ));
        }
    };

    let algorithm = match raw.algorithm.as_deref() {
        None => {
            return Err(err(
                format!("{path}.algorithm"),
                "missing; write the HMAC algorithm of this secret, e.g. algorithm = \"HS256\"",
            ));
        }
        Some(name) => match Algorithm::from_name(name) {
            Some(alg) if alg.is_symmetric() => alg,
            _ => {
                return Err(err(
                    format!("{path}.algorithm"),
                    format!(
                        "`{name}` is not an HMAC algorithm; write \"HS256\", \"HS384\" or \"HS512\""
                    ),
                ));
            }
        },
    };
    if !algorithms.contains(&algorithm) {
        return Err(err(
            format!("{path}.algorithm"),
            format!(
                "this secret is for {algorithm} but the issuer's `algorithms` does not list it; add \"{algorithm}\" to `algorithms`"
            ),
        ));
    }

    Ok(SecretPolicy {
        kid,
        location,
        encoding,
        algorithm,
    })
}
