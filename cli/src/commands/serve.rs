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
use tollgate_host::token_cache::{DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRIES};
use tollgate_host::{AuthorizerError, ConfigBase, Gate, TokenCacheSettings};
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
    #[arg(long, required_unless_present = "demo")]
    pub config: Option<PathBuf>,
    /// Policy module (.wasm component or .cwasm); default: the embedded module.
    #[arg(long)]
    pub module: Option<PathBuf>,
    /// The demo: embedded module, built-in demo key and policy; prints curl
    /// commands for an allowed, a forbidden and an unauthenticated request.
    #[arg(long, conflicts_with_all = ["config", "module"])]
    pub demo: bool,
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
        let module = load_module(args.module.as_deref(), args.limits.limits())?;
        let digest = module.digest().to_string();
        let key_settings = KeyFetchSettings::default()
            .with_env(&|name| std::env::var(name).ok())
            .map_err(AuthorizerError::from)?;
        let (gate, demo_key) = if args.demo {
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
            let config = args
                .config
                .as_deref()
                .ok_or_else(|| CliError::Usage("--config is required (or --demo)".into()))?;
            (
                Gate::from_config_file(module, config, key_settings).await?,
                None,
            )
        };
        let gate = Arc::new(gate.with_token_cache(cache));
        // Before anything is printed: a SIGTERM right after start counts.
        let signal = tollgate_forward_auth::server::shutdown_signal();
        let server = Server::start(gate, digest.clone(), settings)
            .await
            .map_err(|e| CliError::Usage(e.to_string()))?;
        print_started(&server, &digest);
        if let Some(key) = demo_key {
            print_demo(&key, server.addrs())?;
        }
        server.run_until(signal).await;
        println!("tollgate serve: stopped");
        Ok(())
    })
}

fn print_started(server: &Server, digest: &str) {
    let addrs = server.addrs();
    println!("tollgate serve: module sha256:{digest}");
    for (dialect, addr) in addrs.decision_listeners() {
        println!("  {:<11} decisions on {addr}", dialect.as_str());
    }
    if let Some(admin) = addrs.admin {
        println!("  admin       http://{admin}/healthz /readyz /metrics");
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
