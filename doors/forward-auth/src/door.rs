//! What every listener shares: the gate, the answer style, the limiter,
//! the metrics, and the one function that turns a read request into an
//! answer ([`Door::decide`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tollgate_host::live::{Active, LiveGate};
use tollgate_host::model::grants::route_granted;
use tollgate_host::model::{Decision, Deny, DenyReason, Request};

use crate::answer::{Answer, AnswerStyle, answer, bad_request, unavailable};
use crate::dialect::BadForwarding;
use crate::limiter::Limiter;
use crate::metrics::Metrics;
use crate::settings::{Dialect, ServeSettings};

/// The server's shared state.
#[derive(Debug)]
pub struct Door {
    /// The bundle that answers (module, policy, keys), swapped atomically
    /// by hot swap; each decision uses one bundle throughout.
    pub live: Arc<LiveGate>,
    /// How decisions are answered.
    pub style: AnswerStyle,
    /// Decision slots.
    pub limiter: Limiter,
    /// Metrics.
    pub metrics: Metrics,
    /// Longest a decision may take.
    pub deadline: Duration,
    /// Envoy HTTP's path prefix.
    pub envoy_prefix: String,
    /// RFC 9728 metadata, when configured (its document is built from the
    /// active bundle's issuers at each request: a swap may change them).
    pub resource: Option<crate::settings::ResourceMetadata>,
    /// Whether the admin port takes bundle actions (rollback, promote).
    pub admin_bundle_actions: bool,
    draining: AtomicBool,
    lag: Arc<LagProbe>,
}

/// A module's allow whose own grants do not let the asked route through is
/// answered as the refusal the grants say (a module inconsistency: the door
/// reads the grants, as the Lambda door does, and never widens them).
fn within_grants(decision: Decision, request: &Request) -> Decision {
    match &decision {
        Decision::Allow(allow) if !route_granted(&allow.grants, &request.method, &request.path) => {
            tracing::warn!(
                method = %request.method,
                "the module allowed a route its own grants do not cover: answering 403"
            );
            Decision::Deny(
                Deny::new(
                    DenyReason::Forbidden,
                    "the allow's grants do not cover this route",
                )
                .with_principal(allow.principal.clone()),
            )
        }
        _ => decision,
    }
}

/// How often [`LagProbe`] wakes up.
pub const LAG_PROBE_INTERVAL: Duration = Duration::from_millis(10);

/// Measures how late the runtime runs a task that asked to wake up every
/// [`LAG_PROBE_INTERVAL`]: when every worker is busy deciding, the lag is
/// how long a new request waits before it is even read.
#[derive(Debug)]
pub struct LagProbe {
    lag_micros: AtomicU64,
    limit: Duration,
}

impl LagProbe {
    /// A probe that calls the runtime saturated beyond `limit` of lag.
    pub fn new(limit: Duration) -> Self {
        LagProbe {
            lag_micros: AtomicU64::new(0),
            limit,
        }
    }

    /// The last lag measured (updated at each wake-up).
    pub fn lag(&self) -> Duration {
        Duration::from_micros(self.lag_micros.load(Ordering::Relaxed))
    }

    /// Whether the last lag is over the limit.
    pub fn saturated(&self) -> bool {
        self.lag() > self.limit
    }

    /// Measure until `stop` changes.
    pub async fn run(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            let asked = Instant::now();
            tokio::select! {
                _ = tokio::time::sleep(LAG_PROBE_INTERVAL) => {}
                _ = stop.changed() => return,
            }
            let late = asked.elapsed().saturating_sub(LAG_PROBE_INTERVAL);
            let micros = u64::try_from(late.as_micros()).unwrap_or(u64::MAX);
            self.lag_micros.store(micros, Ordering::Relaxed);
        }
    }
}

impl Door {
    /// The shared state for the bundles of `live` under `settings`.
    pub fn new(live: Arc<LiveGate>, settings: &ServeSettings) -> Self {
        Door {
            metrics: Metrics::new(live.clone()),
            live,
            style: AnswerStyle::new(settings.identity.clone(), settings.resource.as_ref()),
            limiter: Limiter::new(&settings.limits),
            deadline: settings.limits.deadline,
            envoy_prefix: settings.envoy_path_prefix.clone(),
            resource: settings.resource.clone(),
            admin_bundle_actions: settings.admin_bundle_actions,
            draining: AtomicBool::new(false),
            lag: Arc::new(LagProbe::new(settings.limits.queue_timeout)),
        }
    }

    /// Answer one decision request of `dialect`, read at `started`: a 400
    /// when it could not be read, a 503 on overload or past the deadline,
    /// else the module's decision as an [`Answer`]. Every answer is counted,
    /// every 5xx logged.
    pub async fn decide(
        &self,
        dialect: Dialect,
        request: Result<Request, BadForwarding>,
        started: Instant,
    ) -> Answer {
        let answer = match request {
            Err(bad) => {
                tracing::warn!(door = dialect.as_str(), error = %bad, "refused a decision request (400)");
                bad_request(&bad.0)
            }
            // Saturated CPU: decisions run on the workers, so a backlog shows
            // as scheduling lag, not as a full queue. Answer 503 at once,
            // without the module, until the lag is back under the queue timeout.
            Ok(_) if self.lag.saturated() => {
                tracing::warn!(
                    door = dialect.as_str(),
                    lag_ms = self.lag.lag().as_millis() as u64,
                    "overloaded (scheduling lag): answering 503"
                );
                unavailable("overloaded")
            }
            Ok(mut request) => match self.limiter.acquire().await {
                Err(overload) => {
                    tracing::warn!(
                        door = dialect.as_str(),
                        ?overload,
                        "overloaded: answering 503"
                    );
                    unavailable("overloaded")
                }
                Ok(_slot) => {
                    // One bundle for the whole decision, even across a swap:
                    // it canonicalizes the path (the request is left
                    // canonical, so grants are checked against the path the
                    // module matched) and decides. A path it refuses is
                    // denied `invalid-path` without the module and, like
                    // every decision, offered to a shadow run: a candidate
                    // that accepts it widens what the live bundle denies.
                    let decided = self.live.decide_request(&mut request, 0);
                    match tokio::time::timeout(self.deadline, decided).await {
                        Ok((Decision::Deny(deny), active))
                            if deny.reason == DenyReason::InvalidPath =>
                        {
                            self.refused_path(dialect, &active, &request, Decision::Deny(deny))
                        }
                        Ok((decision, _)) => {
                            answer(&within_grants(decision, &request), &self.style)
                        }
                        Err(_) => unavailable("deadline"),
                    }
                }
            },
        };
        if answer.status.is_server_error() {
            tracing::error!(
                door = dialect.as_str(),
                status = answer.status.as_u16(),
                reason = answer.reason,
                "answered 503: the host could not decide (never an allow)"
            );
        }
        self.metrics.record(
            dialect.as_str(),
            answer.outcome,
            answer.reason,
            started.elapsed(),
        );
        answer
    }

    /// The answer to `decision`, an `invalid-path` deny of `request` by
    /// `active`: the refusal's own text when the bundle's canonical form
    /// refused the path (the request is then as received, so canonicalizing
    /// it again with the same bundle gives the same refusal), else (a
    /// module's own `invalid-path` deny) the usual answer.
    fn refused_path(
        &self,
        dialect: Dialect,
        active: &Active,
        request: &Request,
        decision: Decision,
    ) -> Answer {
        match active.gate.canonicalize(&mut request.clone()) {
            Err(refusal) => {
                tracing::info!(
                    door = dialect.as_str(),
                    refusal = refusal.as_str(),
                    "refused a path that cannot be decided safely (400)"
                );
                crate::answer::invalid_path(&refusal.to_string())
            }
            Ok(()) => answer(&decision, &self.style),
        }
    }

    /// The RFC 9728 metadata: the path it is served at and its JSON, with
    /// the active bundle's issuers as authorization servers unless they
    /// were configured.
    pub fn metadata(&self) -> Option<(String, Bytes)> {
        let resource = self.resource.as_ref()?;
        let servers: Vec<String> = if resource.authorization_servers.is_empty() {
            self.live
                .current()
                .gate
                .authorizer()
                .manifest()
                .issuers
                .iter()
                .map(|needs| needs.issuer.clone())
                .collect()
        } else {
            resource.authorization_servers.clone()
        };
        let mut document = serde_json::json!({
            "resource": resource.resource_text,
            "authorization_servers": servers,
            "bearer_methods_supported": ["header"],
        });
        if let (false, Some(fields)) = (
            resource.scopes_supported.is_empty(),
            document.as_object_mut(),
        ) {
            fields.insert(
                "scopes_supported".into(),
                serde_json::json!(resource.scopes_supported),
            );
        }
        Some((
            resource.well_known_path(),
            Bytes::from(document.to_string()),
        ))
    }

    /// The scheduling-lag probe (start it with [`LagProbe::run`]).
    pub fn lag(&self) -> &Arc<LagProbe> {
        &self.lag
    }

    /// Whether shutdown has begun (readiness turns false).
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Begin shutdown: readiness turns false.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_host::model::{Allow, Grant};

    #[test]
    fn an_allow_outside_its_own_grants_is_a_403() {
        let allow = |grants: Vec<Grant>| {
            Decision::Allow(Allow {
                principal: "alice".into(),
                issuer: "https://issuer.test".into(),
                context: Vec::new(),
                grants,
                request_dependent: false,
                expires_at: None,
                rule: None,
            })
        };
        let request = Request {
            method: "DELETE".into(),
            path: "/orders/1".into(),
            ..Request::default()
        };
        let covered = allow(vec![Grant::allow("*", "/orders/*")]);
        assert_eq!(within_grants(covered.clone(), &request), covered);
        for grants in [
            vec![Grant::allow("GET", "/orders/*")],
            vec![Grant::deny("DELETE", "/orders/*"), Grant::allow("*", "/*")],
            Vec::new(),
        ] {
            let Decision::Deny(deny) = within_grants(allow(grants.clone()), &request) else {
                panic!("{grants:?} let DELETE /orders/1 through");
            };
            assert_eq!(deny.reason, DenyReason::Forbidden);
            assert_eq!(deny.principal.as_deref(), Some("alice"));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_lag_probe_sees_busy_workers() {
        let probe = Arc::new(LagProbe::new(Duration::from_millis(50)));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let running = tokio::spawn(probe.clone().run(stopped));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!probe.saturated(), "idle lag {:?}", probe.lag());
        // Both workers busy for 300 ms, as with decisions back to back.
        let busy: Vec<_> = (0..2)
            .map(|_| tokio::spawn(async { std::thread::sleep(Duration::from_millis(300)) }))
            .collect();
        for task in busy {
            task.await.expect("busy task");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(probe.saturated(), "lag {:?} after 300 ms busy", probe.lag());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!probe.saturated(), "lag {:?} after recovering", probe.lag());
        let _ = stop.send(true);
        running.await.expect("probe stops");
    }
}
