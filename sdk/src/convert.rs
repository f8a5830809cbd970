//! Conversions between the WIT types and the plain-Rust model, written once
//! for every side of the contract.
//!
//! `wit-bindgen` (in a module) and `wasmtime::component::bindgen!` (in the
//! host) generate types of the same names and shapes from `wit/`; the
//! [`wit_conversions!`](crate::wit_conversions) macro implements `From`
//! between them and [`tollgate_model`] wherever it is expanded, so neither
//! side writes a conversion by hand.

/// Implement `From` between the generated `tollgate:authorizer` types and
/// [`tollgate_model`], both ways: `types = path::to::generated::types,
/// keys = path::to::generated::keys` (the generated modules of the two WIT
/// interfaces).
///
/// The request converts from a reference (the host keeps its request); every
/// other type converts by value. Expanded in the crate that owns the
/// generated types, so the orphan rule allows the impls.
#[macro_export]
macro_rules! wit_conversions {
    (types = $types:path, keys = $keys:path $(,)?) => {
        const _: () = {
            use $crate::model;
            use $keys as wit_keys;
            use $types as wit;

            $crate::__wit_both_ways!(model::Algorithm, wit::Algorithm, {
                Rs256 => Rs256, Rs384 => Rs384, Rs512 => Rs512,
                Ps256 => Ps256, Ps384 => Ps384, Ps512 => Ps512,
                Es256 => Es256, Es384 => Es384, Es512 => Es512,
                EdDsa => Eddsa,
                Hs256 => Hs256, Hs384 => Hs384, Hs512 => Hs512,
            });
            $crate::__wit_both_ways!(model::DenyReason, wit::DenyReason, {
                MissingToken => MissingToken,
                MultipleTokens => MultipleTokens,
                Malformed => Malformed,
                DisallowedAlgorithm => DisallowedAlgorithm,
                UntrustedHeader => UntrustedHeader,
                WrongType => WrongType,
                UnknownKey => UnknownKey,
                KeyMismatch => KeyMismatch,
                BadSignature => BadSignature,
                InvalidClaims => InvalidClaims,
                MissingClaim => MissingClaim,
                Expired => Expired,
                NotYetValid => NotYetValid,
                IssuedInFuture => IssuedInFuture,
                LifetimeTooLong => LifetimeTooLong,
                WrongIssuer => WrongIssuer,
                WrongAudience => WrongAudience,
                WrongClient => WrongClient,
                WrongTokenUse => WrongTokenUse,
                InsufficientScope => InsufficientScope,
                Forbidden => Forbidden,
                KeysUnavailable => KeysUnavailable,
                InvalidPath => InvalidPath,
            });
            $crate::__wit_both_ways!(model::EncodedDelimiters, wit::EncodedDelimiters, {
                Refuse => Refuse,
                Keep => Keep,
            });
            $crate::__wit_both_ways!(model::PathParameters, wit::PathParameters, {
                Refuse => Refuse,
                Strip => Strip,
                Keep => Keep,
            });
            $crate::__wit_both_ways!(model::DotSegments, wit::DotSegments, {
                Refuse => Refuse,
                Resolve => Resolve,
            });
            $crate::__wit_both_ways!(model::PathCase, wit::PathCase, {
                Sensitive => Sensitive,
                Lower => LowerCase,
            });
            $crate::__wit_both_ways!(model::TrailingSlash, wit::TrailingSlash, {
                Strip => Strip,
                Keep => Keep,
            });
            impl ::core::convert::From<model::PathOptions> for wit::PathOptions {
                fn from(options: model::PathOptions) -> Self {
                    wit::PathOptions {
                        merge_slashes: options.merge_slashes,
                        encoded_delimiters: options.encoded_delimiters.into(),
                        path_parameters: options.path_parameters.into(),
                        dot_segments: options.dot_segments.into(),
                        path_case: options.case.into(),
                        trailing_slash: options.trailing_slash.into(),
                    }
                }
            }
            impl ::core::convert::From<wit::PathOptions> for model::PathOptions {
                fn from(options: wit::PathOptions) -> Self {
                    model::PathOptions {
                        merge_slashes: options.merge_slashes,
                        encoded_delimiters: options.encoded_delimiters.into(),
                        path_parameters: options.path_parameters.into(),
                        dot_segments: options.dot_segments.into(),
                        case: options.path_case.into(),
                        trailing_slash: options.trailing_slash.into(),
                    }
                }
            }
            $crate::__wit_both_ways!(model::Effect, wit::GrantEffect, {
                Allow => Allow,
                Deny => Deny,
            });
            $crate::__wit_both_ways!(model::DenyStatus, wit::DenyStatus, {
                Unauthenticated => Unauthenticated,
                Forbidden => Forbidden,
            });
            $crate::__wit_both_ways!(model::LookupError, wit_keys::LookupError, {
                UnknownIssuer => UnknownIssuer,
                UnknownKey => UnknownKey,
                KeysUnavailable => KeysUnavailable,
            });
            $crate::__wit_both_ways!(model::VerifyError, wit_keys::VerifyError, {
                BadSignature => BadSignature,
                KeyMismatch => KeyMismatch,
            });

            fn fields_to_wit(pairs: &[(String, String)]) -> Vec<wit::Field> {
                pairs
                    .iter()
                    .map(|(name, value)| wit::Field {
                        name: name.clone(),
                        value: value.clone(),
                    })
                    .collect()
            }
            fn fields_from_wit(fields: Vec<wit::Field>) -> Vec<(String, String)> {
                fields.into_iter().map(|f| (f.name, f.value)).collect()
            }
            fn grants_to_wit(grants: Vec<model::Grant>) -> Vec<wit::Grant> {
                grants
                    .into_iter()
                    .map(|g| wit::Grant {
                        effect: g.effect.into(),
                        method: g.method,
                        path: g.path,
                    })
                    .collect()
            }
            fn grants_from_wit(grants: Vec<wit::Grant>) -> Vec<model::Grant> {
                grants
                    .into_iter()
                    .map(|g| model::Grant {
                        effect: g.effect.into(),
                        method: g.method,
                        path: g.path,
                    })
                    .collect()
            }

            impl ::core::convert::From<&model::Request> for wit::Request {
                fn from(request: &model::Request) -> Self {
                    wit::Request {
                        token_sources: request
                            .token_sources
                            .iter()
                            .map(|source| match source {
                                model::TokenSource::AuthorizationHeader(v) => {
                                    wit::TokenSource::AuthorizationHeader(v.clone())
                                }
                                model::TokenSource::Raw(v) => wit::TokenSource::Raw(v.clone()),
                                model::TokenSource::OutsideCacheKey => {
                                    wit::TokenSource::OutsideCacheKey
                                }
                            })
                            .collect(),
                        method: request.method.clone(),
                        path: request.path.clone(),
                        raw_path: request.raw_path.clone(),
                        headers: fields_to_wit(&request.headers),
                        query: fields_to_wit(&request.query),
                        source_ip: request.source_ip.clone(),
                        now: request.now,
                    }
                }
            }

            impl ::core::convert::From<wit::Request> for model::Request {
                fn from(request: wit::Request) -> Self {
                    model::Request {
                        token_sources: request
                            .token_sources
                            .into_iter()
                            .map(|source| match source {
                                wit::TokenSource::AuthorizationHeader(v) => {
                                    model::TokenSource::AuthorizationHeader(v)
                                }
                                wit::TokenSource::Raw(v) => model::TokenSource::Raw(v),
                                wit::TokenSource::OutsideCacheKey => {
                                    model::TokenSource::OutsideCacheKey
                                }
                            })
                            .collect(),
                        method: request.method,
                        path: request.path,
                        raw_path: request.raw_path,
                        headers: fields_from_wit(request.headers),
                        query: fields_from_wit(request.query),
                        source_ip: request.source_ip,
                        now: request.now,
                    }
                }
            }

            impl ::core::convert::From<model::Decision> for wit::Decision {
                fn from(decision: model::Decision) -> Self {
                    match decision {
                        model::Decision::Allow(allow) => wit::Decision::Allow(wit::Allow {
                            principal: allow.principal,
                            issuer: allow.issuer,
                            context: allow
                                .context
                                .into_iter()
                                .map(|(name, value)| wit::Field { name, value })
                                .collect(),
                            grants: grants_to_wit(allow.grants),
                            request_dependent: allow.request_dependent,
                            expires_at: allow.expires_at,
                            rule: allow.rule,
                        }),
                        model::Decision::Deny(deny) => wit::Decision::Deny(wit::Deny {
                            reason: deny.reason.into(),
                            status: deny.status.into(),
                            detail: deny.detail,
                            principal: deny.principal,
                            rule: deny.rule,
                            required_scopes: deny.required_scopes,
                            grants: grants_to_wit(deny.grants),
                        }),
                        model::Decision::Error { reason, message } => {
                            wit::Decision::Error(wit::ModuleError { reason, message })
                        }
                    }
                }
            }

            impl ::core::convert::From<wit::Decision> for model::Decision {
                fn from(decision: wit::Decision) -> Self {
                    match decision {
                        wit::Decision::Allow(allow) => model::Decision::Allow(model::Allow {
                            principal: allow.principal,
                            issuer: allow.issuer,
                            context: fields_from_wit(allow.context),
                            grants: grants_from_wit(allow.grants),
                            request_dependent: allow.request_dependent,
                            expires_at: allow.expires_at,
                            rule: allow.rule,
                        }),
                        wit::Decision::Deny(deny) => model::Decision::Deny(model::Deny {
                            reason: deny.reason.into(),
                            status: deny.status.into(),
                            detail: deny.detail,
                            principal: deny.principal,
                            rule: deny.rule,
                            required_scopes: deny.required_scopes,
                            grants: grants_from_wit(deny.grants),
                        }),
                        wit::Decision::Error(error) => model::Decision::Error {
                            reason: error.reason,
                            message: error.message,
                        },
                    }
                }
            }

            impl ::core::convert::From<model::KeySource> for wit::KeySource {
                fn from(source: model::KeySource) -> Self {
                    match source {
                        model::KeySource::JwksFile(path) => wit::KeySource::JwksFile(path),
                        model::KeySource::JwksUri(url) => wit::KeySource::JwksUri(url),
                        model::KeySource::Discovery(issuer) => wit::KeySource::Discovery(issuer),
                        model::KeySource::Secret(s) => wit::KeySource::Secret(wit::SecretSource {
                            kid: s.kid,
                            location: s.location,
                            encoding: s.encoding,
                            algorithm: s.algorithm.into(),
                        }),
                    }
                }
            }

            impl ::core::convert::From<wit::KeySource> for model::KeySource {
                fn from(source: wit::KeySource) -> Self {
                    match source {
                        wit::KeySource::JwksFile(path) => model::KeySource::JwksFile(path),
                        wit::KeySource::JwksUri(url) => model::KeySource::JwksUri(url),
                        wit::KeySource::Discovery(issuer) => model::KeySource::Discovery(issuer),
                        wit::KeySource::Secret(s) => {
                            model::KeySource::Secret(model::SecretSource {
                                kid: s.kid,
                                location: s.location,
                                encoding: s.encoding,
                                algorithm: s.algorithm.into(),
                            })
                        }
                    }
                }
            }

            impl ::core::convert::From<model::Manifest> for wit::Manifest {
                fn from(manifest: model::Manifest) -> Self {
                    wit::Manifest {
                        issuers: manifest
                            .issuers
                            .into_iter()
                            .map(|needs| wit::IssuerNeeds {
                                issuer: needs.issuer,
                                key_sources: needs
                                    .key_sources
                                    .into_iter()
                                    .map(Into::into)
                                    .collect(),
                                algorithms: needs.algorithms.into_iter().map(Into::into).collect(),
                            })
                            .collect(),
                        rules: manifest.rules,
                        warnings: manifest.warnings,
                        paths: manifest.paths.into(),
                    }
                }
            }

            impl ::core::convert::From<wit::Manifest> for model::Manifest {
                fn from(manifest: wit::Manifest) -> Self {
                    model::Manifest {
                        issuers: manifest
                            .issuers
                            .into_iter()
                            .map(|needs| model::IssuerNeeds {
                                issuer: needs.issuer,
                                key_sources: needs
                                    .key_sources
                                    .into_iter()
                                    .map(Into::into)
                                    .collect(),
                                algorithms: needs.algorithms.into_iter().map(Into::into).collect(),
                            })
                            .collect(),
                        rules: manifest.rules,
                        warnings: manifest.warnings,
                        paths: manifest.paths.into(),
                    }
                }
            }

            impl ::core::convert::From<model::ConfigError> for wit::ConfigError {
                fn from(error: model::ConfigError) -> Self {
                    wit::ConfigError {
                        field: error.field,
                        message: error.message,
                    }
                }
            }

            impl ::core::convert::From<wit::ConfigError> for model::ConfigError {
                fn from(error: wit::ConfigError) -> Self {
                    model::ConfigError {
                        field: error.field,
                        message: error.message,
                    }
                }
            }

            impl ::core::convert::From<model::KeyInfo> for wit_keys::KeyInfo {
                fn from(info: model::KeyInfo) -> Self {
                    wit_keys::KeyInfo {
                        kid: info.kid,
                        kty: info.kty,
                        crv: info.crv,
                        alg: info.alg,
                        use_: info.key_use,
                        key_ops: info.key_ops,
                        bits: info.bits,
                    }
                }
            }

            impl ::core::convert::From<wit_keys::KeyInfo> for model::KeyInfo {
                fn from(info: wit_keys::KeyInfo) -> Self {
                    model::KeyInfo {
                        kid: info.kid,
                        kty: info.kty,
                        crv: info.crv,
                        alg: info.alg,
                        key_use: info.use_,
                        key_ops: info.key_ops,
                        bits: info.bits,
                    }
                }
            }
        };
    };
}

/// One `From` each way between two fieldless enums whose variants are
/// listed in pairs (a helper of [`wit_conversions!`](crate::wit_conversions)).
#[doc(hidden)]
#[macro_export]
macro_rules! __wit_both_ways {
    ($fm:ident :: $ft:ident, $tm:ident :: $tt:ident, { $($a:ident => $b:ident),* $(,)? }) => {
        impl ::core::convert::From<$fm::$ft> for $tm::$tt {
            fn from(value: $fm::$ft) -> Self {
                match value { $($fm::$ft::$a => $tm::$tt::$b),* }
            }
        }
        impl ::core::convert::From<$tm::$tt> for $fm::$ft {
            fn from(value: $tm::$tt) -> Self {
                match value { $($tm::$tt::$b => $fm::$ft::$a),* }
            }
        }
    };
}
