//! A real HTTP/1.1 server on 127.0.0.1 for tests and benchmarks: serves JWK
//! Sets and discovery documents, and on request misbehaves (500, hang,
//! garbage, huge bodies, redirects, slowness). Counts requests per path.
//!
//! It runs on its own thread and tokio runtime, so a test's own runtime (even
//! a current-thread one) never starves it, and stops when dropped.

// Tests: a failed expectation is a panic, and fixtures are indexed directly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use http_body_util::combinators::BoxBody;
use hyper::body::{Body, Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

/// What the server answers on one path.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// 200 with this JSON text, and `Cache-Control` when given.
    Json {
        /// The body.
        body: String,
        /// The `Cache-Control` header value.
        cache_control: Option<String>,
    },
    /// This status with a short text body.
    Status(u16),
    /// Never answer (the connection stays open until the server stops).
    Hang,
    /// Wait, then behave as the inner behaviour.
    Delay(Duration, Box<Behaviour>),
    /// 200 with a body that is not JSON.
    Garbage,
    /// 200 with `bytes` bytes of JSON-ish filler; with `declare_length` a
    /// `Content-Length` is sent, else the body is chunked (length unknown
    /// until it ends).
    Huge {
        /// Body size.
        bytes: usize,
        /// Send `Content-Length`.
        declare_length: bool,
    },
    /// `302 Found` to this location.
    Redirect(String),
}

impl Behaviour {
    /// [`Behaviour::Json`] with `value` and no `Cache-Control`.
    pub fn json(value: &serde_json::Value) -> Behaviour {
        Behaviour::Json {
            body: value.to_string(),
            cache_control: None,
        }
    }

    /// [`Behaviour::Json`] with `value` and a `Cache-Control` header.
    pub fn json_cached(value: &serde_json::Value, cache_control: &str) -> Behaviour {
        Behaviour::Json {
            body: value.to_string(),
            cache_control: Some(cache_control.to_string()),
        }
    }
}

#[derive(Default)]
struct State {
    routes: Mutex<HashMap<String, Behaviour>>,
    /// When each request arrived, per path (their count is the path's hits).
    arrivals: Mutex<HashMap<String, Vec<std::time::Instant>>>,
    total: AtomicUsize,
}

/// The server. Paths without a behaviour answer 404.
pub struct TestServer {
    addr: SocketAddr,
    state: Arc<State>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl TestServer {
    /// Start on an ephemeral port of 127.0.0.1.
    ///
    /// # Panics
    /// If the port cannot be bound or the thread cannot start (test code).
    pub fn start() -> TestServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("non-blocking");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(State::default());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread_state = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name("tollgate-test-server".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("test server runtime");
                runtime.block_on(serve(listener, thread_state, stopped));
                // Hanging handlers are dropped, not awaited.
                runtime.shutdown_background();
            })
            .expect("spawn test server thread");
        TestServer {
            addr,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin())
    }

    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answer requests for `path` with `behaviour` from now on.
    pub fn set(&self, path: &str, behaviour: Behaviour) {
        self.state
            .routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path.to_string(), behaviour);
    }

    /// Requests received for `path` so far.
    pub fn hits(&self, path: &str) -> usize {
        self.state
            .arrivals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(path)
            .map_or(0, Vec::len)
    }

    /// When each request for `path` arrived, in order.
    pub fn arrivals(&self, path: &str) -> Vec<std::time::Instant> {
        self.state
            .arrivals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(path)
            .cloned()
            .unwrap_or_default()
    }

    /// Assert that no two requests for `path` arrived within one `window`
    /// (the penalty box seen from the server), allowing `slack` for the
    /// requests' own latency, and that there were at least two.
    ///
    /// # Panics
    /// If two requests came closer than `window - slack`, or fewer than two came.
    #[track_caller]
    pub fn assert_one_per_window(
        &self,
        path: &str,
        window: std::time::Duration,
        slack: std::time::Duration,
    ) {
        let spacing = self
            .arrivals(path)
            .windows(2)
            .map(|pair| pair[1].duration_since(pair[0]))
            .min()
            .expect("at least two requests");
        assert!(
            spacing + slack >= window,
            "two requests for {path} {spacing:?} apart, within one {window:?} window"
        );
    }

    /// Requests received in all.
    pub fn total_hits(&self) -> usize {
        self.state.total.load(Ordering::SeqCst)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    state: Arc<State>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let state = Arc::clone(&state);
                tokio::spawn(async move {
                    let service = service_fn(move |request| handle(Arc::clone(&state), request));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
}

type ResponseBody = BoxBody<Bytes, Infallible>;

async fn handle(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    let path = request.uri().path().to_string();
    state.total.fetch_add(1, Ordering::SeqCst);
    state
        .arrivals
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(path.clone())
        .or_default()
        .push(std::time::Instant::now());
    let behaviour = state
        .routes
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&path)
        .cloned();
    Ok(match behaviour {
        None => respond(StatusCode::NOT_FOUND, full("not found"), &[]),
        Some(behaviour) => answer(behaviour).await,
    })
}

async fn answer(mut behaviour: Behaviour) -> Response<ResponseBody> {
    loop {
        match behaviour {
            Behaviour::Delay(pause, inner) => {
                tokio::time::sleep(pause).await;
                behaviour = *inner;
            }
            Behaviour::Hang => std::future::pending::<()>().await,
            Behaviour::Json {
                body,
                cache_control,
            } => {
                let mut headers = vec![("content-type", "application/json".to_string())];
                if let Some(value) = cache_control {
                    headers.push(("cache-control", value));
                }
                return respond(StatusCode::OK, full(body), &headers);
            }
            Behaviour::Status(code) => {
                let status =
                    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return respond(status, full("failure"), &[]);
            }
            Behaviour::Garbage => {
                return respond(StatusCode::OK, full("<html>this is not a JWK Set"), &[]);
            }
            Behaviour::Huge {
                bytes,
                declare_length,
            } => {
                let body = if declare_length {
                    full(vec![b' '; bytes])
                } else {
                    BoxBody::new(Chunked { remaining: bytes })
                };
                return respond(StatusCode::OK, body, &[]);
            }
            Behaviour::Redirect(location) => {
                return respond(StatusCode::FOUND, full(""), &[("location", location)]);
            }
        }
    }
}

fn full(bytes: impl Into<Bytes>) -> ResponseBody {
    BoxBody::new(Full::new(bytes.into()))
}

fn respond(
    status: StatusCode,
    body: ResponseBody,
    headers: &[(&'static str, String)],
) -> Response<ResponseBody> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    for (name, value) in headers {
        if let Ok(value) = http::HeaderValue::from_str(value) {
            response.headers_mut().insert(*name, value);
        }
    }
    response
}

/// A body of spaces with no declared length, sent in 64 KiB chunks.
struct Chunked {
    remaining: usize,
}

impl Body for Chunked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = self.remaining.min(64 * 1024);
        self.remaining -= n;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b' '; n])))))
    }
}

/// Settings for fast tests: a `window` penalty box (and backoff up to twice
/// that), 500 ms timeouts, a fixed 60 s TTL and 60 s of stale serving.
pub fn fast_settings(window: Duration) -> crate::KeyFetchSettings {
    crate::KeyFetchSettings {
        connect_timeout: Duration::from_millis(500),
        request_timeout: Duration::from_millis(500),
        min_ttl: Duration::from_secs(60),
        max_ttl: Duration::from_secs(60),
        penalty_window: window,
        max_stale: Duration::from_secs(60),
        max_backoff: window * 2,
        ..crate::KeyFetchSettings::default()
    }
}

/// A fresh ES256 signing key with this `kid`.
///
/// # Panics
/// If key generation fails (test helper).
pub fn es256_key(kid: &str) -> tollgate_keys::mint::SigningKey {
    tollgate_keys::mint::SigningKey::generate(tollgate_keys::Algorithm::Es256, kid)
        .expect("generate an ES256 key")
}

/// A JWK Set document holding these keys' public JWKs.
pub fn jwks_of(keys: &[&tollgate_keys::mint::SigningKey]) -> serde_json::Value {
    serde_json::json!({ "keys": keys.iter().map(|k| k.public_jwk()).collect::<Vec<_>>() })
}
