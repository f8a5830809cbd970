//! The HTTP decision listeners (nginx, Traefik, Envoy HTTP) and the admin
//! listener, on hyper: one task per connection, HTTP/1.1 keep-alive,
//! bounded request heads, graceful shutdown.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::admin;
use crate::answer::Answer;
use crate::dialect::read_http;
use crate::door::Door;
use crate::settings::{Dialect, ServeLimits, WELL_KNOWN_PATH};

/// Longest a client may take to send a request head.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What a listener serves.
#[derive(Debug, Clone, Copy)]
pub enum Role {
    /// Decisions in a proxy's dialect.
    Decisions(Dialect),
    /// Health, readiness, metrics.
    Admin,
}

/// Accept connections on `listener` until `stop` changes, then let the
/// open ones finish within the grace period.
pub async fn serve(
    listener: TcpListener,
    door: Arc<Door>,
    role: Role,
    limits: ServeLimits,
    mut stop: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(limits.max_header_bytes)
        .max_headers(limits.max_headers)
        .keep_alive(true);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    // Small answers: send them now, not after Nagle's delay.
                    let _ = stream.set_nodelay(true);
                    let door = door.clone();
                    let service = service_fn(move |request| {
                        let door = door.clone();
                        async move { Ok::<_, Infallible>(route(&door, role, request).await) }
                    });
                    let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
                    tokio::spawn(async move {
                        if let Err(e) = connection.await {
                            tracing::debug!(error = %e, "connection closed with an error");
                        }
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period over: closing the connections still open");
    }
}

async fn route(
    door: &Door,
    role: Role,
    request: hyper::Request<Incoming>,
) -> Response<Full<Bytes>> {
    let started = Instant::now();
    match role {
        Role::Admin => admin::answer(
            door,
            request.method(),
            request.uri().path(),
            request.headers(),
        ),
        Role::Decisions(dialect) => {
            let (head, _body) = request.into_parts();
            // Behind an empty Envoy prefix every path is a decision: a 200
            // for the metadata would read as an allow there.
            let envoy_unprefixed =
                matches!(dialect, Dialect::EnvoyHttp) && door.envoy_prefix.is_empty();
            if head.uri.path().starts_with(WELL_KNOWN_PATH) && !envoy_unprefixed {
                return metadata(door, &head.method, head.uri.path());
            }
            let read = read_http(
                dialect,
                &head,
                &door.envoy_prefix,
                tollgate_host::clock::unix_now(),
            );
            to_response(door.decide(dialect, read, started).await)
        }
    }
}

/// RFC 9728 protected-resource metadata, when configured.
fn metadata(door: &Door, method: &Method, path: &str) -> Response<Full<Bytes>> {
    match door.metadata() {
        Some((served_at, json))
            if path == served_at && (method == Method::GET || method == Method::HEAD) =>
        {
            let mut response = Response::new(Full::new(json));
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=300"),
            );
            response
        }
        _ => plain(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// An answer as an HTTP response (never cached by anything in between).
pub fn to_response(answer: Answer) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(answer.body));
    *response.status_mut() = answer.status;
    let headers = response.headers_mut();
    for (name, value) in answer.headers {
        headers.insert(name, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A text response.
pub fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
