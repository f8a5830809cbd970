//! Real servers on 127.0.0.1 for the source tests:
//!
//! - [`moto_server`] runs `tests/support/install-moto.sh` once per test
//!   binary (a venv with PyPI's `moto[server]` under the target dir; when it
//!   cannot be had the test fails with the script's reason, it is never
//!   skipped), and [`Moto::start`] runs a `moto_server` (an S3-compatible
//!   server) on a free port, killed when dropped.
//! - [`HttpServer`] serves bundles from a shared map with `ETag` /
//!   `If-None-Match` support, fixed statuses, a chunked body without length,
//!   and paths that never answer (for timeouts).

#![allow(
    dead_code,
    missing_docs,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, HashMap};
use std::net::{SocketAddr, TcpListener as StdTcpListener, TcpStream as StdTcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use object_store::ObjectStoreExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tollgate_hot_swap::source::BundleSource;

/// How long a moto server may take to start serving.
pub const MOTO_START_TIMEOUT: Duration = Duration::from_secs(30);
/// How many times moto is started when the port picked for it was taken.
pub const MOTO_START_ATTEMPTS: u32 = 3;

/// Runs a test scenario within `limit`, failing the test past it.
pub async fn within<T>(limit: Duration, scenario: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(limit, scenario)
        .await
        .unwrap_or_else(|_| panic!("the scenario took over {limit:?}"))
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The workspace's target dir (this test binary's, so a CARGO_TARGET_DIR
/// set at build time is respected), absolute.
fn target_dir() -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().map(Path::to_path_buf).unwrap_or(tmp)
}

/// A fresh empty folder under the target dir's tmp folder.
pub fn temp_dir(name: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("hot-swap-sources")
        .join(format!("{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// ---------------------------------------------------------------------------
// moto

fn install() -> Result<PathBuf, String> {
    // The workspace root: this file is also included by other crates' tests.
    let script = manifest_dir()
        .ancestors()
        .map(|dir| dir.join("hot-swap/tests/support/install-moto.sh"))
        .find(|script| script.is_file())
        .unwrap_or_else(|| manifest_dir().join("hot-swap/tests/support/install-moto.sh"));
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
            "{} failed ({}), so the object storage tests cannot run:\n{stderr}{stdout}",
            script.display(),
            output.status
        ));
    }
    let paths: BTreeMap<&str, &str> = stdout
        .lines()
        .filter_map(|line| line.split_once('='))
        .collect();
    let server = paths
        .get("moto_server")
        .map(PathBuf::from)
        .ok_or_else(|| format!("install-moto.sh printed no moto_server= line:\n{stdout}"))?;
    if !server.is_file() {
        return Err(format!(
            "install-moto.sh printed moto_server={} which is no file",
            server.display()
        ));
    }
    eprintln!(
        "moto installed in {:.1?}: {}{}",
        started.elapsed(),
        server.display(),
        if stderr.is_empty() {
            String::new()
        } else {
            format!("\n{stderr}")
        }
    );
    Ok(server)
}

/// The installed `moto_server`; installs it on first use (once per test
/// binary). Panics, with the reason, when it cannot be had.
pub fn moto_server() -> &'static Path {
    static SERVER: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match SERVER.get_or_init(install) {
        Ok(server) => server,
        Err(why) => panic!("{why}"),
    }
}

/// A `moto_server` on 127.0.0.1, killed when dropped.
pub struct Moto {
    child: Child,
    port: u16,
    log: PathBuf,
}

fn free_port() -> u16 {
    StdTcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Moto {
    /// Starts a moto server and waits (bounded) until it accepts
    /// connections. Blocking: call it before the scenario's timed part.
    pub fn start() -> Self {
        let server = moto_server();
        let logs = temp_dir("moto-logs");
        let mut last_failure = String::new();
        for attempt in 1..=MOTO_START_ATTEMPTS {
            let port = free_port();
            let log = logs.join(format!("moto-{port}.log"));
            let log_file = std::fs::File::create(&log).unwrap();
            let child = Command::new(server)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().unwrap())
                .stderr(log_file)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", server.display()));
            let mut moto = Self { child, port, log };
            let started = Instant::now();
            loop {
                if let Some(status) = moto.child.try_wait().unwrap() {
                    last_failure = format!(
                        "attempt {attempt}: moto_server exited ({status}):\n{}",
                        moto.log_text()
                    );
                    break;
                }
                if StdTcpStream::connect_timeout(
                    &SocketAddr::from(([127, 0, 0, 1], port)),
                    Duration::from_millis(200),
                )
                .is_ok()
                {
                    eprintln!(
                        "moto_server serving on port {port} after {:.1?}",
                        started.elapsed()
                    );
                    return moto;
                }
                if started.elapsed() > MOTO_START_TIMEOUT {
                    panic!(
                        "moto_server did not serve on port {port} within {MOTO_START_TIMEOUT:?}:\n{}",
                        moto.log_text()
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("moto_server did not start:\n{last_failure}");
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates a bucket (a plain path-style `PUT /bucket`; moto does not
    /// check signatures).
    pub async fn create_bucket(&self, bucket: &str) {
        let response = reqwest::Client::new()
            .put(format!("{}/{bucket}", self.endpoint()))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "creating bucket {bucket}: {}",
            response.status()
        );
    }

    /// The store options a source needs for this server (endpoint, region,
    /// dummy credentials); plain HTTP is allowed since the endpoint is
    /// loopback.
    pub fn options(&self) -> Vec<(String, String)> {
        [
            ("aws_endpoint", self.endpoint()),
            ("aws_region", "us-east-1".to_owned()),
            ("aws_access_key_id", "test".to_owned()),
            ("aws_secret_access_key", "test".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// A source for `s3://bucket/key` on this server.
    pub fn source(&self, bucket: &str, key: &str) -> BundleSource {
        BundleSource::ObjectStore {
            url: format!("s3://{bucket}/{key}"),
            options: self.options(),
        }
    }

    /// An `object_store` client for `bucket` on this server (options set on
    /// the builder, not through the process environment).
    pub fn store(&self, bucket: &str) -> AmazonS3 {
        AmazonS3Builder::new()
            .with_endpoint(self.endpoint())
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .with_bucket_name(bucket)
            .build()
            .unwrap()
    }

    /// Publishes `bytes` at `bucket/key`.
    pub async fn put(&self, bucket: &str, key: &str, bytes: &[u8]) {
        self.store(bucket)
            .put(&ObjectPath::from(key), bytes.to_vec().into())
            .await
            .unwrap();
    }

    /// Deletes `bucket/key`.
    pub async fn delete(&self, bucket: &str, key: &str) {
        self.store(bucket)
            .delete(&ObjectPath::from(key))
            .await
            .unwrap();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// A small HTTP server

/// What the server answers on a path.
#[derive(Debug, Clone)]
pub enum Route {
    /// 200 with these bytes (and `Content-Length`), or 304 when the
    /// request's `If-None-Match` is the `etag`.
    Bundle {
        bytes: Vec<u8>,
        etag: Option<String>,
        last_modified: Option<String>,
    },
    /// 200 with a chunked body (no `Content-Length`) of these bytes.
    Chunked(Vec<u8>),
    /// This status, with a short body.
    Status(u16),
    /// 302 to this location.
    Redirect(String),
    /// Reads the request, then never answers.
    Hang,
}

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    /// Header names lowercase.
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP/1.1 server on 127.0.0.1 (one request per connection), stopped
/// when dropped.
pub struct HttpServer {
    addr: SocketAddr,
    routes: Arc<Mutex<HashMap<String, Route>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl HttpServer {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let routes = Arc::new(Mutex::new(HashMap::new()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn({
            let routes = Arc::clone(&routes);
            let seen = Arc::clone(&seen);
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(serve(stream, Arc::clone(&routes), Arc::clone(&seen)));
                }
            }
        });
        Self {
            addr,
            routes,
            seen,
            task,
        }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A source for `path` on this server.
    pub fn source(&self, path: &str) -> BundleSource {
        BundleSource::parse(&self.url(path)).unwrap()
    }

    pub fn set(&self, path: &str, route: Route) {
        self.routes.lock().unwrap().insert(path.to_owned(), route);
    }

    /// Serves `bytes` at `path` with this `ETag`.
    pub fn publish(&self, path: &str, bytes: &[u8], etag: &str) {
        self.set(
            path,
            Route::Bundle {
                bytes: bytes.to_vec(),
                etag: Some(etag.to_owned()),
                last_modified: None,
            },
        );
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The most of a request head read.
const HEAD_LIMIT: usize = 64 * 1024;

async fn serve(
    mut stream: TcpStream,
    routes: Arc<Mutex<HashMap<String, Route>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > HEAD_LIMIT {
            return;
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let path = request_line
        .split(' ')
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let headers: Vec<(String, String)> = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let request = Seen { path, headers };
    seen.lock().unwrap().push(request.clone());
    let route = routes.lock().unwrap().get(&request.path).cloned();
    let response: Vec<u8> = match route {
        None => plain(404, "Not Found"),
        Some(Route::Status(code)) => plain(code, "status"),
        Some(Route::Redirect(location)) => format!(
            "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .into_bytes(),
        Some(Route::Hang) => {
            // Hold the connection open without answering until the client
            // gives up (or the server is dropped).
            let _ = stream.read(&mut buf).await;
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return;
        }
        Some(Route::Chunked(bytes)) => {
            let mut response =
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                    .to_vec();
            for chunk in bytes.chunks(16 * 1024) {
                response.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                response.extend_from_slice(chunk);
                response.extend_from_slice(b"\r\n");
            }
            response.extend_from_slice(b"0\r\n\r\n");
            response
        }
        Some(Route::Bundle {
            bytes,
            etag,
            last_modified,
        }) => {
            let mut validators = String::new();
            if let Some(etag) = &etag {
                validators.push_str(&format!("ETag: {etag}\r\n"));
            }
            if let Some(modified) = &last_modified {
                validators.push_str(&format!("Last-Modified: {modified}\r\n"));
            }
            let not_modified = match (request.header("if-none-match"), &etag) {
                (Some(sent), Some(etag)) => sent == etag,
                (None, _) => match (request.header("if-modified-since"), &last_modified) {
                    (Some(sent), Some(modified)) => sent == modified,
                    _ => false,
                },
                _ => false,
            };
            if not_modified {
                format!("HTTP/1.1 304 Not Modified\r\n{validators}Connection: close\r\n\r\n")
                    .into_bytes()
            } else {
                let mut response = format!(
                    "HTTP/1.1 200 OK\r\n{validators}Content-Length: {}\r\nConnection: close\r\n\r\n",
                    bytes.len()
                )
                .into_bytes();
                response.extend_from_slice(&bytes);
                response
            }
        }
    };
    let _ = stream.write_all(&response).await;
    let _ = stream.shutdown().await;
}

fn plain(code: u16, reason: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reason}",
        reason.len()
    )
    .into_bytes()
}
