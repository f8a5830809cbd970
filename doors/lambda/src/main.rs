//! `bootstrap`: the Lambda function. Builds the state once (module, policy
//! document, keys), then serves invocations from the Runtime API on a
//! single-threaded runtime (Lambda sends one invocation at a time).

use std::process::ExitCode;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

fn main() -> ExitCode {
    // `info` unless TOLLGATE_LOG says otherwise; whatever it says, only
    // tollgate's own targets log below `warn` (lambda_runtime logs raw
    // events at `trace`), and lambda_runtime's report of every handler
    // error (each 401) is off: the handler logs its own answers.
    tollgate_host::logging::init("info");
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("tollgate-lambda: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let state: &'static tollgate_lambda::State =
        match runtime.block_on(tollgate_lambda::setup::state_from_env()) {
            // Lives as long as the process, like the runtime loop that uses it.
            Ok(state) => Box::leak(Box::new(state)),
            Err(e) => {
                tracing::error!(error = %e, "init failed");
                eprintln!("tollgate-lambda: {e}");
                return ExitCode::FAILURE;
            }
        };
    let handler = service_fn(move |event: LambdaEvent<Value>| async move {
        // A task of its own, so a panic is caught, logged and answered as a
        // function error (500) while the function keeps serving.
        match tokio::spawn(tollgate_lambda::handle(state, event.payload)).await {
            Ok(answer) => answer,
            Err(e) => {
                // Not the panic's message: it may quote the event.
                tracing::error!(panicked = e.is_panic(), "the handler task failed");
                Err(tollgate_lambda::HandlerError::Internal {
                    reason: "internal-error".into(),
                    message: "the handler panicked".into(),
                })
            }
        }
    });
    match runtime.block_on(lambda_runtime::run(handler)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "the runtime loop ended");
            eprintln!("tollgate-lambda: {e}");
            ExitCode::FAILURE
        }
    }
}
