//! The `tollgate` command line: check a token, precompile a module, mint demo
//! keys and tokens, and run the demo.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};
use tollgate_keys::Algorithm;
use tollgate_keys::mint::SigningKey;

use crate::engine::{self, Limits, PolicyEngine};
use crate::model::{Decision, Request, TokenSource};
use crate::{Gate, SetupError};

/// Exit code for an allow.
pub const EXIT_ALLOW: u8 = 0;
/// Exit code for a deny.
pub const EXIT_DENY: u8 = 1;
/// Exit code for a usage or configuration error.
pub const EXIT_USAGE: u8 = 2;
/// Exit code when the module or host failed (fail closed: never an allow).
pub const EXIT_INTERNAL: u8 = 3;

/// Tollgate: a JWT authorizer whose policy is a WebAssembly component.
#[derive(Debug, Parser)]
#[command(name = "tollgate", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the demo: the embedded policy module with a built-in demo key mints
    /// tokens and decides sample requests, printing each decision.
    Demo,
    /// Decide one request and print the decision as JSON (exit 0 allow, 1 deny,
    /// 2 usage or config error, 3 module or host failure).
    Check(CheckArgs),
    /// Precompile a policy module for this host (same tollgate version and CPU),
    /// or with `--target` for an architecture's baseline CPU (e.g. Lambda).
    Compile(CompileArgs),
    /// Demo signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Demo tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

/// `tollgate check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The policy document (TOML).
    #[arg(long)]
    pub config: PathBuf,
    /// The token, a full `Bearer ...` header value, or `-` to read it from stdin.
    #[arg(long)]
    pub token: String,
    /// HTTP method of the request.
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// Path of the request.
    #[arg(long, default_value = "/")]
    pub path: String,
    /// Extra request header, `name: value` (repeatable).
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Decide as of this unix time instead of now.
    #[arg(long)]
    pub now: Option<i64>,
    /// A policy module (.wasm component or .cwasm); default: the embedded one.
    #[arg(long)]
    pub module: Option<PathBuf>,
    #[command(flatten)]
    /// Sandbox limits.
    pub limits: LimitArgs,
}

/// Sandbox limits on the command line.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Wall-clock budget for one call into the module, in milliseconds.
    #[arg(long, default_value_t = 100)]
    pub deadline_ms: u64,
    /// Memory cap for one module instance, in MiB.
    #[arg(long, default_value_t = 64)]
    pub memory_mib: usize,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        Limits {
            deadline: std::time::Duration::from_millis(self.deadline_ms),
            memory_bytes: self.memory_mib << 20,
        }
    }
}

/// `tollgate compile`.
#[derive(Debug, Args)]
pub struct CompileArgs {
    /// The component to precompile; default: the embedded module.
    pub module: Option<PathBuf>,
    /// Where to write the `.cwasm`.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Precompile for this architecture's baseline CPU (a deployment target
    /// such as Lambda) instead of this machine and its CPU features.
    #[arg(long, value_enum)]
    pub target: Option<CompileTarget>,
}

/// `tollgate compile --target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompileTarget {
    /// x86_64 Linux, baseline features (Lambda x86_64).
    #[value(name = "x86_64")]
    X86_64,
    /// aarch64 Linux, baseline features (Lambda arm64).
    #[value(name = "aarch64")]
    Aarch64,
}

impl From<CompileTarget> for engine::Target {
    fn from(target: CompileTarget) -> Self {
        match target {
            CompileTarget::X86_64 => engine::Target::X86_64,
            CompileTarget::Aarch64 => engine::Target::Aarch64,
        }
    }
}

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

/// Run a parsed command line; the exit code follows [`EXIT_ALLOW`] and friends.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Demo => crate::demo::run().map(|()| EXIT_ALLOW),
        Command::Check(args) => check(&args),
        Command::Compile(args) => compile(&args).map(|()| EXIT_ALLOW),
        Command::Keys(KeysCommand::New {
            alg,
            kid,
            out,
            jwks,
        }) => keys_new(&alg, &kid, &out, jwks.as_deref()).map(|()| EXIT_ALLOW),
        Command::Token(TokenCommand::Mint {
            key,
            alg,
            kid,
            claims,
            expires_in,
        }) => token_mint(&key, alg.as_deref(), kid.as_deref(), &claims, expires_in)
            .map(|()| EXIT_ALLOW),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("tollgate: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// What can go wrong on the command line.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad arguments.
    #[error("{0}")]
    Usage(String),
    /// Setting up the authorizer failed (config, module, keys).
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// Loading or compiling the module failed.
    #[error(transparent)]
    Engine(#[from] engine::EngineError),
    /// Key or token minting failed.
    #[error(transparent)]
    Mint(#[from] tollgate_keys::mint::MintError),
    /// The async runtime for fetching remote keys could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl CliError {
    fn exit_code(&self) -> u8 {
        EXIT_USAGE
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> CliError + '_ {
    move |source| CliError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Who may read a file `write_new` creates.
#[derive(Clone, Copy)]
enum Readers {
    /// Its owner only (mode 0600 on Unix): private keys and secrets.
    Owner,
    /// As the umask says: public files.
    Anyone,
}

/// Write a new file, refusing to replace an existing one.
fn write_new(path: &Path, contents: &str, readers: Readers) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if let Readers::Owner = readers {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

/// Load the engine for `--module` or the embedded module.
pub fn load_engine(module: Option<&Path>, limits: Limits) -> Result<Arc<PolicyEngine>, CliError> {
    Ok(match module {
        Some(path) => PolicyEngine::from_file(path, limits)?,
        None => PolicyEngine::default_module(limits)?,
    })
}

fn check(args: &CheckArgs) -> Result<u8, CliError> {
    let token = if args.token == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(io_error(Path::new("<stdin>")))?;
        text.trim().to_string()
    } else {
        args.token.clone()
    };
    let mut headers = Vec::new();
    for (index, header) in args.headers.iter().enumerate() {
        // The argument is not echoed: it may well hold a credential.
        let (name, value) = header.split_once(':').ok_or_else(|| {
            CliError::Usage(format!(
                "--header #{} ({} bytes) has no `:`; write it as `name: value`",
                index + 1,
                header.len()
            ))
        })?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let engine = load_engine(args.module.as_deref(), args.limits.limits())?;
    let source = if token.len() > 7
        && token
            .get(..7)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("bearer "))
    {
        TokenSource::AuthorizationHeader(token)
    } else {
        TokenSource::Raw(token)
    };
    let request = Request {
        token_sources: vec![source],
        method: args.method.to_ascii_uppercase(),
        path: args.path.clone(),
        headers,
        now: args.now.unwrap_or_else(unix_now),
        ..Request::default()
    };
    // Remote keys (jwks_uri, discovery) are fetched at start; a one-shot
    // process refreshes inline and leaves nothing running.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    let key_settings = tollgate_jwks::Settings::lambda()
        .with_env(&|name| std::env::var(name).ok())
        .map_err(SetupError::from)?;
    let decision = runtime.block_on(async {
        let gate = Gate::from_config_file(engine, &args.config, key_settings).await?;
        Ok::<_, CliError>(gate.decide(&request).await)
    })?;
    println!("{}", decision_json(&decision));
    Ok(match decision {
        Decision::Allow(_) => EXIT_ALLOW,
        Decision::Deny(_) => EXIT_DENY,
        Decision::Error { .. } => EXIT_INTERNAL,
    })
}

/// The decision as the JSON the CLI prints: `allow`, `reason`, `principal`,
/// `status` (200/401/403/503/500 as an HTTP front door would answer) and details.
pub fn decision_json(decision: &Decision) -> Value {
    match decision {
        Decision::Allow(allow) => json!({
            "allow": true,
            "status": 200,
            "reason": Value::Null,
            "principal": allow.principal,
            "issuer": allow.issuer,
            "context": allow.context.iter().map(|(name, value)| {
                (name.clone(), serde_json::from_str::<Value>(value).unwrap_or_else(|_| Value::String(value.clone())))
            }).collect::<serde_json::Map<_, _>>(),
            "grants": allow.grants.iter().map(|g| json!({"method": g.method, "path": g.path})).collect::<Vec<_>>(),
            "request_dependent": allow.request_dependent,
            "expires_at": allow.expires_at,
        }),
        Decision::Deny(deny) => json!({
            "allow": false,
            "status": deny.http_status(),
            "reason": deny.reason.as_str(),
            "principal": deny.principal,
            "detail": deny.detail,
        }),
        Decision::Error { reason, message } => json!({
            "allow": false,
            "status": 500,
            "reason": reason,
            "principal": Value::Null,
            "detail": message,
        }),
    }
}

fn compile(args: &CompileArgs) -> Result<(), CliError> {
    let wasm = match &args.module {
        Some(path) => std::fs::read(path).map_err(io_error(path))?,
        None => engine::DEFAULT_MODULE.to_vec(),
    };
    let cwasm = engine::precompile_for(&wasm, args.target.map(Into::into))?;
    std::fs::write(&args.output, &cwasm).map_err(io_error(&args.output))?;
    eprintln!(
        "tollgate: wrote {} ({} bytes) from a {}-byte component",
        args.output.display(),
        cwasm.len(),
        wasm.len()
    );
    Ok(())
}

fn parse_alg(alg: &str) -> Result<Algorithm, CliError> {
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

/// The current unix time in seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
