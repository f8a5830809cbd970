//! Binding the listeners, serving, and shutting down gracefully.

use std::net::SocketAddr;
use std::sync::Arc;

use envoy_types::ext_authz::v3::pb::AuthorizationServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tollgate_host::Gate;
use tollgate_host::live::{BundleInfo, LiveGate};

use crate::door::Door;
use crate::grpc::GrpcDoor;
use crate::http::{Role, serve};
use crate::settings::{Dialect, Listen, ServeSettings, SettingsError};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Unusable settings.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// A listener could not be bound.
    #[error("cannot listen on {addr} ({role}): {source}; is another process using the port?")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Which listener.
        role: &'static str,
        /// Why.
        source: std::io::Error,
    },
}

/// A running forward-auth server.
#[derive(Debug)]
pub struct Server {
    bound: Listen,
    door: Arc<Door>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    stop_admin: watch::Sender<bool>,
    admin_task: Option<JoinHandle<()>>,
    grace: std::time::Duration,
}

impl Server {
    /// [`Server::start_live`] for one policy deployed with the host:
    /// `gate` answers every decision (no hot swap).
    pub async fn start(gate: Gate, settings: ServeSettings) -> Result<Server, ServeError> {
        let info = BundleInfo::deployed(gate.authorizer().module_digest().to_string());
        Server::start_live(Arc::new(LiveGate::new(gate, info)), settings).await
    }

    /// Bind every configured listener (all of them before serving any, so a
    /// taken port fails the start), then serve decisions with the active
    /// bundle of `live` on the current tokio runtime (hot swap replaces it
    /// between decisions, never during one).
    pub async fn start_live(
        live: Arc<LiveGate>,
        settings: ServeSettings,
    ) -> Result<Server, ServeError> {
        settings.validate()?;
        let door = Arc::new(Door::new(live, &settings));
        let (stop, stopped) = watch::channel(false);
        let (stop_admin, admin_stopped) = watch::channel(false);
        let mut bound = Listen::default();
        let mut listeners = Vec::new();
        for (dialect, addr) in settings.listen.decision_listeners() {
            let listener = bind(addr, dialect.as_str()).await?;
            let local = local_addr(&listener, addr);
            match dialect {
                Dialect::Nginx => bound.nginx = Some(local),
                Dialect::Traefik => bound.traefik = Some(local),
                Dialect::EnvoyHttp => bound.envoy_http = Some(local),
                Dialect::EnvoyGrpc => bound.envoy_grpc = Some(local),
            }
            listeners.push((Role::Decisions(dialect), listener));
        }
        if let Some(addr) = settings.listen.admin {
            let listener = bind(addr, "admin").await?;
            bound.admin = Some(local_addr(&listener, addr));
            listeners.push((Role::Admin, listener));
        }
        let mut tasks = vec![tokio::spawn(door.lag().clone().run(stopped.clone()))];
        let mut admin_task = None;
        for (role, listener) in listeners {
            let door = door.clone();
            let limits = settings.limits.clone();
            if let Role::Admin = role {
                // The admin port outlives the decision ports at shutdown, so
                // probes see readiness turn 503 while requests drain.
                admin_task = Some(tokio::spawn(serve(
                    listener,
                    door,
                    role,
                    limits,
                    admin_stopped.clone(),
                )));
                continue;
            }
            let stopped = stopped.clone();
            tasks.push(match role {
                Role::Decisions(Dialect::EnvoyGrpc) => tokio::spawn(serve_grpc(
                    listener,
                    door,
                    settings.limits.max_header_bytes,
                    stopped,
                )),
                role => tokio::spawn(serve(listener, door, role, limits, stopped)),
            });
        }
        for (dialect, addr) in bound.decision_listeners() {
            tracing::info!(door = dialect.as_str(), %addr, "listening for decisions");
        }
        if let Some(addr) = bound.admin {
            tracing::info!(%addr, "admin listening (/healthz, /readyz, /metrics)");
        }
        Ok(Server {
            bound,
            door,
            stop,
            tasks,
            stop_admin,
            admin_task,
            grace: settings.limits.shutdown_grace,
        })
    }

    /// The bound addresses (port 0 resolved).
    pub fn addrs(&self) -> &Listen {
        &self.bound
    }

    /// Readiness turns 503; the decision listeners stop accepting and let
    /// in-flight requests finish within the shutdown grace period (a
    /// listener still busy after it is aborted); then the admin listener
    /// stops. Returns when every listener is closed.
    pub async fn shutdown(self) {
        self.door.start_draining();
        let _ = self.stop.send(true);
        // Each HTTP listener bounds its own drain by the grace period; the
        // bound here also covers gRPC, whose drain has none.
        let bound = self.grace + std::time::Duration::from_secs(1);
        for task in self.tasks {
            finish(task, bound).await;
        }
        let _ = self.stop_admin.send(true);
        if let Some(task) = self.admin_task {
            finish(task, bound).await;
        }
    }

    /// Serve until `signal` completes (see [`shutdown_signal`]), then shut
    /// down gracefully.
    pub async fn run_until(self, signal: impl std::future::Future<Output = ()>) {
        signal.await;
        tracing::info!("shutting down: finishing in-flight requests");
        self.shutdown().await;
    }
}

/// Wait for a listener task at most `bound`, then abort it.
async fn finish(mut task: JoinHandle<()>, bound: std::time::Duration) {
    match tokio::time::timeout(bound, &mut task).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "a listener task failed"),
        Err(_) => {
            tracing::warn!("a listener did not drain within the grace period: closing it");
            task.abort();
        }
    }
}

async fn bind(addr: SocketAddr, role: &'static str) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, role, source })
}

fn local_addr(listener: &TcpListener, asked: SocketAddr) -> SocketAddr {
    listener.local_addr().unwrap_or(asked)
}

async fn serve_grpc(
    listener: TcpListener,
    door: Arc<Door>,
    max_header_bytes: usize,
    mut stopped: watch::Receiver<bool>,
) {
    let service = AuthorizationServer::new(GrpcDoor::new(door));
    let result = tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .http2_keepalive_interval(Some(std::time::Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(std::time::Duration::from_secs(10)))
        .http2_max_header_list_size(u32::try_from(max_header_bytes).unwrap_or(u32::MAX))
        .add_service(service)
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            async move {
                let _ = stopped.changed().await;
            },
        )
        .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "the gRPC listener failed");
    }
}

/// SIGTERM or SIGINT (Ctrl-C). Both handlers are installed when this is
/// called, not when it is first awaited, so a signal sent right after
/// start-up is not missed.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let terminate = signal(SignalKind::terminate());
        let interrupt = signal(SignalKind::interrupt());
        async move {
            match (terminate, interrupt) {
                (Ok(mut terminate), Ok(mut interrupt)) => {
                    tokio::select! {
                        _ = terminate.recv() => {}
                        _ = interrupt.recv() => {}
                    }
                }
                (terminate, interrupt) => {
                    let error = terminate.err().or(interrupt.err());
                    tracing::warn!(error = ?error, "cannot watch SIGTERM and SIGINT; stopping on Ctrl-C only");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
