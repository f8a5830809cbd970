//! Errors for key parsing, validation and loading.

use std::path::PathBuf;

use crate::Algorithm;

/// Why a key, key set, or secret could not be used.
///
/// Messages say what was wrong and what to do about it. No variant ever
/// carries secret key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The JWK is not a JSON object.
    #[error("JWK is not a JSON object; each entry of a JWK Set's \"keys\" array must be an object")]
    NotAnObject,

    /// A required JWK member is absent.
    #[error("JWK has no \"{member}\" member, which is required {context}")]
    MissingMember {
        /// The missing member's name.
        member: &'static str,
        /// Where it is required, e.g. "for kty \"RSA\"".
        context: &'static str,
    },

    /// A JWK member has the wrong JSON type or an undecodable value.
    #[error("JWK member \"{member}\" is invalid: {reason}")]
    InvalidMember {
        /// The member's name.
        member: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// The key type is not one tollgate verifies with.
    #[error(
        "JWK kty \"{0}\" is not supported; use an \"RSA\", \"EC\" (P-256/P-384/P-521) or \"OKP\" (Ed25519) signing key"
    )]
    UnsupportedKeyType(String),

    /// A symmetric (`oct`) JWK was offered as a verification key.
    #[error(
        "symmetric (kty \"oct\") JWKs are refused: a shared HMAC secret must never be published in a JWK Set; configure HS256/HS384/HS512 secrets as local secrets instead"
    )]
    SymmetricNotAllowed,

    /// The JWK carries private key material.
    #[error(
        "JWK contains the private key member \"{0}\": a JWK Set must only publish public keys, so this looks like a leaked private key; remove it from the JWK Set and rotate the key"
    )]
    PrivateMemberPresent(String),

    /// An RSA modulus outside the accepted size range.
    #[error(
        "RSA modulus is {bits} bits; tollgate accepts 2048 to 8192 bits (smaller keys are forgeable); issue a key of at least 2048 bits"
    )]
    RsaKeySize {
        /// The modulus length in bits.
        bits: u32,
    },

    /// An RSA public exponent that is even, 1, or absurdly large.
    #[error(
        "RSA public exponent is invalid ({0}); it must be odd, greater than 1 and at most 33 bits (normally 65537, \"AQAB\")"
    )]
    RsaExponent(&'static str),

    /// The curve is not supported for this key type.
    #[error("JWK kty \"{kty}\" with crv \"{crv}\" is not supported; {hint}")]
    UnsupportedCurve {
        /// The key type.
        kty: &'static str,
        /// The curve as given.
        crv: String,
        /// What is supported instead.
        hint: &'static str,
    },

    /// A coordinate (or Ed25519 key) of the wrong length for the curve.
    #[error(
        "JWK member \"{member}\" decodes to {actual} bytes but crv \"{crv}\" needs exactly {expected}; check that the value is base64url of the full fixed-width coordinate"
    )]
    CoordinateLength {
        /// `x` or `y`.
        member: &'static str,
        /// The curve name.
        crv: &'static str,
        /// Required length in bytes.
        expected: usize,
        /// Decoded length in bytes.
        actual: usize,
    },

    /// The cryptographic library refused the public key (point not on the curve, bad RSA parameters, ...).
    #[error(
        "the {kind} public key was rejected by the crypto library ({reason}); the key material is corrupt or not a valid {kind} key"
    )]
    KeyRejected {
        /// Key kind, e.g. "RSA" or "EC P-256".
        kind: &'static str,
        /// aws-lc's description.
        reason: String,
    },

    /// An Ed25519 public key that is not a canonical encoding of a
    /// prime-order point: with a small-order key (the identity, say) a
    /// signature `R = identity, S = 0` verifies any message.
    #[error(
        "the Ed25519 public key \"x\" is refused: {0}; a real Ed25519 key never is, so the JWK Set is corrupt or hostile: replace the key"
    )]
    WeakEd25519Key(&'static str),

    /// `alg` is `"none"`.
    #[error(
        "JWK alg \"none\" is refused: unsigned tokens are never accepted; remove \"alg\" or set a real signature algorithm"
    )]
    AlgNone,

    /// `alg` is not a known JWS algorithm.
    #[error(
        "JWK alg \"{0}\" is not a supported JWS signature algorithm; use one of RS256/384/512, PS256/384/512, ES256/384/512, EdDSA (names are case-sensitive)"
    )]
    UnknownAlgorithm(String),

    /// `alg` is known but does not fit the key's type or curve.
    #[error("JWK alg \"{alg}\" cannot be used with a {key} key; {hint}")]
    AlgorithmMismatch {
        /// The algorithm the JWK declared.
        alg: Algorithm,
        /// Key description, e.g. "kty \"EC\" crv \"P-256\"".
        key: String,
        /// Which algorithms would fit.
        hint: String,
    },

    /// `use` is present and is not `"sig"`.
    #[error(
        "JWK use \"{0}\" is not \"sig\": this key is not meant for verifying signatures; publish the signing key with \"use\": \"sig\" or without \"use\""
    )]
    NotForSignatures(String),

    /// `key_ops` is present but lacks `"verify"`.
    #[error(
        "JWK key_ops does not include \"verify\": this key is not meant for verifying signatures; add \"verify\" or remove key_ops"
    )]
    VerifyNotPermitted,

    /// A local HMAC secret was configured for a non-HMAC algorithm.
    #[error("a local secret can only be used with HS256, HS384 or HS512, not {0}")]
    NotAnHmacAlgorithm(Algorithm),

    /// A local HMAC secret shorter than the hash output size.
    #[error(
        "the {alg} secret is {actual} bytes but must be at least {min} bytes (RFC 7518 section 3.2); generate a longer random secret, e.g. `openssl rand -base64 {min}`"
    )]
    SecretTooShort {
        /// The HMAC algorithm.
        alg: Algorithm,
        /// Required minimum length in bytes.
        min: usize,
        /// Actual length in bytes.
        actual: usize,
    },

    /// A JWK Set document that is not JSON.
    #[error("JWK Set is not valid JSON ({0}); expected a document like {{\"keys\": [...]}}")]
    JwksNotJson(String),

    /// A JSON document without a `keys` array.
    #[error("JWK Set has no \"keys\" array; expected a document like {{\"keys\": [...]}}")]
    JwksMissingKeys,

    /// A local JWK Set file in which no key could be used.
    #[error(
        "JWK Set file {path} contains no usable key ({skipped} key(s) skipped, see the warnings above); fix or replace the keys"
    )]
    NoUsableKeys {
        /// The file.
        path: PathBuf,
        /// How many keys were skipped as invalid.
        skipped: usize,
    },

    /// A local file could not be read.
    #[error("cannot read {what} file {path}: {source}; check the path and its permissions")]
    ReadFile {
        /// "JWK Set" or "secret".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },

    /// A local file is larger than allowed.
    #[error(
        "{what} file {path} is larger than the {limit}-byte limit; point the configuration at the right file"
    )]
    FileTooLarge {
        /// "JWK Set" or "secret".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The limit in bytes.
        limit: u64,
    },

    /// A local JWK Set file whose contents are invalid.
    #[error("JWK Set file {path}: {source}")]
    InJwksFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with its contents.
        source: Box<KeyError>,
    },

    /// The secret's environment variable is unset or unusable.
    #[error("secret environment variable {name} {problem}")]
    SecretEnv {
        /// The variable's name.
        name: String,
        /// What is wrong, e.g. "is not set; export it before starting tollgate".
        problem: &'static str,
    },

    /// A secret location string that cannot be used.
    #[error("secret location {0:?} is invalid: use a file path or env:NAME")]
    SecretLocation(String),

    /// The secret encoding is not one of the supported names.
    #[error("secret encoding {0:?} is not supported; use \"raw\", \"base64\" or \"base64url\"")]
    UnknownSecretEncoding(String),

    /// The secret could not be decoded with the configured encoding.
    #[error("secret from {location} is not valid {encoding}: {reason}")]
    SecretDecode {
        /// The file path or `env:NAME`.
        location: String,
        /// The configured encoding.
        encoding: &'static str,
        /// What is wrong, never quoting the secret.
        reason: String,
    },

    /// The secret is empty.
    #[error("secret from {0} is empty; put the secret in it")]
    EmptySecret(String),
}
