//! A test-only policy module that misbehaves on request, so the host's
//! sandbox can be shown to fail closed. By request path:
//! `/trap` panics (a trap), `/print` writes to stdout (a trap: the host
//! provides no WASI), `/loop` never returns (the deadline), `/grow`
//! allocates without bound (the memory cap), `/verify-unfound` verifies
//! with a key index no `find-keys` gave (a trap); anything else is a plain
//! `forbidden` deny. A policy document containing `trap in configure`
//! traps in `configure`. It never allows. It imports nothing but the contract
//! and std's `wasi:cli`/`wasi:io` plumbing, or the host would refuse it at
//! load (no clock, no `HashMap::new()`).
//!
//! It uses the raw generated bindings (not `tollgate-sdk`) on purpose: it
//! must be able to trap, loop and hoard, which no SDK module should.

// The export glue wit-bindgen generates defines `extern "C"` entry points.
#![allow(unsafe_code)]
// Misbehaving is its job.
#![allow(clippy::panic)]

#[cfg(target_arch = "wasm32")]
#[allow(clippy::too_many_arguments)] // generated code
mod component {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "authorizer",
    });

    use tollgate::authorizer::types as wit;

    struct Misbehaving;
    export!(Misbehaving);

    impl Guest for Misbehaving {
        fn configure(config: String) -> Result<wit::Manifest, wit::ConfigError> {
            // A policy bundle whose module traps while configuring (the
            // hot-swap tests): the host must keep its active bundle.
            if config.contains("trap in configure") {
                panic!("asked to trap in configure");
            }
            Ok(wit::Manifest {
                issuers: Vec::new(),
                rules: Vec::new(),
                warnings: Vec::new(),
                paths: wit::PathOptions {
                    merge_slashes: true,
                    encoded_delimiters: wit::EncodedDelimiters::Refuse,
                    path_parameters: wit::PathParameters::Refuse,
                    dot_segments: wit::DotSegments::Refuse,
                    path_case: wit::PathCase::Sensitive,
                    trailing_slash: wit::TrailingSlash::Strip,
                },
            })
        }

        fn authorize(request: wit::Request) -> wit::Decision {
            match request.path.as_str() {
                "/trap" => panic!("asked to trap"),
                // std's stdout is linked, but the host provides no WASI:
                // the write traps, naming `wasi:cli/stdout`.
                "/print" => {
                    println!("asked to print");
                    wit::Decision::Error(wit::ModuleError {
                        reason: "print".into(),
                        message: "printed".into(),
                    })
                }
                "/loop" => {
                    let mut n: u64 = 0;
                    loop {
                        n = std::hint::black_box(n.wrapping_add(1));
                    }
                }
                // A key index no `find-keys` gave: the host traps.
                "/verify-unfound" => {
                    let verified = tollgate::authorizer::keys::verify_found(
                        0,
                        wit::Algorithm::Hs256,
                        b"message",
                        b"signature",
                    );
                    wit::Decision::Error(wit::ModuleError {
                        reason: "verify-unfound".into(),
                        message: format!("the host answered {verified:?}"),
                    })
                }
                "/grow" => {
                    let mut hoard: Vec<Vec<u8>> = Vec::new();
                    loop {
                        hoard.push(vec![1u8; 1 << 20]);
                        std::hint::black_box(&hoard);
                    }
                }
                _ => wit::Decision::Deny(wit::Deny {
                    reason: wit::DenyReason::Forbidden,
                    status: wit::DenyStatus::Forbidden,
                    detail: "the misbehaving module behaved".into(),
                    principal: None,
                    rule: None,
                    required_scopes: Vec::new(),
                    grants: Vec::new(),
                }),
            }
        }
    }
}
