//! Real proxies (nginx, Envoy, Traefik) on 127.0.0.1 in front of a test
//! `tollgate serve` and an echo upstream, for `tests/proxies.rs`.
//!
//! - [`tools`] runs `tests/proxies/install.sh` once per test binary (it
//!   installs what is missing; a proxy that cannot be had fails the test
//!   with the script's reason, it is never skipped).
//! - [`Upstream`] answers 200 with a JSON echo of each request and records
//!   every request it saw.
//! - [`Upstream::start_raw`] records each request line byte for byte
//!   instead (for `tests/path_confusion.rs`), and [`raw_get`] sends one.
//! - [`Proxy`] renders a config of `examples/proxies/` with the placeholder
//!   ports replaced by real ones, runs the proxy from a temp dir with its
//!   output in a log file (printed when the test fails), waits (bounded)
//!   until it serves, and kills it when dropped.

#![allow(
    dead_code,
    missing_docs,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fs::File;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// How long a proxy may take to start serving.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How many times a proxy is started when the port picked for it was taken.
pub const START_ATTEMPTS: u32 = 3;
/// How long one request through a proxy may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The placeholder ports of `examples/proxies/` (see its README).
pub mod placeholder {
    /// The proxy's own listener.
    pub const PROXY: u16 = 8000;
    /// The proxy's admin (Envoy admin).
    pub const PROXY_ADMIN: u16 = 8001;
    /// The upstream service.
    pub const UPSTREAM: u16 = 8080;
    /// tollgate's nginx-dialect listener.
    pub const NGINX: u16 = 8181;
    /// tollgate's Traefik-dialect listener.
    pub const TRAEFIK: u16 = 8182;
    /// tollgate's Envoy HTTP-dialect listener.
    pub const ENVOY_HTTP: u16 = 8183;
    /// tollgate's Envoy gRPC listener.
    pub const ENVOY_GRPC: u16 = 8184;
    /// tollgate's admin listener.
    pub const TOLLGATE_ADMIN: u16 = 9181;
    /// Every placeholder: none may be left in a rendered config.
    pub const ALL: [u16; 8] = [
        PROXY,
        PROXY_ADMIN,
        UPSTREAM,
        NGINX,
        TRAEFIK,
        ENVOY_HTTP,
        ENVOY_GRPC,
        TOLLGATE_ADMIN,
    ];
}

// ---------------------------------------------------------------------------
// Installing the proxies

/// Where the proxies' binaries are.
#[derive(Debug, Clone)]
pub struct Tools {
    pub nginx: PathBuf,
    pub envoy: PathBuf,
    pub traefik: PathBuf,
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `examples/proxies/` of the workspace.
pub fn examples_dir() -> PathBuf {
    manifest_dir().join("../../examples/proxies")
}

/// The workspace's target dir (this test binary's, so a CARGO_TARGET_DIR
/// set at build time is respected), absolute.
fn target_dir() -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().map(Path::to_path_buf).unwrap_or(tmp)
}

fn install() -> Result<Tools, String> {
    let script = manifest_dir().join("tests/proxies/install.sh");
    let started = Instant::now();
    let output = Command::new("bash")
        .arg(&script)
        .env("CARGO_TARGET_DIR", target_dir())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!(
            "{} failed ({}), so the proxy tests cannot run:\n{stderr}{stdout}",
            script.display(),
            output.status
        ));
    }
    let paths: BTreeMap<&str, &str> = stdout
        .lines()
        .filter_map(|line| line.split_once('='))
        .collect();
    let path = |name: &str| -> Result<PathBuf, String> {
        let path = paths
            .get(name)
            .map(PathBuf::from)
            .ok_or_else(|| format!("install.sh printed no {name}= line:\n{stdout}"))?;
        if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "install.sh printed {name}={} which is no file",
                path.display()
            ))
        }
    };
    let tools = Tools {
        nginx: path("nginx")?,
        envoy: path("envoy")?,
        traefik: path("traefik")?,
    };
    eprintln!(
        "proxies installed in {:.1?}: {tools:?}{}",
        started.elapsed(),
        if stderr.is_empty() {
            String::new()
        } else {
            format!("\n{stderr}")
        }
    );
    Ok(tools)
}

/// The installed proxies; installs them on first use (once per test binary).
/// Panics, with the reason, when one cannot be had.
pub fn tools() -> &'static Tools {
    static TOOLS: OnceLock<Result<Tools, String>> = OnceLock::new();
    match TOOLS.get_or_init(install) {
        Ok(tools) => tools,
        Err(why) => panic!("{why}"),
    }
}

// ---------------------------------------------------------------------------
// The echo upstream

/// One request the upstream received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query, as received.
    pub path: String,
    /// Every header line, in order, names lowercase.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Seen {
    /// Every value of the header `name` (case-insensitive).
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn to_json(&self) -> String {
        serde_json::json!({
            "method": self.method,
            "path": self.path,
            "headers": self.headers,
            "body": self.body,
        })
        .to_string()
    }
}

/// An HTTP/1 server on 127.0.0.1 that answers every request with 200 and a
/// JSON echo (method, path, headers) and records it.
pub struct Upstream {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl Upstream {
    pub async fn start() -> Upstream {
        serve_upstream("the echo upstream", |stream, record| async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let record = Arc::clone(&record);
                async move {
                    let (parts, body) = request.into_parts();
                    let body = match body.collect().await {
                        Ok(body) => body.to_bytes(),
                        Err(_) => Bytes::new(),
                    };
                    let seen = Seen {
                        method: parts.method.to_string(),
                        path: parts
                            .uri
                            .path_and_query()
                            .map(|p| p.as_str().to_owned())
                            .unwrap_or_else(|| parts.uri.to_string()),
                        headers: parts
                            .headers
                            .iter()
                            .map(|(name, value)| {
                                (
                                    name.as_str().to_owned(),
                                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                                )
                            })
                            .collect(),
                        body: String::from_utf8_lossy(&body).into_owned(),
                    };
                    let json = seen.to_json();
                    record.lock().unwrap().push(seen);
                    Ok::<_, Infallible>(
                        Response::builder()
                            .header("content-type", "application/json")
                            .body(Full::new(Bytes::from(json)))
                            .unwrap(),
                    )
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        })
        .await
    }

    /// Every request seen so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Every request seen so far, forgetting them.
    pub fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }

    /// The one request seen since the last `take`; panics unless exactly one.
    pub fn take_one(&self, what: &str) -> Seen {
        let mut seen = self.take();
        assert_eq!(
            seen.len(),
            1,
            "{what}: the upstream should have seen exactly one request, saw {seen:#?}"
        );
        seen.remove(0)
    }

    /// Panics if the upstream saw anything since the last `take`.
    pub fn assert_saw_nothing(&self, what: &str) {
        let seen = self.take();
        assert!(
            seen.is_empty(),
            "{what}: the upstream must see nothing, saw {seen:#?}"
        );
    }
}

/// One `#[tokio::test]` per proxy (`nginx_auth_request`,
/// `traefik_forward_auth`, `envoy_ext_authz_http`, `envoy_ext_authz_grpc`),
/// each running `$scenario(kind)` [`within`] `$limit`.
#[macro_export]
macro_rules! proxy_tests {
    ($scenario:ident, $limit:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn nginx_auth_request() {
            proxy_support::within(Kind::Nginx, $limit, $scenario(Kind::Nginx)).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn traefik_forward_auth() {
            proxy_support::within(Kind::Traefik, $limit, $scenario(Kind::Traefik)).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn envoy_ext_authz_http() {
            proxy_support::within(Kind::EnvoyHttp, $limit, $scenario(Kind::EnvoyHttp)).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn envoy_ext_authz_grpc() {
            proxy_support::within(Kind::EnvoyGrpc, $limit, $scenario(Kind::EnvoyGrpc)).await;
        }
    };
}

/// Run one proxy's scenario within `limit`, failing the test (naming the
/// proxy) when it takes longer.
pub async fn within(kind: Kind, limit: Duration, scenario: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(limit, scenario)
        .await
        .unwrap_or_else(|_| panic!("{}: the scenario took over {limit:?}", kind.name()));
}

/// The most of a request head the raw upstream reads.
const RAW_HEAD_LIMIT: usize = 64 * 1024;

impl Upstream {
    /// An upstream that records each request as its bytes arrived: the
    /// request target exactly as the proxy sent it (hyper's parser refuses
    /// some targets a proxy may forward, which would then look as if the
    /// upstream saw nothing). It reads the request head (no body: for GET
    /// requests), records it as soon as its request line is complete, and
    /// answers `200 ok` with `Connection: close`. A target that is not
    /// UTF-8 is recorded with each invalid byte as `%XX`.
    pub async fn start_raw() -> Upstream {
        serve_upstream("the raw upstream", serve_raw).await
    }
}

/// An upstream on 127.0.0.1 (`what` names it in a bind failure) each of
/// whose connections `connection` serves, recording what it saw: the
/// accept loop both upstreams share (a failed accept is retried after
/// 10 ms).
async fn serve_upstream<F, Fut>(what: &str, connection: F) -> Upstream
where
    F: Fn(TcpStream, Arc<Mutex<Vec<Seen>>>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind {what}: {e}"));
    let addr = listener.local_addr().expect("upstream address");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let task = tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            tokio::spawn(connection(stream, Arc::clone(&record)));
        }
    });
    Upstream { addr, seen, task }
}

/// One connection of [`Upstream::start_raw`].
async fn serve_raw(mut stream: TcpStream, record: Arc<Mutex<Vec<Seen>>>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let complete = tokio::time::timeout(REQUEST_TIMEOUT, async {
        loop {
            if find(&head, b"\r\n\r\n").is_some() || find(&head, b"\n\n").is_some() {
                return true;
            }
            if head.len() > RAW_HEAD_LIMIT {
                return false;
            }
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .unwrap_or(false);
    // Whatever arrived with a whole request line counts as seen, even a
    // head cut short: the proxy did send the request on.
    if find(&head, b"\n").is_none() {
        return;
    }
    let text = lossless(&head);
    let mut lines = text.lines();
    let line = lines.next().unwrap_or_default();
    let (method, rest) = line.split_once(' ').unwrap_or((line, ""));
    let target = rest
        .rsplit_once(' ')
        .map_or(rest, |(target, _version)| target);
    let headers = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    record.lock().unwrap().push(Seen {
        method: method.to_owned(),
        path: target.to_owned(),
        headers,
        body: String::new(),
    });
    if complete {
        let _ = stream
            .write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
            )
            .await;
        let _ = stream.shutdown().await;
    }
}

/// Where `needle` first starts in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `bytes` as text: UTF-8 as is, each byte of an invalid sequence as `%XX`.
fn lossless(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        text.push_str(chunk.valid());
        for byte in chunk.invalid() {
            text.push_str(&format!("%{byte:02X}"));
        }
    }
    text
}

/// What a proxy answered a [`raw_get`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawAnswer {
    /// The status code; `None` when no status line came (the proxy closed
    /// the connection, or [`REQUEST_TIMEOUT`] passed).
    pub status: Option<u16>,
    /// The status line, or what happened instead.
    pub line: String,
}

impl std::fmt::Display for RawAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(status) => write!(f, "{status}"),
            None => write!(f, "no status ({})", self.line),
        }
    }
}

/// Send `GET <target> HTTP/1.1` to `addr` with `target` written byte for
/// byte (reqwest and hyper normalise or refuse odd targets), a `Host` and
/// `Connection: close`, and read the answer's head; bounded by
/// [`REQUEST_TIMEOUT`]. When it returns, the proxy has answered (or given
/// up), so whatever it forwarded has reached the upstream.
pub async fn raw_get(addr: SocketAddr, target: &[u8]) -> RawAnswer {
    let exchange = async {
        let mut stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let mut request = b"GET ".to_vec();
        request.extend_from_slice(target);
        request.extend_from_slice(
            format!(" HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        stream
            .write_all(&request)
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        while find(&answer, b"\r\n\r\n").is_none() && answer.len() <= RAW_HEAD_LIMIT {
            match stream.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                // A reset after the answer was sent still leaves the answer.
                Err(e) if answer.is_empty() => return Err(format!("read: {e}")),
                Err(_) => break,
            }
        }
        Ok(answer)
    };
    let answer = match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(why)) => {
            return RawAnswer {
                status: None,
                line: why,
            };
        }
        Err(_) => {
            return RawAnswer {
                status: None,
                line: format!("no answer within {REQUEST_TIMEOUT:?}"),
            };
        }
    };
    let text = lossless(&answer);
    let line = text.lines().next().unwrap_or_default().to_owned();
    let status = line
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse().ok());
    let line = if line.is_empty() {
        "the connection closed without an answer".to_owned()
    } else {
        line
    };
    RawAnswer { status, line }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---------------------------------------------------------------------------
// Ports and configs

/// A port on 127.0.0.1 free right now (bound, then released).
pub fn free_port() -> u16 {
    StdTcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("pick a free port")
        .port()
}

/// The forms in which a placeholder port appears in the example configs.
const PORT_PREFIXES: [&str; 2] = ["127.0.0.1:", "port_value: "];

/// `text` with each placeholder port (`127.0.0.1:8000`, `port_value: 8000`)
/// replaced by its real one, and how many times each was replaced.
pub fn substitute(text: &str, ports: &[(u16, u16)]) -> (String, BTreeMap<u16, usize>) {
    let mut counts = BTreeMap::new();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'scan: while !rest.is_empty() {
        for prefix in PORT_PREFIXES {
            if let Some(after) = rest.strip_prefix(prefix) {
                let digits = after.bytes().take_while(u8::is_ascii_digit).count();
                if let Ok(port) = after[..digits].parse::<u16>()
                    && let Some((_, real)) = ports.iter().find(|(from, _)| *from == port)
                {
                    out.push_str(prefix);
                    out.push_str(&real.to_string());
                    *counts.entry(port).or_insert(0) += 1;
                    rest = &after[digits..];
                    continue 'scan;
                }
            }
        }
        let next = rest.chars().next().unwrap();
        out.push(next);
        rest = &rest[next.len_utf8()..];
    }
    (out, counts)
}

/// The placeholder ports still in `text`.
fn leftover_placeholders(text: &str) -> Vec<String> {
    let mut left = Vec::new();
    for port in placeholder::ALL {
        for prefix in PORT_PREFIXES {
            let needle = format!("{prefix}{port}");
            for (at, _) in text.match_indices(&needle) {
                let next = text[at + needle.len()..].bytes().next();
                if !next.is_some_and(|b| b.is_ascii_digit()) {
                    left.push(needle.clone());
                }
            }
        }
    }
    left
}

/// Copy `files` of examples/proxies into `dir` with the ports replaced.
/// Every port in `ports` must appear in them, and no placeholder may be
/// left (a config naming a port the test does not provide is an error).
pub fn render(files: &[&str], ports: &[(u16, u16)], dir: &Path) {
    let mut counts: BTreeMap<u16, usize> = BTreeMap::new();
    for file in files {
        let source = examples_dir().join(file);
        let text = std::fs::read_to_string(&source)
            .unwrap_or_else(|e| panic!("read {}: {e}", source.display()));
        let (rendered, found) = substitute(&text, ports);
        let left = leftover_placeholders(&rendered);
        assert!(
            left.is_empty(),
            "{} names placeholder ports the test does not provide: {left:?}",
            source.display()
        );
        for (port, n) in found {
            *counts.entry(port).or_insert(0) += n;
        }
        std::fs::write(dir.join(file), rendered).expect("write a rendered config");
    }
    for (port, _) in ports {
        assert!(
            counts.contains_key(port),
            "{files:?} never name the placeholder port {port}"
        );
    }
}

// ---------------------------------------------------------------------------
// The proxies

/// Which proxy, in which mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Nginx,
    Traefik,
    EnvoyHttp,
    EnvoyGrpc,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Nginx => "nginx",
            Kind::Traefik => "traefik",
            Kind::EnvoyHttp => "envoy-http",
            Kind::EnvoyGrpc => "envoy-grpc",
        }
    }
}

/// A running proxy; killed (and reaped) when dropped. Its output is in a
/// log file, printed when the test panics.
pub struct Proxy {
    pub kind: Kind,
    /// Where it listens.
    pub addr: SocketAddr,
    child: Option<Child>,
    log: PathBuf,
    dir: tempfile::TempDir,
}

impl Proxy {
    /// Render the example config(s) for `kind` with `tollgate` (tollgate's
    /// listeners) and `upstream`, start the proxy, and wait until it
    /// answers `GET /public/...` with 200 through tollgate and the upstream
    /// (the probes are then forgotten by `upstream`). A port picked for the
    /// proxy that another process took meanwhile is picked again (up to
    /// [`START_ATTEMPTS`] times).
    pub async fn start(
        kind: Kind,
        tollgate: &tollgate_forward_auth::Listen,
        upstream: &Upstream,
    ) -> Proxy {
        for attempt in 1..=START_ATTEMPTS {
            let mut proxy = Proxy::spawn(kind, tollgate, upstream);
            match proxy.wait_ready(upstream).await {
                Ok(()) => return proxy,
                Err(log)
                    if attempt < START_ATTEMPTS
                        && log.to_ascii_lowercase().contains("address already in use") =>
                {
                    eprintln!("{}: a port was taken, starting again:\n{log}", kind.name());
                }
                Err(log) => panic!("{} exited while starting; its log:\n{log}", kind.name()),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    fn spawn(kind: Kind, tollgate: &tollgate_forward_auth::Listen, upstream: &Upstream) -> Proxy {
        let tools = tools();
        let dir = tempfile::Builder::new()
            .prefix(&format!("tollgate-{}-", kind.name()))
            .tempdir()
            .expect("temp dir");
        let port = free_port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let decision = |listener: Option<SocketAddr>, what: &str| -> u16 {
            listener
                .unwrap_or_else(|| panic!("the test tollgate has no {what} listener"))
                .port()
        };
        let path = dir.path().to_path_buf();
        let mut ports = vec![
            (placeholder::PROXY, port),
            (placeholder::UPSTREAM, upstream.addr.port()),
        ];
        let mut command;
        match kind {
            Kind::Nginx => {
                ports.push((placeholder::NGINX, decision(tollgate.nginx, "nginx")));
                render(&["nginx.conf"], &ports, &path);
                command = Command::new(&tools.nginx);
                // One process (no master/workers), so that killing it
                // leaves nothing behind; the config is the example's as is.
                command
                    .args(["-e", "stderr", "-p"])
                    .arg(&path)
                    .arg("-c")
                    .arg(path.join("nginx.conf"))
                    .args(["-g", "daemon off; master_process off;"]);
            }
            Kind::Traefik => {
                ports.push((placeholder::TRAEFIK, decision(tollgate.traefik, "traefik")));
                render(&["traefik.yml", "traefik-dynamic.yml"], &ports, &path);
                command = Command::new(&tools.traefik);
                // traefik.yml names traefik-dynamic.yml relative to the
                // working directory.
                command
                    .arg(format!(
                        "--configFile={}",
                        path.join("traefik.yml").display()
                    ))
                    .current_dir(&path);
            }
            Kind::EnvoyHttp | Kind::EnvoyGrpc => {
                let file = if kind == Kind::EnvoyHttp {
                    ports.push((
                        placeholder::ENVOY_HTTP,
                        decision(tollgate.envoy_http, "envoy_http"),
                    ));
                    "envoy-http.yaml"
                } else {
                    ports.push((
                        placeholder::ENVOY_GRPC,
                        decision(tollgate.envoy_grpc, "envoy_grpc"),
                    ));
                    "envoy-grpc.yaml"
                };
                ports.push((placeholder::PROXY_ADMIN, free_port()));
                render(&[file], &ports, &path);
                command = Command::new(&tools.envoy);
                // Several Envoys run at once (one per test): no hot-restart
                // shared memory to collide on.
                command
                    .arg("-c")
                    .arg(path.join(file))
                    .args(["--disable-hot-restart", "--concurrency", "1"])
                    .args(["--log-level", "warn"]);
            }
        }
        let log = path.join("proxy.log");
        let out = File::create(&log).expect("create the proxy log");
        let err = out.try_clone().expect("clone the proxy log");
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", kind.name()));
        Proxy {
            kind,
            addr,
            child: Some(child),
            log,
            dir,
        }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The proxy's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_else(|e| format!("(no log: {e})"))
    }

    /// The temp dir it runs in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Wait until the proxy serves; `Err(log)` if it exited meanwhile;
    /// panics past [`START_TIMEOUT`].
    async fn wait_ready(&mut self, upstream: &Upstream) -> Result<(), String> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("client");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(format!("(exit: {status})\n{}", self.log()));
            }
            let last = match client.get(self.url("/public/__ready")).send().await {
                Ok(response) if response.status() == 200 => break,
                Ok(response) => format!("status {}", response.status()),
                Err(e) => format!("{e}"),
            };
            if Instant::now() > deadline {
                panic!(
                    "{} did not serve GET /public/__ready with 200 within {START_TIMEOUT:?} (last: {last}); its log:\n{}",
                    self.kind.name(),
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        upstream.take();
        Ok(())
    }

    /// Stop the proxy (kill and reap it).
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "----- {} log ({}) -----\n{}----- end of {} log -----",
                self.kind.name(),
                self.log.display(),
                self.log(),
                self.kind.name()
            );
        }
    }
}

/// An HTTP client for the tests: no system proxy, bounded, no redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_exact_ports_only() {
        let (out, counts) = substitute(
            "a 127.0.0.1:8000; b port_value: 8080 c 127.0.0.1:80001 d http://127.0.0.1:8183/x",
            &[(8000, 1), (8080, 2), (8183, 3)],
        );
        assert_eq!(
            out,
            "a 127.0.0.1:1; b port_value: 2 c 127.0.0.1:80001 d http://127.0.0.1:3/x"
        );
        assert_eq!(counts.len(), 3);
    }
}
