//! `tollgate bundle`: build, sign, verify, inspect and compare policy
//! bundles, and ask a running `tollgate serve` for its bundle status, a
//! rollback or a promotion. The format is `tollgate-bundle`'s; activation
//! is `tollgate-hot-swap`'s; this file reads arguments and prints.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand};
use tollgate_bundle::{Artifact, Bundle, BundleSource, ReadLimits, SigningKey, TrustedKeys};
use tollgate_host::PolicyModule;
use tollgate_host::module::{DEFAULT_MODULE, Target, engine_fingerprint, precompile_for};
use tollgate_policy_test::{Report, RunOptions, TestFile, discover};

use super::check::LimitArgs;
use super::compile::CompileTarget;
use crate::error::io_error;
use crate::{CliError, EXIT_ALLOW, EXIT_TEST_FAILED};

/// The environment variable holding a secret key's password.
pub const KEY_PASSWORD_ENV: &str = "TOLLGATE_BUNDLE_KEY_PASSWORD";

/// `tollgate bundle …`.
#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Build a bundle from a folder (bundle.toml, policy.toml, tests/,
    /// files/): its module (default: the embedded one) must load and every
    /// test case must pass, or nothing is written.
    Build(BuildArgs),
    /// Sign a bundle (minisign, Ed25519) in place or to `-o`.
    Sign(SignArgs),
    /// Verify a bundle's format, digests and signature against trusted keys.
    Verify(VerifyArgs),
    /// Print a bundle's manifest: name, revision, WIT version, parts.
    Inspect(InspectArgs),
    /// Write a new minisign key pair for signing bundles.
    Keygen(KeygenArgs),
    /// Decide recorded cases with two bundles and print where they differ
    /// (exit 0 when they agree on every case, 1 when not).
    Diff(DiffArgs),
    /// Ask a running `tollgate serve` (its admin port) for its bundle status.
    Status(AdminArgs),
    /// Ask a running `tollgate serve` to go back to its previous bundle.
    Rollback(AdminArgs),
    /// Ask a running `tollgate serve` to promote its shadow candidate now.
    Promote(AdminArgs),
}

/// `tollgate bundle build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The folder: bundle.toml, policy.toml, tests/**.test.toml, files/**.
    pub dir: PathBuf,
    /// Where to write the bundle.
    #[arg(short, long)]
    pub output: PathBuf,
    /// The revision, instead of bundle.toml's.
    #[arg(long)]
    pub revision: Option<u64>,
    /// Also carry a module precompiled for this architecture's baseline CPU
    /// (repeatable); hosts load it only from a signed bundle.
    #[arg(long, value_enum)]
    pub target: Vec<CompileTarget>,
    /// Sign it with this minisign secret key.
    #[arg(long, value_name = "SECRET_KEY")]
    pub sign: Option<PathBuf>,
    #[command(flatten)]
    /// Sandbox limits for running its tests.
    pub limits: LimitArgs,
}

/// `tollgate bundle sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The bundle.
    pub bundle: PathBuf,
    /// The minisign secret key (password from TOLLGATE_BUNDLE_KEY_PASSWORD
    /// when it is encrypted).
    #[arg(long, value_name = "SECRET_KEY")]
    pub key: PathBuf,
    /// Write the signed bundle here instead of in place.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// `tollgate bundle verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The bundle.
    pub bundle: PathBuf,
    /// A trusted public key: a minisign `.pub` file or its `RW…` line
    /// (repeatable).
    #[arg(long = "key", value_name = "PUBLIC_KEY", required = true)]
    pub keys: Vec<String>,
}

/// `tollgate bundle inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The bundle.
    pub bundle: PathBuf,
    /// Print the manifest and digests as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `tollgate bundle keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the public key (`.pub`, give it to hosts).
    #[arg(long)]
    pub public: PathBuf,
    /// Where to write the secret key (keep it private).
    #[arg(long)]
    pub secret: PathBuf,
    /// Write the secret key unencrypted (no password): for tests and CI
    /// secrets stores only. Otherwise the password is TOLLGATE_BUNDLE_KEY_PASSWORD.
    #[arg(long)]
    pub unencrypted: bool,
}

/// `tollgate bundle diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The bundle running now.
    pub old: PathBuf,
    /// The candidate.
    pub new: PathBuf,
    /// Recorded cases (`*.test.toml` files or folders): each is decided by
    /// both bundles (their expectations are not judged).
    #[arg(long, required = true)]
    pub cases: Vec<PathBuf>,
    /// Verify both bundles against this trusted key first (repeatable).
    #[arg(long = "key", value_name = "PUBLIC_KEY")]
    pub keys: Vec<String>,
    /// Print the comparison as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The admin port of a running `tollgate serve`.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// Its admin listener.
    #[arg(long, default_value = super::serve::DEFAULT_ADMIN)]
    pub admin: String,
}

/// Run a `tollgate bundle` command.
pub fn run(command: BundleCommand) -> Result<u8, CliError> {
    match command {
        BundleCommand::Build(args) => build(&args).map(|()| EXIT_ALLOW),
        BundleCommand::Sign(args) => sign(&args).map(|()| EXIT_ALLOW),
        BundleCommand::Verify(args) => verify(&args).map(|()| EXIT_ALLOW),
        BundleCommand::Inspect(args) => inspect(&args).map(|()| EXIT_ALLOW),
        BundleCommand::Keygen(args) => keygen(&args).map(|()| EXIT_ALLOW),
        BundleCommand::Diff(args) => diff(&args),
        BundleCommand::Status(args) => admin(&args, "GET", "/bundle").map(|()| EXIT_ALLOW),
        BundleCommand::Rollback(args) => {
            admin(&args, "POST", "/bundle/rollback").map(|()| EXIT_ALLOW)
        }
        BundleCommand::Promote(args) => {
            admin(&args, "POST", "/bundle/promote").map(|()| EXIT_ALLOW)
        }
    }
}

fn bundle_error(path: &Path) -> impl FnOnce(tollgate_bundle::BundleError) -> CliError + '_ {
    move |e| CliError::Usage(format!("{}: {e}", path.display()))
}

fn build(args: &BuildArgs) -> Result<(), CliError> {
    let source = BundleSource::from_dir(&args.dir).map_err(bundle_error(&args.dir))?;
    let wasm = source.module().unwrap_or(DEFAULT_MODULE).to_vec();
    // The module must load here (imports, WIT version) before it ships.
    let module = PolicyModule::compile_component(&wasm, args.limits.limits())?;
    let wit = module
        .wit_version()
        .ok_or_else(|| {
            CliError::Usage(
                "the module imports no tollgate:authorizer interface: it is not a policy module"
                    .into(),
            )
        })?
        .to_string();
    let mut targets: Vec<Target> = args.target.iter().map(|t| (*t).into()).collect();
    for name in source.targets() {
        targets.push(Target::from_arch_name(name).ok_or_else(|| {
            CliError::Usage(format!(
                "{}: bundle.toml `targets`: {name:?} is not a target: write \"x86_64\" or \"aarch64\"",
                args.dir.display()
            ))
        })?);
    }
    targets.sort_by_key(|t| t.triple());
    targets.dedup();
    let mut artifacts = Vec::new();
    for target in targets {
        let cwasm = precompile_for(&wasm, Some(target))?;
        artifacts.push(Artifact {
            target: target.triple().to_string(),
            engine: engine_fingerprint(target),
            bytes: cwasm,
        });
    }
    let mut builder = source
        .into_builder(
            Some(wasm),
            &wit,
            artifacts,
            &rfc3339(std::time::SystemTime::now()),
        )
        .map_err(bundle_error(&args.dir))?;
    if let Some(revision) = args.revision {
        builder.revision = revision;
    }
    let mut bytes = builder.to_bytes().map_err(bundle_error(&args.dir))?;
    // Its own tests must pass: a host would refuse it anyway.
    let bundle = Bundle::read(&bytes, &ReadLimits::default()).map_err(bundle_error(&args.dir))?;
    let report = run_bundle_tests(&module, &bundle, &args.dir)?;
    if !report.all_passed() || report.passed == 0 {
        print!("{}", report.to_text(false));
        return Err(CliError::Usage(format!(
            "{}: not written: {} of {} test cases passed (a bundle needs at least one, and every one must pass)",
            args.output.display(),
            report.passed,
            report.passed + report.failed
        )));
    }
    if let Some(key) = &args.sign {
        let secret = read_secret_key(key)?;
        bytes = tollgate_bundle::sign(&bytes, &secret, &trusted_comment(&bundle))
            .map_err(bundle_error(key))?;
    }
    std::fs::write(&args.output, &bytes).map_err(io_error(&args.output))?;
    let written =
        Bundle::read(&bytes, &ReadLimits::default()).map_err(bundle_error(&args.output))?;
    eprintln!(
        "tollgate: wrote {} ({} bytes): {} revision {}, {} test cases passed, {}signed, digest {}",
        args.output.display(),
        bytes.len(),
        written.manifest().name,
        written.manifest().revision,
        report.passed,
        if written.signature().is_some() {
            ""
        } else {
            "not "
        },
        written.digest()
    );
    Ok(())
}

fn trusted_comment(bundle: &Bundle) -> String {
    let manifest = bundle.manifest();
    format!(
        "tollgate bundle {} revision {} wit {}",
        manifest.name, manifest.revision, manifest.wit
    )
}

/// Run a bundle's own test cases with `module`, extracted to a private
/// temporary folder. The report names its files as under `shown_as` (the
/// folder the bundle was built from), not the temporary folder, which is
/// gone when it is printed.
fn run_bundle_tests(
    module: &Arc<PolicyModule>,
    bundle: &Bundle,
    shown_as: &Path,
) -> Result<Report, CliError> {
    if bundle.tests().next().is_none() {
        return Err(CliError::Usage(format!(
            "{}: no test cases: add at least one tests/*.test.toml (hosts refuse a bundle without any)",
            shown_as.display()
        )));
    }
    let dir = TempDir::new("bundle-tests")?;
    bundle
        .extract_to(dir.path())
        .map_err(bundle_error(dir.path()))?;
    let tests = dir.path().join("tests");
    let files = discover(&[tests])
        .and_then(|paths| {
            paths
                .iter()
                .map(|p| TestFile::load(p))
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(|e| CliError::Usage(format!("the bundle's tests: {e}")))?;
    let options = RunOptions {
        config: Some(dir.path().join("policy.toml")),
    };
    let mut report = tollgate_policy_test::run(module, &files, &options)
        .map_err(|e| CliError::Usage(format!("the bundle's tests: {e}")))?;
    let shown = |path: &mut String| {
        if let Ok(rest) = Path::new(path.as_str()).strip_prefix(dir.path()) {
            *path = shown_as.join(rest).display().to_string();
        }
    };
    for case in &mut report.cases {
        shown(&mut case.file);
    }
    for coverage in &mut report.coverage {
        shown(&mut coverage.config);
    }
    for warning in &mut report.warnings {
        shown(&mut warning.config);
    }
    Ok(report)
}

fn read_bundle(path: &Path) -> Result<Bundle, CliError> {
    let bytes = std::fs::read(path).map_err(io_error(path))?;
    Bundle::read(&bytes, &ReadLimits::default()).map_err(bundle_error(path))
}

fn read_secret_key(path: &Path) -> Result<SigningKey, CliError> {
    let text = std::fs::read_to_string(path).map_err(io_error(path))?;
    let password = std::env::var(KEY_PASSWORD_ENV).ok();
    SigningKey::from_text(&text, password.as_deref()).map_err(bundle_error(path))
}

/// Trusted keys from arguments: each a `.pub` file or a key line.
pub fn trusted_keys(keys: &[String]) -> Result<TrustedKeys, CliError> {
    let mut text = String::new();
    for key in keys {
        let path = Path::new(key);
        if path.is_file() {
            text.push_str(&std::fs::read_to_string(path).map_err(io_error(path))?);
        } else {
            text.push_str(key);
        }
        text.push('\n');
    }
    TrustedKeys::parse(&text).map_err(|e| CliError::Usage(format!("--key: {e}")))
}

fn sign(args: &SignArgs) -> Result<(), CliError> {
    let bundle = read_bundle(&args.bundle)?;
    let bytes = std::fs::read(&args.bundle).map_err(io_error(&args.bundle))?;
    let secret = read_secret_key(&args.key)?;
    let signed = tollgate_bundle::sign(&bytes, &secret, &trusted_comment(&bundle))
        .map_err(bundle_error(&args.key))?;
    let output = args.output.as_ref().unwrap_or(&args.bundle);
    std::fs::write(output, &signed).map_err(io_error(output))?;
    let written = Bundle::read(&signed, &ReadLimits::default()).map_err(bundle_error(output))?;
    eprintln!(
        "tollgate: signed {} ({} revision {}), digest {}",
        output.display(),
        written.manifest().name,
        written.manifest().revision,
        written.digest()
    );
    Ok(())
}

fn verify(args: &VerifyArgs) -> Result<(), CliError> {
    let keys = trusted_keys(&args.keys)?;
    let bundle = read_bundle(&args.bundle)?;
    let by = bundle.verify(&keys).map_err(bundle_error(&args.bundle))?;
    println!(
        "{}: signature ok (key {}), {} revision {}, digest {}",
        args.bundle.display(),
        by.key_id,
        bundle.manifest().name,
        bundle.manifest().revision,
        bundle.digest()
    );
    Ok(())
}

fn inspect(args: &InspectArgs) -> Result<(), CliError> {
    let bundle = read_bundle(&args.bundle)?;
    let text = if args.json {
        format!("{:#}\n", bundle.summary())
    } else {
        bundle.describe()
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(())
}

fn keygen(args: &KeygenArgs) -> Result<(), CliError> {
    let password = if args.unencrypted {
        None
    } else {
        let password = std::env::var(KEY_PASSWORD_ENV).map_err(|_| {
            CliError::Usage(format!(
                "set {KEY_PASSWORD_ENV} to the password that encrypts the secret key, or pass --unencrypted"
            ))
        })?;
        // An empty password (often a CI secret that is not set) would write
        // a key labelled encrypted that anyone can use.
        if password.is_empty() {
            return Err(CliError::Usage(format!(
                "{KEY_PASSWORD_ENV} is empty: set it to a password, or pass --unencrypted to write the secret key unencrypted on purpose"
            )));
        }
        Some(password)
    };
    let pair = tollgate_bundle::generate_keypair(password).map_err(bundle_error(&args.secret))?;
    for path in [&args.public, &args.secret] {
        if path.exists() {
            return Err(CliError::Usage(format!(
                "{} exists: not overwritten (remove it or choose another path)",
                path.display()
            )));
        }
    }
    write_private(&args.secret, pair.secret_key.as_bytes())?;
    std::fs::write(&args.public, pair.public_key.as_bytes()).map_err(io_error(&args.public))?;
    eprintln!(
        "tollgate: wrote {} (trust it: --bundle-key {}) and {} (keep it secret), key id {}",
        args.public.display(),
        args.public.display(),
        args.secret.display(),
        pair.key_id
    );
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_error(path))?;
    file.write_all(bytes).map_err(io_error(path))
}

fn diff(args: &DiffArgs) -> Result<u8, CliError> {
    let keys = if args.keys.is_empty() {
        None
    } else {
        Some(trusted_keys(&args.keys)?)
    };
    let files = discover(&args.cases)
        .and_then(|paths| {
            paths
                .iter()
                .map(|p| TestFile::load(p))
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let mut reports = Vec::new();
    for path in [&args.old, &args.new] {
        let bundle = read_bundle(path)?;
        if let Some(keys) = &keys {
            bundle.verify(keys).map_err(bundle_error(path))?;
        }
        let module = PolicyModule::compile_component(bundle.module(), Default::default())?;
        let dir = TempDir::new("bundle-diff")?;
        bundle.extract_to(dir.path()).map_err(bundle_error(path))?;
        let options = RunOptions {
            config: Some(dir.path().join("policy.toml")),
        };
        let report = tollgate_policy_test::run(&module, &files, &options)
            .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
        reports.push((bundle, report));
    }
    let [(old, old_report), (new, new_report)] = <[_; 2]>::try_from(reports)
        .map_err(|_| CliError::Usage("two bundles are needed".into()))?;
    let mut differences = Vec::new();
    for (before, after) in old_report.cases.iter().zip(&new_report.cases) {
        let same =
            before.got.decision == after.got.decision && before.got.reason == after.got.reason;
        if !same {
            let widening = before.got.decision != "allow" && after.got.decision == "allow";
            differences.push(serde_json::json!({
                "file": before.file,
                "case": before.name,
                "old": before.got,
                "new": after.got,
                "widening": widening,
            }));
        }
    }
    let total = old_report.cases.len();
    if args.json {
        let document = serde_json::json!({
            "old": {"name": old.manifest().name, "revision": old.manifest().revision, "digest": old.digest().to_string()},
            "new": {"name": new.manifest().name, "revision": new.manifest().revision, "digest": new.digest().to_string()},
            "cases": total,
            "differences": differences,
        });
        println!("{document:#}");
    } else {
        for difference in &differences {
            println!(
                "{} `{}`: {} -> {}{}",
                difference["file"].as_str().unwrap_or(""),
                difference["case"].as_str().unwrap_or(""),
                describe_got(&difference["old"]),
                describe_got(&difference["new"]),
                if difference["widening"] == true {
                    "  (widening: the new bundle allows what the old denied)"
                } else {
                    ""
                }
            );
        }
        println!(
            "{} of {} cases decided differently (old {} revision {}, new {} revision {})",
            differences.len(),
            total,
            old.manifest().name,
            old.manifest().revision,
            new.manifest().name,
            new.manifest().revision
        );
    }
    Ok(if differences.is_empty() {
        EXIT_ALLOW
    } else {
        EXIT_TEST_FAILED
    })
}

fn describe_got(got: &serde_json::Value) -> String {
    match got["reason"].as_str() {
        Some(reason) => format!("{} ({reason})", got["decision"].as_str().unwrap_or("?")),
        None => got["decision"].as_str().unwrap_or("?").to_string(),
    }
}

/// Send one admin request to a running `tollgate serve` and print the JSON answer.
fn admin(args: &AdminArgs, method: &str, path: &str) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    let (status, body) = runtime
        .block_on(crate::admin_client::request(&args.admin, method, path))
        .map_err(CliError::Usage)?;
    println!("{body}");
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(CliError::Usage(format!(
            "{method} {path} on {} answered {status}",
            args.admin
        )))
    }
}

/// A private temporary folder, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> Result<TempDir, CliError> {
        use std::os::unix::fs::DirBuilderExt;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path =
            std::env::temp_dir().join(format!("tollgate-{what}-{}-{nanos}", std::process::id()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(io_error(&path))?;
        Ok(TempDir(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `time` as RFC 3339 UTC (`2026-12-01T06:00:00Z`): the manifest's `created`.
pub fn rfc3339(time: std::time::SystemTime) -> String {
    let secs = time
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rest = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::rfc3339;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_796_104_800)),
            "2026-12-01T06:00:00Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
    }
}
