//! Tollgate as an AWS Lambda authorizer for API Gateway.
//!
//! - [`event`]: which authorizer format a payload is (REST TOKEN, REST
//!   REQUEST, HTTP API payload 1.0 and 2.0) and the [`Request`](tollgate_host::model::Request) it means;
//! - [`identity`]: the authorizer's identity sources (its cache key), the
//!   only place a REQUEST event's credential is read from;
//! - [`response`]: the answer (IAM policy, simple response, or the errors
//!   API Gateway turns into 401 and 500);
//! - [`arn`]: execute-api ARNs;
//! - [`iam`]: a decision's ordered allow and deny grants as IAM `Allow` and
//!   `Deny` statements, exact for every route where IAM can say it;
//! - [`setup`]: where the module and the policy document come from.
//!
//! [`State`] (engine, compiled module, configured instances, keys) is built
//! once at init, before the runtime loop; [`handle`] is the whole
//! invocation, a plain `async fn` over a JSON event.

pub mod arn;
pub mod bundles;
pub mod event;
pub mod iam;
pub mod identity;
pub mod response;
pub mod setup;

use std::sync::Arc;
use std::time::Duration;

use lambda_runtime::Diagnostic;
use serde_json::Value;
use tollgate_host::Gate;
use tollgate_host::live::{Active, BundleInfo, LiveGate};
use tollgate_host::model::{Decision, DenyReason};
use tollgate_hot_swap::HotSwap;

use crate::event::ApiGatewayRequest;

use crate::event::Event;

pub use setup::{InitError, LambdaSettings};

/// The exact error message API Gateway turns into a 401.
pub const UNAUTHORIZED: &str = "Unauthorized";

/// Everything an invocation needs, built once at init.
#[derive(Debug)]
pub struct State {
    /// The bundle that answers (the deployed policy, or the last one
    /// swapped in), with its module and keys.
    pub live: Arc<LiveGate>,
    /// Hot swap: the bundle source checked at the start of invocations,
    /// and the longest an invocation waits for a due check.
    pub hot_swap: Option<(Arc<HotSwap>, Duration)>,
    /// The Lambda front door's own settings.
    pub settings: LambdaSettings,
}

impl State {
    /// The state for `gate` (a policy deployed with the function, no hot
    /// swap) under `settings`: the gate answers repeated tokens from a
    /// verified-token cache bounded by `settings.token_cache` (none when it
    /// is off), which lives as long as the warm container.
    pub fn new(gate: Gate, settings: LambdaSettings) -> State {
        let gate = gate.with_token_cache(settings.token_cache);
        let info = BundleInfo::deployed(gate.authorizer().module_digest().to_string());
        State {
            live: Arc::new(LiveGate::new(gate, info)),
            hot_swap: None,
            settings,
        }
    }

    /// The state for a hot-swapped policy: `swap`'s live gate answers,
    /// and each invocation first gives a due check at most `budget`.
    pub fn with_hot_swap(swap: Arc<HotSwap>, budget: Duration, settings: LambdaSettings) -> State {
        State {
            live: swap.live().clone(),
            hot_swap: Some((swap, budget)),
            settings,
        }
    }

    /// The bundle answering now (one per decision).
    pub fn active(&self) -> Arc<Active> {
        self.live.current()
    }
}

/// A function error: API Gateway answers 401 for [`HandlerError::Unauthorized`]
/// (message exactly `Unauthorized`) and 500 for the others, caching nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandlerError {
    /// Not authenticated: missing, malformed, badly signed, expired … token.
    /// The message is exactly `Unauthorized`; the reason is only logged.
    #[error("Unauthorized")]
    Unauthorized {
        /// Why (for logs and tests; never sent).
        reason: DenyReason,
    },
    /// The issuer's keys are unavailable: the host's trouble, not the client's.
    #[error("signing keys unavailable: {0}")]
    KeysUnavailable(String),
    /// The policy module or host failed (trap, deadline, memory limit).
    #[error("policy module failed ({reason}): {message}")]
    Internal {
        /// `internal-error`, `not-configured`.
        reason: String,
        /// Detail.
        message: String,
    },
    /// Not an authorizer event this function can read (a deployment problem).
    #[error("invalid event: {0}")]
    InvalidEvent(String),
}

impl HandlerError {
    /// The Runtime API `errorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            HandlerError::Unauthorized { .. } => UNAUTHORIZED,
            HandlerError::KeysUnavailable(_) => "KeysUnavailable",
            HandlerError::Internal { .. } => "InternalError",
            HandlerError::InvalidEvent(_) => "InvalidEvent",
        }
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(error: HandlerError) -> Self {
        Diagnostic {
            error_type: error.error_type().to_string(),
            error_message: error.to_string(),
        }
    }
}

/// Decide one request: the single place the Lambda front door asks the
/// policy module, through the host's [`Gate`]: in Lambda mode a due key
/// refresh runs inline first (bounded), and an unknown `kid` refetches the
/// issuer's keys (rate-limited) before the module is asked once more.
///
/// The ARN the door keeps repeats the path: it counts towards the request
/// limits, as when it was part of the request.
pub async fn decide(state: &State, request: &ApiGatewayRequest) -> Decision {
    decide_on(state, &state.active(), request).await
}

/// [`decide`] with `active`, the bundle this invocation started with.
async fn decide_on(state: &State, active: &Arc<Active>, request: &ApiGatewayRequest) -> Decision {
    let arn_bytes = request.method_arn.as_ref().map_or(0, String::len);
    state.live.decide_on(active, request, arn_bytes).await
}

/// One invocation: detect the event format, map it to a [`Request`](tollgate_host::model::Request) decided
/// as of now, decide, and answer.
pub async fn handle(state: &State, payload: Value) -> Result<Value, HandlerError> {
    handle_at(state, payload, tollgate_host::clock::unix_now()).await
}

/// [`handle`] as of `now` (unix seconds).
pub async fn handle_at(state: &State, payload: Value, now: i64) -> Result<Value, HandlerError> {
    // Error messages name fields, never their values (which can carry
    // credentials): they are safe to log and to return.
    let event = match Event::read(payload) {
        Ok(event) => event,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the invocation event");
            return Err(HandlerError::InvalidEvent(e.0));
        }
    };
    let kind = event.kind();
    let mut request = event.into_request(&state.settings.identity_sources, now);
    // Hot swap: a due check of the bundle source starts here and is given
    // at most the budget; the bundle active after it decides this whole
    // invocation.
    if let Some((swap, budget)) = &state.hot_swap {
        swap.before_invocation(*budget).await;
    }
    let active = state.active();
    // The path in canonical form first: the answer's grants are checked
    // against the path the module matched, and a path that cannot be
    // decided safely is denied for that route without asking the module.
    let decision = match active.gate.canonicalize(&mut request.request) {
        Ok(()) => decide_on(state, &active, &request).await,
        Err(refusal) => Decision::Deny(tollgate_host::authorizer::invalid_path(refusal)),
    };
    let answer = response::answer(kind, &request, &decision, &state.settings);
    log_answer(kind, &request, &decision, &answer);
    answer
}

/// Log `message` as a warning the first time `flag` is seen unset (a
/// deployment problem worth one line, not one per invocation).
pub(crate) fn warn_once(flag: &std::sync::atomic::AtomicBool, message: &'static str) {
    if !flag.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!("{message}");
    }
}

fn log_answer(
    kind: event::EventKind,
    request: &ApiGatewayRequest,
    decision: &Decision,
    answer: &Result<Value, HandlerError>,
) {
    let (outcome, reason) = match decision {
        Decision::Allow(_) => ("allow", ""),
        Decision::Deny(deny) => ("deny", deny.reason.as_str()),
        Decision::Error { reason, .. } => ("error", reason.as_str()),
    };
    match answer {
        Ok(_) => tracing::info!(
            event = kind.as_str(), method = %request.method, path = %request.path,
            outcome, reason, "answered"
        ),
        Err(HandlerError::Unauthorized { .. }) => tracing::info!(
            event = kind.as_str(), method = %request.method, path = %request.path,
            outcome, reason, answer = UNAUTHORIZED, "answered"
        ),
        Err(e) => tracing::error!(
            event = kind.as_str(), method = %request.method, path = %request.path,
            outcome, reason, error = %e, "answered with a function error"
        ),
    }
}
