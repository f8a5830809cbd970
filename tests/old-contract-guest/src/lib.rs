//! A test-only policy module built against `tollgate:authorizer@0.2.0`
//! (`wit/` here is that contract as it was at commit 5e7f969, before 0.3.0
//! removed `method-arn` from the request). The host must refuse it at load
//! with the version it targets, not fail later on a record's layout. It
//! never allows.

// The export glue wit-bindgen generates defines `extern "C"` entry points.
#![allow(unsafe_code)]

#[cfg(target_arch = "wasm32")]
#[allow(clippy::too_many_arguments)] // generated code
mod component {
    wit_bindgen::generate!({
        path: "wit",
        world: "authorizer",
    });

    use tollgate::authorizer::types as wit;

    struct OldContract;
    export!(OldContract);

    impl Guest for OldContract {
        fn configure(_config: String) -> Result<wit::Manifest, wit::ConfigError> {
            Ok(wit::Manifest {
                issuers: Vec::new(),
            })
        }

        fn authorize(_request: wit::Request) -> wit::Decision {
            wit::Decision::Deny(wit::Deny {
                reason: wit::DenyReason::Forbidden,
                status: wit::DenyStatus::Forbidden,
                detail: "a 0.2.0 module".into(),
                principal: None,
            })
        }
    }
}
