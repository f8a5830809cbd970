//! Everything that can be wrong with a bundle, its build folder, its
//! signature or its keys.

use std::path::PathBuf;

/// Why a bundle (or a build folder, a key, a signature) was refused.
///
/// Each message says what was wrong and what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    // ---- reading a bundle -------------------------------------------------
    /// The bundle is larger than the configured size cap.
    #[error(
        "the bundle is {size} bytes, over the limit of {max} bytes: ship a smaller bundle (fewer files or artifacts) or raise the configured limit"
    )]
    TooLarge {
        /// The size of what was offered.
        size: u64,
        /// The cap.
        max: u64,
    },
    /// The bytes are not a (readable) tar archive.
    #[error(
        "not a bundle: the file is not a tar archive ({detail}); build it with `tollgate bundle build`"
    )]
    NotTar {
        /// What the tar reader said.
        detail: String,
    },
    /// The first entry of the archive is not `manifest.json`.
    #[error(
        "not a bundle: the first entry is {found}, not manifest.json; build it with `tollgate bundle build` (the manifest must come first)"
    )]
    ManifestNotFirst {
        /// The first entry's path, or `nothing` for an empty archive.
        found: String,
    },
    /// `manifest.json` is not valid JSON of the expected shape.
    #[error("manifest.json is invalid: {detail}; rebuild the bundle with `tollgate bundle build`")]
    ManifestInvalid {
        /// What is wrong.
        detail: String,
    },
    /// The manifest's `format` is not one this version reads.
    #[error(
        "manifest.json has format {format}, this version of tollgate reads format {supported} only: rebuild the bundle with this version's `tollgate bundle build`, or upgrade the host"
    )]
    UnknownFormat {
        /// The format the manifest names.
        format: u32,
        /// The format this crate reads.
        supported: u32,
    },
    /// The bundle name is empty or has characters outside `[a-z0-9._-]`.
    #[error(
        "invalid bundle name {name:?}: a name is 1 to 64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit; fix `name` in bundle.toml"
    )]
    InvalidName {
        /// The name as given.
        name: String,
    },
    /// The WIT version is not `major.minor.patch`.
    #[error(
        "invalid WIT version {wit:?}: write it as major.minor.patch (e.g. 0.5.0), the version of the tollgate:policy world the module was built against"
    )]
    InvalidWit {
        /// The version as given.
        wit: String,
    },
    /// A manifest field other than name and WIT is invalid.
    #[error("manifest field {field} is invalid: {detail}")]
    InvalidField {
        /// Which field (e.g. `parts[2].sha256`, `created`).
        field: String,
        /// What is wrong and what to write instead.
        detail: String,
    },
    /// A path (in the archive or the manifest) is not a safe relative path.
    #[error(
        "refused path {path:?}: {reason}; bundle paths are relative, '/'-separated, without '.', '..' or empty segments"
    )]
    InvalidPath {
        /// The path as found.
        path: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A part is outside the folder its kind lives in.
    #[error("refused part {path:?} of kind {kind}: {rule}")]
    WrongFolder {
        /// The part's path.
        path: String,
        /// The part's kind.
        kind: String,
        /// Where parts of that kind live.
        rule: &'static str,
    },
    /// An archive entry is not a regular file (a symlink, hard link,
    /// device, folder...).
    #[error(
        "refused entry {path:?}: it is a {entry_type}, a bundle holds regular files only; rebuild the bundle with `tollgate bundle build`"
    )]
    NotRegular {
        /// The entry's path.
        path: String,
        /// What kind of entry it is.
        entry_type: String,
    },
    /// The same path appears twice (in the archive or in the manifest).
    #[error(
        "refused bundle: {path:?} appears twice; rebuild the bundle with `tollgate bundle build`"
    )]
    DuplicateEntry {
        /// The duplicated path.
        path: String,
    },
    /// An archive entry is not listed in the manifest.
    #[error(
        "refused bundle: the archive holds {path:?}, which manifest.json does not list; rebuild the bundle with `tollgate bundle build`"
    )]
    ExtraEntry {
        /// The unlisted path.
        path: String,
    },
    /// A part comes in another order than the manifest lists.
    #[error(
        "refused bundle: {path:?} comes where the manifest lists {expected:?} next; parts follow manifest.json in manifest order"
    )]
    OutOfOrder {
        /// The entry found.
        path: String,
        /// The part the manifest lists at that position.
        expected: String,
    },
    /// `manifest.json.minisig` is somewhere else than right after the
    /// manifest.
    #[error(
        "refused bundle: manifest.json.minisig must come right after manifest.json; sign the bundle again with `tollgate bundle sign`"
    )]
    SignatureNotSecond,
    /// A part the manifest lists is not in the archive.
    #[error(
        "refused bundle: manifest.json lists {path:?}, which the archive does not hold (truncated file?)"
    )]
    MissingPart {
        /// The missing path.
        path: String,
    },
    /// A part's size differs from the manifest's.
    #[error(
        "refused bundle: {path:?} is {actual} bytes, manifest.json says {declared}; the bundle was changed after it was built"
    )]
    SizeMismatch {
        /// The part's path.
        path: String,
        /// The size in the manifest.
        declared: u64,
        /// The size in the archive.
        actual: u64,
    },
    /// A part's SHA-256 differs from the manifest's.
    #[error(
        "refused bundle: the SHA-256 of {path:?} is {actual}, manifest.json says {declared}; the bundle was changed after it was built (or signed)"
    )]
    DigestMismatch {
        /// The part's path.
        path: String,
        /// The digest in the manifest.
        declared: String,
        /// The digest of the bytes found.
        actual: String,
    },
    /// Not exactly one module or not exactly one policy.
    #[error("refused bundle: it holds {count} parts of kind {kind}, exactly one is required")]
    PartCount {
        /// `module` or `policy`.
        kind: &'static str,
        /// How many there are.
        count: usize,
    },
    /// An artifact without `target` and `engine`, or another part with them.
    #[error("refused part {path:?}: {detail}")]
    ArtifactFields {
        /// The part's path.
        path: String,
        /// What is wrong.
        detail: &'static str,
    },
    /// Two artifacts for the same target.
    #[error(
        "refused bundle: two artifacts for target {target:?}; a bundle carries at most one precompiled artifact per target"
    )]
    DuplicateArtifact {
        /// The target.
        target: String,
    },
    /// A text part (policy, test) is not UTF-8.
    #[error("refused part {path:?}: it is not UTF-8 text; save it as UTF-8")]
    NotUtf8 {
        /// The part's path.
        path: String,
    },

    // ---- signatures and keys ---------------------------------------------
    /// The bundle carries no signature.
    #[error(
        "the bundle is not signed: sign it with `tollgate bundle sign` (or allow unsigned local bundles explicitly in the config)"
    )]
    NotSigned,
    /// No trusted key was given to verify with.
    #[error("no trusted key to verify the bundle with: configure at least one minisign public key")]
    NoTrustedKeys,
    /// The signature was made by a key that is not among the trusted keys.
    #[error(
        "the bundle is signed by key {key_id}, which is not a trusted key: add its public key to the trusted keys, or sign with a trusted key"
    )]
    UntrustedKey {
        /// The signer's key id (16 hex digits, as minisign prints it).
        key_id: String,
    },
    /// The signature does not verify (or is malformed).
    #[error(
        "bad signature: {detail}; the bundle was changed after it was signed, or the signature is damaged: sign it again"
    )]
    BadSignature {
        /// What failed.
        detail: String,
    },
    /// A trusted-key text holds a line that is not a minisign public key.
    #[error(
        "trusted keys, line {line}: {detail}; write each key as the base64 line of a minisign public key (RW...) or paste the .pub file"
    )]
    InvalidTrustedKey {
        /// The 1-based line number.
        line: usize,
        /// What is wrong.
        detail: String,
    },
    /// A secret key file could not be used.
    #[error("cannot use the secret key: {detail}")]
    SecretKey {
        /// What is wrong and what to do.
        detail: String,
    },
    /// Signing failed.
    #[error("cannot sign the bundle: {detail}")]
    Sign {
        /// What failed.
        detail: String,
    },

    // ---- build folder and files ------------------------------------------
    /// A file or folder could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// `read`, `write`, `create`...
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The build folder holds a symlink.
    #[error(
        "refused {path}: it is a symbolic link; a bundle folder holds regular files and folders only (copy the file in)"
    )]
    Symlink {
        /// The link's path.
        path: PathBuf,
    },
    /// The build folder holds something other than files and folders.
    #[error("refused {path}: it is not a regular file or folder")]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// A required file of the build folder is missing.
    #[error("{path} is missing: {hint}")]
    MissingFile {
        /// The path.
        path: PathBuf,
        /// What the file holds.
        hint: &'static str,
    },
    /// `bundle.toml` is invalid.
    #[error("{path}: {detail}")]
    BundleToml {
        /// The path of bundle.toml.
        path: PathBuf,
        /// What is wrong (field, line, column).
        detail: String,
    },
    /// A test file is not valid TOML.
    #[error("{path}: invalid TOML: {detail}")]
    TestToml {
        /// The test file.
        path: PathBuf,
        /// What the parser said.
        detail: String,
    },
    /// A test file names another policy than the bundle's.
    #[error(
        "{path}: config = {config:?}, but a bundle's tests run against the bundle's policy.toml: remove `config` or write config = {expected:?}"
    )]
    TestConfig {
        /// The test file.
        path: PathBuf,
        /// What its `config` says.
        config: String,
        /// What it may say.
        expected: String,
    },
    /// A file under `tests/` that is not a `*.test.toml` file.
    #[error("{path}: tests/ holds only *.test.toml files; rename it or move it to files/")]
    NotATestFile {
        /// The file.
        path: PathBuf,
    },
    /// The build folder's files add up to more than the cap.
    #[error(
        "the bundle folder holds more than {max} bytes (module, policy, tests and files): remove files or raise the limit"
    )]
    SourceTooLarge {
        /// The cap.
        max: u64,
    },
    /// No module: bundle.toml names none and the caller supplied none.
    #[error("no module: name one with `module = \"path.wasm\"` in bundle.toml")]
    ModuleMissing,
    /// A precompilation target is not a plain name.
    #[error(
        "invalid target {target:?}: write a target name such as \"x86_64\" or \"aarch64-unknown-linux-gnu\""
    )]
    InvalidTarget {
        /// The target as given.
        target: String,
    },
    /// Extraction found something in the way (a symlink or a folder where
    /// a file goes).
    #[error(
        "refused to extract {path:?}: {found} is in the way (extraction never follows symlinks); extract into an empty folder"
    )]
    ExtractBlocked {
        /// The bundle path being written.
        path: String,
        /// What is in the way.
        found: String,
    },
    /// Writing the archive failed.
    #[error("cannot write the bundle archive: {detail}")]
    Write {
        /// What failed.
        detail: String,
    },
}
