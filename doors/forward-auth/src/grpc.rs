//! Envoy `ext_authz` over gRPC (`envoy.service.auth.v3.Authorization/Check`,
//! as Istio and Envoy Gateway use it), on tonic with the pre-generated types
//! of `envoy-types`. The original request comes from the check's
//! attributes, never from headers; the answer is the same [`Answer`] as
//! the HTTP dialects', as an OK response that sets (overwrites) every
//! identity header, or a denied response with its status and challenge.

use std::sync::Arc;
use std::time::Instant;

use envoy_types::ext_authz::v3::pb::{
    Authorization, CheckRequest, CheckResponse, DeniedHttpResponse, HeaderAppendAction,
    HeaderValue, HeaderValueOption, HttpStatus,
};
use envoy_types::ext_authz::v3::{CheckRequestExt, CheckResponseExt, OkHttpResponseBuilder};
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
    if answer.status == http::StatusCode::OK {
        let mut ok = OkHttpResponseBuilder::new();
        for (name, value) in &answer.headers {
            ok.add_header(
                name.as_str(),
                String::from_utf8_lossy(value.as_bytes()),
                Some(HeaderAppendAction::OverwriteIfExistsOrAdd),
                true,
            );
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
    #[allow(deprecated)]
    let headers = answer
        .headers
        .iter()
        .map(|(name, value)| HeaderValueOption {
            header: Some(HeaderValue {
                key: name.as_str().to_string(),
                value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
                raw_value: Vec::new(),
            }),
            append: None,
            append_action: HeaderAppendAction::OverwriteIfExistsOrAdd.into(),
            keep_empty_value: false,
        })
        .collect();
    let denied = DeniedHttpResponse {
        status: Some(HttpStatus {
            code: i32::from(answer.status.as_u16()),
        }),
        headers,
        body: String::from_utf8_lossy(&answer.body).into_owned(),
    };
    let mut response = CheckResponse::with_status(tonic::Status::new(code, answer.reason));
    response.set_http_response(denied);
    response
}
