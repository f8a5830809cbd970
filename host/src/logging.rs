//! JSON logs on stderr via `tracing`. Tokens and secrets are never logged:
//! decisions log reasons, issuers and principals only.

use tracing_subscriber::EnvFilter;

/// Install the JSON subscriber. The level comes from `TOLLGATE_LOG`
/// (`error`, `warn`, `info`, `debug`, or any `tracing` filter), default `default_level`.
pub fn init(default_level: &str) {
    let filter =
        EnvFilter::try_from_env("TOLLGATE_LOG").unwrap_or_else(|_| EnvFilter::new(default_level));
    // A second call (e.g. in tests) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_current_span(false)
        .try_init();
}
