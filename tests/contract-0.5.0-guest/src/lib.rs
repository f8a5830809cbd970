//! A test-only policy module built against `tollgate:authorizer@0.5.0`
//! (`wit/` here is that contract as it was released, before 0.5.1 added
//! `find-keys` and `verify-found`). It verifies through the key resources
//! 0.5.0 has (`lookup`, `info`, `verify`, and the handle's drop), so a
//! later 0.5.x host is shown to run it unchanged.
//!
//! Its policy document is one line, `ISSUER JWKS_FILE`. A request names
//! a key by its `x-kid` header and carries `x-message` and
//! `x-signature` (hex); it is allowed when a key of that `kid` whose
//! metadata fits ES256 verifies the signature, with the `kid` as the
//! principal, and denied otherwise.

// The export glue wit-bindgen generates defines `extern "C"` entry points.
#![allow(unsafe_code)]

#[cfg(target_arch = "wasm32")]
#[allow(clippy::too_many_arguments)] // generated code
mod component {
    wit_bindgen::generate!({
        path: "wit",
        world: "authorizer",
    });

    use std::cell::RefCell;

    use tollgate::authorizer::keys;
    use tollgate::authorizer::types as wit;

    thread_local! {
        static ISSUER: RefCell<String> = const { RefCell::new(String::new()) };
    }

    struct Contract050;
    export!(Contract050);

    fn header<'a>(request: &'a wit::Request, name: &str) -> Option<&'a str> {
        request
            .headers
            .iter()
            .find(|field| field.name == name)
            .map(|field| field.value.as_str())
    }

    fn hex(text: &str) -> Option<Vec<u8>> {
        text.len()
            .is_multiple_of(2)
            .then(|| {
                (0..text.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
                    .collect()
            })
            .flatten()
    }

    fn deny(reason: wit::DenyReason, detail: &str) -> wit::Decision {
        wit::Decision::Deny(wit::Deny {
            reason,
            status: wit::DenyStatus::Unauthenticated,
            detail: detail.into(),
            principal: None,
            rule: None,
            required_scopes: Vec::new(),
            grants: Vec::new(),
        })
    }

    impl Guest for Contract050 {
        fn configure(config: String) -> Result<wit::Manifest, wit::ConfigError> {
            let Some((issuer, jwks)) = config.trim().split_once(' ') else {
                return Err(wit::ConfigError {
                    field: String::new(),
                    message: "write `ISSUER JWKS_FILE`".into(),
                });
            };
            ISSUER.with(|slot| *slot.borrow_mut() = issuer.to_string());
            Ok(wit::Manifest {
                issuers: vec![wit::IssuerNeeds {
                    issuer: issuer.into(),
                    key_sources: vec![wit::KeySource::JwksFile(jwks.into())],
                    algorithms: vec![wit::Algorithm::Es256],
                }],
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
            let (Some(kid), Some(message), Some(signature)) = (
                header(&request, "x-kid"),
                header(&request, "x-message"),
                header(&request, "x-signature").and_then(hex),
            ) else {
                return deny(
                    wit::DenyReason::MissingToken,
                    "x-kid, x-message, x-signature",
                );
            };
            let issuer = ISSUER.with(|slot| slot.borrow().clone());
            let Ok(found) = keys::lookup(&issuer, Some(kid)) else {
                return deny(wit::DenyReason::UnknownKey, "lookup failed");
            };
            for key in found {
                let info = key.info();
                if info.kty == "EC"
                    && info.crv.as_deref() == Some("P-256")
                    && key
                        .verify(wit::Algorithm::Es256, message.as_bytes(), &signature)
                        .is_ok()
                {
                    return wit::Decision::Allow(wit::Allow {
                        principal: kid.into(),
                        issuer,
                        context: Vec::new(),
                        grants: Vec::new(),
                        request_dependent: false,
                        expires_at: None,
                        rule: None,
                    });
                }
            }
            deny(wit::DenyReason::BadSignature, "no key verified")
        }
    }
}
