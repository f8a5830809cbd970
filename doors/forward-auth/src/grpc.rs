//! Envoy `ext_authz` over gRPC (`envoy.service.auth.v3.Authorization/Check`,
//! as Istio and Envoy Gateway use it), on tonic with the pre-generated types
//! of `envoy-types`. The original request comes from the check's
//! attributes, never from headers; the answer is the same [`Answer`] as
//! the HTTP dialects', as an OK response that sets (overwrites) every
//! identity header, or a denied response with its status and challenge.

use std::sync::Arc;
use std::time::Instant;

use envoy_types::ext_authz::v3::pb::{
    Authorization, CheckRequest, CheckResponse, HeaderAppendAction, HttpStatusCode,
};
use envoy_types::ext_authz::v3::{
    CheckRequestExt, CheckResponseExt, DeniedHttpResponseBuilder, OkHttpResponseBuilder,
};
use tollgate_host::model::{Request, TokenSource};

use crate::answer::Answer;
use crate::dialect::{BadForwarding, checked_method, split_uri};
use crate::door::Door;
use crate::settings::Dialect;

/// The gRPC authorization service.
#[derive(Debug, Clone)]
pub struct GrpcDoor {
    door: Arc<Door>,
}

impl GrpcDoor {
    /// The service over the shared state.
    pub fn new(door: Arc<Door>) -> Self {
        GrpcDoor { door }
    }
}

#[tonic::async_trait]
impl Authorization for GrpcDoor {
    async fn check(
        &self,
        request: tonic::Request<CheckRequest>,
    ) -> Result<tonic::Response<CheckResponse>, tonic::Status> {
        let started = Instant::now();
        let read = read_check(&request.into_inner(), tollgate_host::clock::unix_now());
        let answer = self.door.decide(Dialect::EnvoyGrpc, read, started).await;
        Ok(tonic::Response::new(check_response(answer)))
    }
}

/// A check request as the module's request: method, path and query,
/// headers (`header_map` when Envoy sends raw headers, else `headers`),
/// `authorization` as the credential, the client's address.
pub fn read_check(check: &CheckRequest, now: i64) -> Result<Request, BadForwarding> {
    let http = check
        .attributes
        .as_ref()
        .and_then(|attributes| attributes.request.as_ref())
        .and_then(|request| request.http.as_ref())
        .ok_or_else(|| BadForwarding("the check request carries no HTTP attributes".into()))?;
    let headers: Vec<(String, String)> = match &http.header_map {
        Some(map) => map
            .headers
            .iter()
            .map(|header| {
                let value = if header.raw_value.is_empty() {
                    header.value.clone()
                } else {
                    String::from_utf8_lossy(&header.raw_value).into_owned()
                };
                (header.key.to_ascii_lowercase(), value)
            })
            .collect(),
        None => http
            .headers
            .iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value.clone()))
            .collect(),
    };
    let token_sources = headers
        .iter()
        .filter(|(name, _)| name == "authorization")
        .map(|(_, value)| TokenSource::AuthorizationHeader(value.clone()))
        .collect();
    let (path, query) = split_uri(&http.path)?;
    Ok(Request {
        token_sources,
        method: checked_method(&http.method)?,
        path,
        raw_path: String::new(),
        headers,
        query,
        source_ip: check.get_client_address().cloned(),
        now,
    })
}

/// An answer as Envoy's check response: OK with every identity header set
/// (overwriting any client copy, empty values kept), or denied with the
/// status, challenge and body.
pub fn check_response(answer: Answer) -> CheckResponse {
    let headers = answer
        .headers
        .iter()
        .map(|(name, value)| (name.as_str(), String::from_utf8_lossy(value.as_bytes())));
    let overwrite = Some(HeaderAppendAction::OverwriteIfExistsOrAdd);
    if answer.status == http::StatusCode::OK {
        let mut ok = OkHttpResponseBuilder::new();
        for (name, value) in headers {
            ok.add_header(name, value, overwrite, true);
        }
        let mut response = CheckResponse::with_status(tonic::Status::ok("allowed"));
        response.set_http_response(ok.build());
        return response;
    }
    let code = match answer.status.as_u16() {
        401 => tonic::Code::Unauthenticated,
        403 => tonic::Code::PermissionDenied,
        400 => tonic::Code::InvalidArgument,
        _ => tonic::Code::Unavailable,
    };
    let mut denied = DeniedHttpResponseBuilder::new();
    // Every status an answer has (400, 401, 403, 503) is one of Envoy's.
    denied.set_http_status(
        HttpStatusCode::try_from(i32::from(answer.status.as_u16()))
            .unwrap_or(HttpStatusCode::ServiceUnavailable),
    );
    for (name, value) in headers {
        denied.add_header(name, value, overwrite, false);
    }
    denied.set_body(String::from_utf8_lossy(&answer.body));
    let mut response = CheckResponse::with_status(tonic::Status::new(code, answer.reason));
    response.set_http_response(denied.build());
    response
}
