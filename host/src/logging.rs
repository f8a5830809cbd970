//! JSON logs on stderr via `tracing`. Tokens and secrets are never logged:
//! decisions log reasons, issuers and principals only.
//!
//! Other crates' logs are not written with that rule in mind (at `trace`,
//! `lambda_runtime` logs every raw event, the whole token with it; HTTP
//! stacks log headers), so whatever the user's filter says, an allowlist
//! applies on top of it: only tollgate's own targets ([`OWN_TARGETS`]) may
//! log below `warn`. Besides, `lambda_runtime` logs every handler error
//! (each 401 included) at `error`; the Lambda door logs its own answers, so
//! that target ([`SILENCED_TARGETS`]) is off at every level.

use tracing::{Level, Metadata};
use tracing_subscriber::filter::{EnvFilter, FilterExt, filter_fn};
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// The variable holding the log filter.
pub const LOG_ENV: &str = "TOLLGATE_LOG";

/// Targets (module paths) that may log at every level: tollgate's own
/// crates, which never log a token or a secret.
pub const OWN_TARGETS: [&str; 11] = [
    "tollgate",
    "tollgate_host",
    "tollgate_lambda",
    "tollgate_forward_auth",
    "bootstrap",
    "tollgate_jwks",
    "tollgate_keys",
    "tollgate_model",
    "tollgate_hot_swap",
    "tollgate_bundle",
    "tollgate_policy_test",
];

/// Targets that never log: `lambda_runtime` reports each handler error
/// there (every 401 at `error`), which the Lambda door already logs itself.
pub const SILENCED_TARGETS: [&str; 1] = ["lambda_runtime::layers::panic"];

/// Whether a target is `prefix` or one of its modules (`prefix::…`).
fn under(target: &str, prefix: &str) -> bool {
    target
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

/// Whether `target` is one of [`OWN_TARGETS`] or a module of one.
pub fn is_own_target(target: &str) -> bool {
    OWN_TARGETS.iter().any(|t| under(target, t))
}

/// The allowlist: tollgate's own targets at any level, others at `warn`
/// and `error` only, [`SILENCED_TARGETS`] never.
pub fn allowed(metadata: &Metadata<'_>) -> bool {
    let target = metadata.target();
    if SILENCED_TARGETS.iter().any(|t| under(target, t)) {
        return false;
    }
    is_own_target(target) || *metadata.level() <= Level::WARN
}

/// Install the JSON subscriber. The user's filter comes from `TOLLGATE_LOG`
/// (`error`, `warn`, `info`, `debug`, `trace`, or any `tracing` filter),
/// default `default_level`; [`allowed`] applies on top of it. An invalid
/// filter is reported on stderr and the default used. A panic is logged
/// with its location only (see the panic hook below).
pub fn init(default_level: &str) {
    let user = match std::env::var(LOG_ENV) {
        Ok(text) if !text.trim().is_empty() => match EnvFilter::try_new(&text) {
            Ok(filter) => filter,
            Err(e) => {
                eprintln!(
                    "tollgate: {LOG_ENV} is not a valid log filter ({e}); using {default_level:?}"
                );
                EnvFilter::new(default_level)
            }
        },
        _ => EnvFilter::new(default_level),
    };
    let layer = tracing_subscriber::fmt::layer()
        .json()
        .with_writer(std::io::stderr)
        .with_current_span(false)
        .with_span_list(false)
        .with_filter(user.and(filter_fn(allowed)));
    // A second call (e.g. in tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry().with(layer).try_init();
    install_panic_hook();
}

/// Replace the default panic hook, which prints the panic's message as a
/// plain line on stderr: a message can quote input (a token). A panic is a
/// bug; the log line says where it happened, not what it said.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
            .unwrap_or_default();
        tracing::error!(
            location = %location,
            "panic (a bug; its message is not logged, as it may quote input)"
        );
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_match_whole_path_segments() {
        assert!(under("tollgate", "tollgate"));
        assert!(under("tollgate::gate", "tollgate"));
        assert!(!under("tollgate_evil", "tollgate"));
        assert!(under("tollgate_lambda::event", "tollgate_lambda"));
        assert!(!under(
            "lambda_runtime::layers::panicky",
            SILENCED_TARGETS[0]
        ));
        assert!(under("lambda_runtime::layers::panic", SILENCED_TARGETS[0]));
        assert!(is_own_target("tollgate_jwks::manager"));
        assert!(!is_own_target("hyper::proto::h1"));
    }
}
