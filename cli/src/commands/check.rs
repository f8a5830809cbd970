//! `tollgate check`: decide one request and print the decision as JSON.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use tollgate_host::clock::unix_now;
use tollgate_host::jwks::KeyFetchSettings;
use tollgate_host::model::{Decision, Request, TokenSource};
use tollgate_host::{AuthorizerError, Gate, PolicyModule, SandboxLimits};

use crate::error::io_error;
use crate::output::decision_json;
use crate::{CliError, EXIT_ALLOW, EXIT_DENY, EXIT_INTERNAL};

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
    /// The limits as the host takes them.
    pub fn limits(&self) -> SandboxLimits {
        SandboxLimits {
            deadline: std::time::Duration::from_millis(self.deadline_ms),
            memory_bytes: self.memory_mib << 20,
        }
    }
}

/// Load `--module`, or the embedded module.
pub fn load_module(
    module: Option<&Path>,
    limits: SandboxLimits,
) -> Result<Arc<PolicyModule>, CliError> {
    Ok(match module {
        Some(path) => PolicyModule::from_file(path, limits)?,
        None => PolicyModule::default_module(limits)?,
    })
}

/// Run `tollgate check`: the exit code says allow, deny or failure.
pub fn run(args: &CheckArgs) -> Result<u8, CliError> {
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
    let module = load_module(args.module.as_deref(), args.limits.limits())?;
    let request = Request {
        // Passed as given: the module alone parses the `Bearer` scheme.
        token_sources: vec![TokenSource::Raw(token)],
        method: args.method.clone(),
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
    let key_settings = KeyFetchSettings::lambda()
        .with_env(&|name| std::env::var(name).ok())
        .map_err(AuthorizerError::from)?;
    let decision = runtime.block_on(async {
        let gate = Gate::from_config_file(module, &args.config, key_settings).await?;
        Ok::<_, CliError>(gate.decide(&request).await)
    })?;
    println!("{}", decision_json(&decision));
    Ok(match decision {
        Decision::Allow(_) => EXIT_ALLOW,
        Decision::Deny(_) => EXIT_DENY,
        Decision::Error { .. } => EXIT_INTERNAL,
    })
}
