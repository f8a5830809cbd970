//! `tollgate serve`: the forward-auth server for edge proxies
//! (`doors/forward-auth`): nginx `auth_request`, Traefik ForwardAuth and
//! Envoy `ext_authz` (HTTP and gRPC), each on its own port, plus an admin
//! port. `--demo` runs it on the embedded module with the demo key and
//! prints curl commands to try.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use serde_json::json;
use tollgate_forward_auth::settings::{
    DEFAULT_ENVOY_PATH_PREFIX, DEFAULT_HEADER_PREFIX, DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_MAX_HEADERS, DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_QUEUE,
};
use tollgate_forward_auth::{
    IdentityHeaders, Listen, ResourceMetadata, ServeLimits, ServeSettings, Server,
};
use tollgate_host::jwks::KeyFetchSettings;
use tollgate_host::live::{Active, BundleInfo, LiveGate};
use tollgate_host::shadow::ShadowSettings;
use tollgate_host::token_cache::{DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRIES};
use tollgate_host::{AuthorizerError, ConfigBase, Gate, TokenCacheSettings};
use tollgate_hot_swap::HotSwap;
use tollgate_hot_swap::controller::HotSwapSettings;
use tollgate_hot_swap::pipeline::PipelineSettings;
use tollgate_hot_swap::source::{BundleSource, SourceSettings};
use tollgate_keys::mint::SigningKey;

use crate::CliError;
use crate::commands::check::{LimitArgs, load_module};
use crate::commands::demo::{DEMO_KEY, DEMO_POLICY, demo_claims};

/// The listeners used when none is given.
pub const DEFAULT_NGINX: &str = "127.0.0.1:8181";
/// Default Traefik listener.
pub const DEFAULT_TRAEFIK: &str = "127.0.0.1:8182";
/// Default Envoy HTTP listener.
pub const DEFAULT_ENVOY_HTTP: &str = "127.0.0.1:8183";
/// Default Envoy gRPC listener.
pub const DEFAULT_ENVOY_GRPC: &str = "127.0.0.1:8184";
/// Default admin listener.
pub const DEFAULT_ADMIN: &str = "127.0.0.1:9181";

/// `tollgate serve` arguments.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The policy document (TOML); key files resolve against its folder.
    /// With `--bundle-source`, the policy that answers until a bundle
    /// passes (optional there).
    #[arg(long, required_unless_present_any = ["demo", "bundle_source"])]
    pub config: Option<PathBuf>,
    /// Policy module (.wasm component or .cwasm); default: the embedded module.
    #[arg(long)]
    pub module: Option<PathBuf>,
    /// The demo: embedded module, built-in demo key and policy; prints curl
    /// commands for an allowed, a forbidden and an unauthenticated request.
    #[arg(long, conflicts_with_all = ["config", "module", "bundle_source"])]
    pub demo: bool,
    #[command(flatten)]
    /// Policy bundles: hot swap.
    pub bundles: BundleArgs,
    /// nginx `auth_request` listener. With no listener flag at all, every
    /// listener starts on its default (127.0.0.1:8181..8184).
    #[arg(long, value_name = "ADDR")]
    pub nginx: Option<SocketAddr>,
    /// Traefik ForwardAuth listener.
    #[arg(long, value_name = "ADDR")]
    pub traefik: Option<SocketAddr>,
    /// Envoy `ext_authz` HTTP listener.
    #[arg(long, value_name = "ADDR")]
    pub envoy_http: Option<SocketAddr>,
    /// Envoy `ext_authz` gRPC listener.
    #[arg(long, value_name = "ADDR")]
    pub envoy_grpc: Option<SocketAddr>,
    /// Admin listener (/healthz, /readyz, /metrics).
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_ADMIN)]
    pub admin: SocketAddr,
    /// No admin listener.
    #[arg(long, conflicts_with = "admin")]
    pub no_admin: bool,
    /// Let the admin port change what answers: `POST /bundle/rollback` and
    /// `/bundle/promote` (`tollgate bundle rollback|promote`). Off by
    /// default; keep the admin port on loopback or a private network.
    #[arg(long, conflicts_with = "no_admin")]
    pub admin_bundle_actions: bool,
    /// A context entry of the policy (`context_claims`, `[[context]]`) to
    /// answer as the `<prefix><name>` header; repeat for each. Every one is
    /// always set (empty when absent), so client copies are overwritten.
    #[arg(long = "context-header", value_name = "NAME")]
    pub context_headers: Vec<String>,
    /// Prefix of the identity headers (`<prefix>principal`, `<prefix>issuer`, …).
    #[arg(long, default_value = DEFAULT_HEADER_PREFIX)]
    pub header_prefix: String,
    /// The path prefix Envoy's HTTP `ext_authz` puts before the original path.
    #[arg(long, default_value = DEFAULT_ENVOY_PATH_PREFIX)]
    pub envoy_path_prefix: String,
    /// The protected resource's identifier (RFC 9728), e.g.
    /// `https://api.example.com`: challenges then carry `resource_metadata`,
    /// and `/.well-known/oauth-protected-resource` is answered.
    #[arg(long, value_name = "URL")]
    pub resource: Option<String>,
    /// An authorization server for the metadata (repeat; default: the
    /// policy's issuers).
    #[arg(
        long = "authorization-server",
        value_name = "URL",
        requires = "resource"
    )]
    pub authorization_servers: Vec<String>,
    /// A scope for the metadata's `scopes_supported` (repeat).
    #[arg(long = "scope-supported", value_name = "SCOPE", requires = "resource")]
    pub scopes_supported: Vec<String>,
    /// Decisions running at once.
    #[arg(long, default_value_t = DEFAULT_MAX_IN_FLIGHT)]
    pub max_in_flight: usize,
    /// Decisions waiting for a slot; beyond it 503 at once.
    #[arg(long, default_value_t = DEFAULT_MAX_QUEUE)]
    pub max_queue: usize,
    /// Longest wait for a slot, in milliseconds, before a 503.
    #[arg(long, default_value_t = 100)]
    pub queue_timeout_ms: u64,
    /// Longest a decision may take (key refetch included), in milliseconds, before a 503.
    #[arg(long, default_value_t = 2000)]
    pub decision_deadline_ms: u64,
    /// Largest request head in bytes (431 beyond it; at least 8192).
    #[arg(long, default_value_t = DEFAULT_MAX_HEADER_BYTES)]
    pub max_header_bytes: usize,
    /// Most header lines per request (431 beyond it).
    #[arg(long, default_value_t = DEFAULT_MAX_HEADERS)]
    pub max_headers: usize,
    /// On SIGTERM, seconds in-flight requests may take to finish.
    #[arg(long, default_value_t = 10)]
    pub shutdown_grace_seconds: u64,
    /// Token cache entries (0: no cache: every request is verified).
    #[arg(long, default_value_t = DEFAULT_MAX_ENTRIES)]
    pub token_cache_entries: usize,
    /// Token cache bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_BYTES)]
    pub token_cache_bytes: usize,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub workers: Option<usize>,
    #[command(flatten)]
    /// Sandbox limits.
    pub limits: LimitArgs,
}

/// `tollgate serve`'s hot swap: where bundles come from, whom to trust,
/// and the shadow run (docs/bundles.md).
#[derive(Debug, Args)]
pub struct BundleArgs {
    /// Run policy bundles from here and swap in each new one that passes:
    /// a bundle file (watched), an `https://` URL (polled with ETag) or
    /// `s3://bucket/key` (credentials, region and endpoint from `AWS_*`).
    #[arg(long, value_name = "SOURCE")]
    pub bundle_source: Option<String>,
    /// The bundle name this host runs (bundle.toml's `name`); others are refused.
    #[arg(long, value_name = "NAME", requires = "bundle_source")]
    pub bundle_name: Option<String>,
    /// A trusted minisign public key (a `.pub` file or its `RW…` line;
    /// repeat for rotation). Required for a URL or S3 source.
    #[arg(
        long = "bundle-key",
        value_name = "PUBLIC_KEY",
        requires = "bundle_source"
    )]
    pub bundle_keys: Vec<String>,
    /// A local file source only: accept unsigned bundles.
    #[arg(long, requires = "bundle_source")]
    pub bundle_allow_unsigned: bool,
    /// Seconds between checks of the source (a watched file is also
    /// checked as soon as it changes).
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub bundle_interval_seconds: u64,
    /// Private folder (0700) for the last good bundle, extracted bundles and
    /// compiled artifacts; default `$XDG_STATE_HOME/tollgate/<name>` (or
    /// `~/.local/state/tollgate/<name>`).
    #[arg(long, value_name = "DIR", requires = "bundle_source")]
    pub bundle_state_dir: Option<PathBuf>,
    /// An explicit rollback: accept this revision although it is lower
    /// than the active one.
    #[arg(long, value_name = "REVISION", requires = "bundle_source")]
    pub bundle_allow_revision: Option<u64>,
    /// Refuse every bundle revision below this one (the floor on a fresh
    /// state folder, against a replay of an old signed bundle).
    #[arg(long, value_name = "REVISION", requires = "bundle_source")]
    pub bundle_min_revision: Option<u64>,
    /// The largest bundle downloaded, in bytes.
    #[arg(long, default_value_t = tollgate_bundle::DEFAULT_MAX_BYTES, value_name = "BYTES")]
    pub bundle_max_bytes: u64,
    /// Run each new bundle in shadow beside the active one before it
    /// answers: it decides every (sampled) request too, off the decision
    /// path, and disagreements are logged and counted.
    #[arg(long, requires = "bundle_source")]
    pub shadow: bool,
    /// Share of requests the shadow candidate decides (0 to 1).
    #[arg(long, default_value_t = 1.0, requires = "shadow")]
    pub shadow_sample: f64,
    /// Shortest shadow run before an automatic promotion, in seconds.
    #[arg(long, default_value_t = 600, requires = "shadow")]
    pub shadow_min_seconds: u64,
    /// Fewest distinct callers compared before an automatic promotion.
    #[arg(long, default_value_t = 10, requires = "shadow")]
    pub shadow_min_callers: u64,
    /// Largest share of compared requests the bundles may disagree on
    /// (declared changes aside) for an automatic promotion.
    #[arg(long, default_value_t = 0.0, requires = "shadow")]
    pub shadow_max_disagreement: f64,
    /// Never promote automatically: `tollgate bundle promote` (or POST
    /// /bundle/promote on the admin port) does.
    #[arg(long, requires = "shadow")]
    pub shadow_manual: bool,
}

impl BundleArgs {
    /// The hot swap settings, or `None` without `--bundle-source`.
    pub fn settings(
        &self,
        sandbox: tollgate_host::SandboxLimits,
        keys: KeyFetchSettings,
        token_cache: TokenCacheSettings,
    ) -> Result<Option<HotSwapSettings>, CliError> {
        let Some(text) = &self.bundle_source else {
            return Ok(None);
        };
        let usage = |flag: &str, e: &dyn std::fmt::Display| CliError::Usage(format!("{flag}: {e}"));
        let source_settings = SourceSettings {
            max_bytes: self.bundle_max_bytes,
            ..SourceSettings::default()
        };
        let source = BundleSource::parse(text).map_err(|e| usage("--bundle-source", &e))?;
        let name = self.bundle_name.clone().ok_or_else(|| {
            CliError::Usage(
                "--bundle-name is required with --bundle-source (bundle.toml's `name`)".into(),
            )
        })?;
        let trusted_keys = if self.bundle_keys.is_empty() {
            tollgate_bundle::TrustedKeys::default()
        } else {
            super::bundle::trusted_keys(&self.bundle_keys)?
        };
        if self.bundle_interval_seconds == 0 {
            return Err(CliError::Usage(
                "--bundle-interval-seconds must be at least 1".into(),
            ));
        }
        let state_dir = match &self.bundle_state_dir {
            Some(dir) => dir.clone(),
            None => default_state_dir(&name)?,
        };
        let shadow = self.shadow.then(|| ShadowSettings {
            sample: self.shadow_sample,
            min_duration: Duration::from_secs(self.shadow_min_seconds),
            min_callers: self.shadow_min_callers,
            max_disagreement: self.shadow_max_disagreement,
            auto_promote: !self.shadow_manual,
        });
        if let Some(shadow) = &shadow {
            shadow.validate().map_err(|e| usage("--shadow-*", &e))?;
        }
        Ok(Some(HotSwapSettings {
            source,
            source_settings,
            pipeline: PipelineSettings {
                name,
                trusted_keys,
                allow_unsigned: self.bundle_allow_unsigned,
                allow_revision: self.bundle_allow_revision,
                min_revision: self.bundle_min_revision,
                read_limits: tollgate_bundle::ReadLimits {
                    max_bytes: self.bundle_max_bytes,
                },
                state_dir,
                sandbox,
                keys,
                token_cache,
            },
            interval: Duration::from_secs(self.bundle_interval_seconds),
            shadow,
        }))
    }
}

/// `$XDG_STATE_HOME/tollgate/<name>`, else `~/.local/state/tollgate/<name>`.
fn default_state_dir(name: &str) -> Result<PathBuf, CliError> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state")))
        .ok_or_else(|| {
            CliError::Usage(
                "no --bundle-state-dir, and neither XDG_STATE_HOME nor HOME is set".into(),
            )
        })?;
    Ok(base.join("tollgate").join(name))
}

impl ServeArgs {
    /// The door's settings.
    pub fn settings(&self) -> Result<ServeSettings, CliError> {
        let usage = |e: tollgate_forward_auth::SettingsError| CliError::Usage(e.to_string());
        let given = self.nginx.is_some()
            || self.traefik.is_some()
            || self.envoy_http.is_some()
            || self.envoy_grpc.is_some();
        let default = |text: &str| text.parse::<SocketAddr>().ok();
        let listen = if given {
            Listen {
                nginx: self.nginx,
                traefik: self.traefik,
                envoy_http: self.envoy_http,
                envoy_grpc: self.envoy_grpc,
                admin: None,
            }
        } else {
            Listen {
                nginx: default(DEFAULT_NGINX),
                traefik: default(DEFAULT_TRAEFIK),
                envoy_http: default(DEFAULT_ENVOY_HTTP),
                envoy_grpc: default(DEFAULT_ENVOY_GRPC),
                admin: None,
            }
        };
        let listen = Listen {
            admin: (!self.no_admin).then_some(self.admin),
            ..listen
        };
        let context = if self.demo && self.context_headers.is_empty() {
            vec!["email".to_string(), "scope".to_string()]
        } else {
            self.context_headers.clone()
        };
        let resource = self
            .resource
            .as_deref()
            .map(|resource| {
                ResourceMetadata::new(
                    resource,
                    self.authorization_servers.clone(),
                    self.scopes_supported.clone(),
                )
            })
            .transpose()
            .map_err(usage)?;
        let settings = ServeSettings {
            listen,
            identity: IdentityHeaders::new(&self.header_prefix, &context).map_err(usage)?,
            resource,
            limits: ServeLimits {
                max_in_flight: self.max_in_flight,
                max_queue: self.max_queue,
                queue_timeout: Duration::from_millis(self.queue_timeout_ms),
                deadline: Duration::from_millis(self.decision_deadline_ms),
                max_header_bytes: self.max_header_bytes,
                max_headers: self.max_headers,
                shutdown_grace: Duration::from_secs(self.shutdown_grace_seconds),
            },
            envoy_path_prefix: self.envoy_path_prefix.clone(),
            admin_bundle_actions: self.admin_bundle_actions,
        };
        settings.validate().map_err(usage)?;
        Ok(settings)
    }

    fn token_cache(&self) -> Result<TokenCacheSettings, CliError> {
        let settings = TokenCacheSettings {
            max_entries: self.token_cache_entries,
            max_bytes: self.token_cache_bytes,
        };
        settings
            .validate()
            .map_err(|e| CliError::Usage(format!("--token-cache-*: {e}")))?;
        Ok(settings)
    }
}

/// Run `tollgate serve` until SIGTERM or Ctrl-C.
pub fn run(args: &ServeArgs) -> Result<(), CliError> {
    let settings = args.settings()?;
    let cache = args.token_cache()?;
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(workers) = args.workers {
        if workers == 0 {
            return Err(CliError::Usage("--workers must be at least 1".into()));
        }
        runtime.worker_threads(workers);
    }
    let runtime = runtime.build().map_err(CliError::Runtime)?;
    runtime.block_on(async {
        let key_settings = KeyFetchSettings::default()
            .with_env(&|name| std::env::var(name).ok())
            .map_err(AuthorizerError::from)?;
        let hot_swap = args
            .bundles
            .settings(args.limits.limits(), key_settings.clone(), cache)?;
        let (live, swap, demo_key) = match hot_swap {
            Some(hot_swap) => {
                // A deployed policy answers until a bundle passes, if given.
                let fallback = match &args.config {
                    Some(config) => {
                        let module = load_module(args.module.as_deref(), args.limits.limits())?;
                        let gate = Gate::from_config_file(module, config, key_settings.clone())
                            .await?
                            .with_token_cache(cache);
                        let info =
                            BundleInfo::deployed(gate.authorizer().module_digest().to_string());
                        Some(Active { gate, info })
                    }
                    None => None,
                };
                let swap = HotSwap::start(hot_swap, fallback, true)
                    .await
                    .map_err(|e| CliError::Usage(e.to_string()))?;
                (swap.live().clone(), Some(swap), None)
            }
            None => {
                let (gate, demo_key) = deployed(args, key_settings).await?;
                let gate = gate.with_token_cache(cache);
                let info = BundleInfo::deployed(gate.authorizer().module_digest().to_string());
                (Arc::new(LiveGate::new(gate, info)), None, demo_key)
            }
        };
        // Before anything is printed: a SIGTERM right after start counts.
        let signal = tollgate_forward_auth::server::shutdown_signal();
        let server = Server::start_live(live.clone(), settings)
            .await
            .map_err(|e| CliError::Usage(e.to_string()))?;
        let (stop_checks, checks_stopped) = tokio::sync::watch::channel(false);
        let checks = swap.map(|swap| tokio::spawn(swap.run(checks_stopped)));
        print_started(&server, &live);
        if let Some(key) = demo_key {
            print_demo(&key, server.addrs())?;
        }
        server.run_until(signal).await;
        let _ = stop_checks.send(true);
        if let Some(checks) = checks {
            let _ = checks.await;
        }
        println!("tollgate serve: stopped");
        Ok(())
    })
}

/// The policy deployed with the host: `--demo`'s, or `--config` with
/// `--module`; the demo's signing key with it.
async fn deployed(
    args: &ServeArgs,
    key_settings: KeyFetchSettings,
) -> Result<(Gate, Option<SigningKey>), CliError> {
    let module = load_module(args.module.as_deref(), args.limits.limits())?;
    Ok({
        if args.demo {
            let key = SigningKey::from_json(DEMO_KEY)?;
            let jwks = key.jwks().to_string();
            let base = ConfigBase::Embedded(vec![("demo-jwks.json".into(), jwks)]);
            let gate = Gate::new(
                module,
                DEMO_POLICY,
                &base,
                "the built-in demo policy",
                key_settings,
            )
            .await?;
            (gate, Some(key))
        } else {
            let config = args.config.as_deref().ok_or_else(|| {
                CliError::Usage("--config is required (or --demo, or --bundle-source)".into())
            })?;
            (
                Gate::from_config_file(module, config, key_settings).await?,
                None,
            )
        }
    })
}

fn print_started(server: &Server, live: &LiveGate) {
    let addrs = server.addrs();
    let active = live.current();
    println!(
        "tollgate serve: bundle {} revision {} ({}), module sha256:{}",
        active.info.name, active.info.revision, active.info.source, active.info.module_digest
    );
    for (dialect, addr) in addrs.decision_listeners() {
        println!("  {:<11} decisions on {addr}", dialect.as_str());
    }
    if let Some(admin) = addrs.admin {
        println!("  admin       http://{admin}/healthz /readyz /metrics /bundle");
    }
    println!(
        "  (SIGTERM or Ctrl-C: finish in-flight requests and stop; TOLLGATE_LOG=info logs each decision)"
    );
}

fn print_demo(key: &SigningKey, addrs: &Listen) -> Result<(), CliError> {
    let now = tollgate_host::clock::unix_now();
    let claims = |scope: &str| demo_claims(now, &json!({ "scope": scope, "exp": now + 3600 }));
    let allowed = key.sign_jwt(&claims("orders.read orders.write"), None)?;
    let forbidden = key.sign_jwt(&claims("profile"), None)?;
    let Some(nginx) = addrs.nginx else {
        return Ok(());
    };
    let curl = |token: Option<&str>| {
        let auth = token.map_or(String::new(), |t| {
            format!(" -H 'Authorization: Bearer {t}'")
        });
        format!(
            "curl -i -H 'X-Original-Method: GET' -H 'X-Original-URI: /orders/1'{auth} http://{nginx}/auth"
        )
    };
    println!();
    println!(
        "Demo (the demo key is public: never trust it outside the demo). Tokens valid for 1 hour."
    );
    println!("Allowed (200, X-Auth-Principal: alice, X-Auth-Email, X-Auth-Scope):");
    println!("  {}", curl(Some(&allowed)));
    println!(
        "Forbidden (403, WWW-Authenticate: Bearer error=\"insufficient_scope\" … scope=\"orders.read\"):"
    );
    println!("  {}", curl(Some(&forbidden)));
    println!("Unauthenticated (401, WWW-Authenticate: Bearer):");
    println!("  {}", curl(None));
    Ok(())
}
