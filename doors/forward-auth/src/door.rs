//! What every listener shares: the gate, the answer style, the limiter,
//! the metrics, and the one function that turns a read request into an
//! answer ([`Door::decide`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tollgate_host::Gate;
use tollgate_host::model::Request;

use crate::answer::{Answer, AnswerStyle, answer, bad_request, unavailable};
use crate::dialect::BadForwarding;
use crate::limiter::Limiter;
use crate::metrics::Metrics;
use crate::settings::{Dialect, ServeSettings};

/// The server's shared state.
#[derive(Debug)]
pub struct Door {
    /// The configured module and its keys.
    pub gate: Arc<Gate>,
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
    /// RFC 9728 metadata: the path it is served at and its JSON.
    pub metadata: Option<(String, Bytes)>,
    /// The module's digest (lowercase hex).
    pub module_digest: String,
    draining: AtomicBool,
}

impl Door {
    /// The shared state for `gate` under `settings`.
    pub fn new(gate: Arc<Gate>, module_digest: String, settings: &ServeSettings) -> Self {
        let metadata = settings.resource.as_ref().map(|resource| {
            let servers = if resource.authorization_servers.is_empty() {
                gate.authorizer()
                    .manifest()
                    .issuers
                    .iter()
                    .map(|needs| needs.issuer.clone())
                    .collect()
            } else {
                resource.authorization_servers.clone()
            };
            let mut document = serde_json::json!({
                "resource": resource.resource.as_str(),
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
            (
                resource.well_known_path(),
                Bytes::from(document.to_string()),
            )
        });
        Door {
            metrics: Metrics::new(gate.clone(), module_digest.clone()),
            gate,
            style: AnswerStyle::new(settings.identity.clone(), settings.resource.as_ref()),
            limiter: Limiter::new(&settings.limits),
            deadline: settings.limits.deadline,
            envoy_prefix: settings.envoy_path_prefix.clone(),
            metadata,
            module_digest,
            draining: AtomicBool::new(false),
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
            Ok(request) => match self.limiter.acquire().await {
                Err(overload) => {
                    tracing::warn!(
                        door = dialect.as_str(),
                        ?overload,
                        "overloaded: answering 503"
                    );
                    unavailable("overloaded")
                }
                Ok(_slot) => {
                    match tokio::time::timeout(self.deadline, self.gate.decide(&request)).await {
                        Ok(decision) => answer(&decision, &self.style),
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

    /// Whether shutdown has begun (readiness turns false).
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Begin shutdown: readiness turns false.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }
}
