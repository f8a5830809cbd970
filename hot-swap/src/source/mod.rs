//! Where policy bundles come from, and how a change is noticed.
//!
//! A [`BundleSource`] names one bundle: a local file, an HTTPS URL, or an
//! object in S3-compatible storage. A [`SourceClient`] polls it:
//! [`SourceClient::poll`] answers [`Poll::Unchanged`] cheaply when the
//! bundle is the one it saw last (file metadata, `ETag` / `If-None-Match`,
//! object `head`), and downloads it, within [`SourceSettings::max_bytes`]
//! and the timeouts, only when it changed.
//!
//! - A file source is stat'ed first (length, modification time, inode) and
//!   read only when one of them changed; [`SourceClient::wakeups`] gives a
//!   channel that a file watch on the file's folder fires when the file is
//!   written, created or renamed into place, so a host need not wait for its
//!   next poll.
//! - A URL is fetched with `If-None-Match` (or `If-Modified-Since` when the
//!   server sent no `ETag`); `304 Not Modified` is [`Poll::Unchanged`].
//!   Plain `http://` is refused except to a loopback host, unless
//!   [`SourceSettings::allow_http`] is set; redirects are followed at most
//!   [`MAX_REDIRECTS`] times and never from `https` to `http`.
//! - An `s3://bucket/key` object is `head`ed first and fetched only when its
//!   version or `ETag` changed. Options come from the `AWS_*` environment
//!   variables and from [`BundleSource::ObjectStore`]'s `options`.

mod file;
mod object;
mod url;

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;

pub use url::MAX_REDIRECTS;

/// Where a bundle is published.
#[derive(Clone, PartialEq, Eq)]
pub enum BundleSource {
    /// A local file (a bundle is replaced by writing a new file and renaming
    /// it over the old one).
    File(PathBuf),
    /// An `https://` URL (or `http://` to a loopback host, or anywhere with
    /// [`SourceSettings::allow_http`]).
    Url(::url::Url),
    /// An object in S3-compatible storage.
    ObjectStore {
        /// `s3://bucket/key`.
        url: String,
        /// Store options as `object_store` names them (`aws_endpoint`,
        /// `aws_region`, `aws_allow_http`, `aws_access_key_id`, …), applied
        /// over the `AWS_*` environment variables.
        options: Vec<(String, String)>,
    },
}

impl BundleSource {
    /// Parses a source as a configuration names it: a path or `file://…`,
    /// `https://…` / `http://…`, or `s3://bucket/key`.
    ///
    /// Whether plain `http://` is allowed depends on the settings, so it is
    /// checked by [`SourceClient::new`].
    pub fn parse(text: &str) -> Result<Self, SourceError> {
        let invalid = |reason: String| SourceError::InvalidSource {
            source_text: redact_text(text),
            reason,
        };
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(invalid("it is empty".to_owned()));
        }
        if trimmed != text {
            return Err(invalid("it starts or ends with white space".to_owned()));
        }
        let Some((scheme, _)) = text.split_once("://") else {
            return Ok(Self::File(PathBuf::from(text)));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "file" => {
                let url = ::url::Url::parse(text).map_err(|e| invalid(e.to_string()))?;
                url.to_file_path().map(Self::File).map_err(|()| {
                    invalid(
                        "a file:// URL needs an absolute path and no host (file:///path/to/bundle.tgb)"
                            .to_owned(),
                    )
                })
            }
            "https" | "http" => {
                let url = ::url::Url::parse(text).map_err(|e| invalid(e.to_string()))?;
                if url.host().is_none() {
                    return Err(invalid("the URL has no host".to_owned()));
                }
                Ok(Self::Url(url))
            }
            "s3" => {
                object::split_s3_url(text).map_err(invalid)?;
                Ok(Self::ObjectStore {
                    url: text.to_owned(),
                    options: Vec::new(),
                })
            }
            other => Err(invalid(format!(
                "the scheme `{other}://` is not supported (object storage other than S3, \
                 such as gs:// or az://, is not supported yet)"
            ))),
        }
    }

    /// Whether the bundle comes over the network (a URL or object storage),
    /// as opposed to a local file.
    pub fn is_remote(&self) -> bool {
        !matches!(self, Self::File(_))
    }
}

/// The source without credentials: a URL's user name, password and query
/// are left out, object store options are not shown.
impl fmt::Display for BundleSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Url(url) => f.write_str(&redact_url(url)),
            Self::ObjectStore { url, .. } => f.write_str(url),
        }
    }
}

/// Like [`Display`](fmt::Display), plus the names (never the values) of
/// object store options.
impl fmt::Debug for BundleSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::Url(_) => f.debug_tuple("Url").field(&self.to_string()).finish(),
            Self::ObjectStore { url, options } => f
                .debug_struct("ObjectStore")
                .field("url", url)
                .field(
                    "options",
                    &options.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
                )
                .finish(),
        }
    }
}

/// Limits and permissions of a [`SourceClient`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSettings {
    /// The largest bundle accepted, in bytes (default 64 MiB). Checked on
    /// the announced size (file length, `Content-Length`, object size) and
    /// again on the bytes actually read.
    pub max_bytes: u64,
    /// How long connecting to a URL or object store may take (default 5 s).
    pub connect_timeout: Duration,
    /// How long one poll of a URL or object store may take in all,
    /// download included (default 20 s).
    pub request_timeout: Duration,
    /// Allow plain `http://` to hosts other than loopback (default false):
    /// only for a trusted network, since the bundle's signature is then the
    /// only protection of its contents.
    pub allow_http: bool,
}

impl Default for SourceSettings {
    fn default() -> Self {
        Self {
            max_bytes: 64 * 1024 * 1024,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(20),
            allow_http: false,
        }
    }
}

/// A bundle as downloaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The bundle's bytes (at most [`SourceSettings::max_bytes`]).
    pub bytes: Vec<u8>,
    /// What the source calls this version, when it says: the `ETag` (or
    /// `Last-Modified`) of a URL, the version or `ETag` of an object, the
    /// inode, length and modification time of a file.
    pub version: Option<String>,
}

/// The answer of one [`SourceClient::poll`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll {
    /// The bundle is the one the previous successful poll saw.
    Unchanged,
    /// A bundle the client has not seen before (always so on the first poll).
    Changed(Fetched),
}

/// Why a source could not be read. Messages never hold credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The source text is not a path, `file://`, `https://` or `s3://` URL.
    #[error(
        "bundle source `{source_text}` is not usable: {reason}; name a file path, \
         file:///path, https://host/path or s3://bucket/key"
    )]
    InvalidSource {
        /// The source as configured (a URL without credentials).
        source_text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Plain HTTP to a host that is not loopback, without `allow_http`.
    #[error(
        "bundle source {url} uses plain http:// to a host that is not loopback: use https://, \
         or set allow_http if the network between this host and the server is trusted"
    )]
    HttpNotAllowed {
        /// The URL (without credentials).
        url: String,
    },
    /// An object store option is unknown or the store cannot be set up.
    #[error(
        "bundle source {url}: object store settings are invalid: {reason}; check the options \
         and the AWS_* environment variables"
    )]
    ObjectStoreConfig {
        /// `s3://bucket/key`.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot set up an HTTP client for bundle source {url}: {reason}")]
    Client {
        /// The source.
        url: String,
        /// Why.
        reason: String,
    },
    /// The bundle file does not exist.
    #[error(
        "bundle file {path} does not exist: publish the bundle there (write a temporary file \
         in the same folder, then rename it), or fix the source path"
    )]
    FileMissing {
        /// The file.
        path: PathBuf,
    },
    /// The source path is a folder, or not a regular file.
    #[error("bundle source {path} is not a regular file: name the bundle file itself")]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// Reading the bundle file failed.
    #[error("cannot read bundle file {path}: {source}; check its permissions")]
    FileRead {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The bundle is larger than the size cap.
    #[error(
        "bundle at {source_name} is larger than the size cap ({size}{more} bytes, at most \
         {max_bytes} allowed): publish a smaller bundle or raise max_bytes",
        more = if *.at_least { " or more" } else { "" }
    )]
    TooLarge {
        /// The source (without credentials).
        source_name: String,
        /// The announced size, or the bytes read when the cap was passed.
        size: u64,
        /// Whether `size` is only what was read before stopping.
        at_least: bool,
        /// The cap.
        max_bytes: u64,
    },
    /// The server answered with a status other than 2xx or 304.
    #[error("bundle URL {url} answered {status}: {hint}")]
    HttpStatus {
        /// The URL (without credentials).
        url: String,
        /// The status code.
        status: u16,
        /// What to do about it.
        hint: &'static str,
    },
    /// The request did not finish within the configured time.
    #[error(
        "bundle source {source_name} did not answer within {limit:?}: check that the server \
         is up and reachable, or raise the timeout"
    )]
    Timeout {
        /// The source (without credentials).
        source_name: String,
        /// The bound that was passed.
        limit: Duration,
    },
    /// The request failed (connection, TLS, redirect, body).
    #[error("fetching bundle URL {url} failed: {detail}")]
    Http {
        /// The URL (without credentials).
        url: String,
        /// The error and its causes (without URLs).
        detail: String,
    },
    /// The object does not exist (or its bucket does not).
    #[error(
        "bundle object {url} was not found: check the bucket and key, and that the bundle \
         was published ({detail})"
    )]
    ObjectNotFound {
        /// `s3://bucket/key`.
        url: String,
        /// The store's message.
        detail: String,
    },
    /// The object store refused or failed the request.
    #[error(
        "reading bundle object {url} failed: {detail}; check the endpoint, region, \
         credentials and permissions (s3:GetObject)"
    )]
    ObjectStore {
        /// `s3://bucket/key`.
        url: String,
        /// The store's message.
        detail: String,
    },
}

/// Polls one [`BundleSource`].
pub struct SourceClient {
    source: BundleSource,
    inner: Inner,
    request_timeout: Duration,
}

/// The source as [`BundleSource`]'s `Debug` shows it (no credentials).
impl fmt::Debug for SourceClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceClient")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

enum Inner {
    File(file::FileSource),
    Url(url::UrlSource),
    Object(object::ObjectSource),
}

impl SourceClient {
    /// Sets up a client for `source`: checks that plain HTTP is allowed,
    /// builds the HTTP client or the object store. Nothing is fetched yet.
    pub fn new(source: BundleSource, settings: SourceSettings) -> Result<Self, SourceError> {
        let inner = match &source {
            BundleSource::File(path) => Inner::File(file::FileSource::new(path.clone(), &settings)),
            BundleSource::Url(url) => Inner::Url(url::UrlSource::new(url.clone(), &settings)?),
            BundleSource::ObjectStore { url, options } => {
                Inner::Object(object::ObjectSource::new(url, options, &settings)?)
            }
        };
        Ok(Self {
            source,
            inner,
            request_timeout: settings.request_timeout,
        })
    }

    /// The source this client polls.
    pub fn source(&self) -> &BundleSource {
        &self.source
    }

    /// Checks the source: [`Poll::Unchanged`] when the bundle is the one the
    /// previous successful poll returned, otherwise downloads it. A failed
    /// poll changes nothing, so the next one tries again.
    pub async fn poll(&mut self) -> Result<Poll, SourceError> {
        match &mut self.inner {
            // A hung file system (NFS) must not stop the checks for good.
            Inner::File(source) => tokio::time::timeout(self.request_timeout, source.poll())
                .await
                .unwrap_or_else(|_| {
                    Err(SourceError::Timeout {
                        source_name: self.source.to_string(),
                        limit: self.request_timeout,
                    })
                }),
            Inner::Url(source) => source.poll().await,
            Inner::Object(source) => source.poll().await,
        }
    }

    /// For a file source, a channel that receives `()` soon (debounced by
    /// [`WATCH_DEBOUNCE`]) after the file was written, created, renamed into
    /// place or removed: poll then instead of waiting for the next interval.
    /// Wake-ups are coalesced (the channel holds at most one). `None` for
    /// other sources, on a second call, or when the watch cannot be set up
    /// (logged; polling still works).
    pub fn wakeups(&mut self) -> Option<mpsc::Receiver<()>> {
        match &mut self.inner {
            Inner::File(source) => source.wakeups(),
            Inner::Url(_) | Inner::Object(_) => None,
        }
    }
}

/// How long a file watch waits for the writes of one publication to settle
/// before it wakes the poller.
pub const WATCH_DEBOUNCE: Duration = Duration::from_millis(30);

/// Whether `host` is a loopback host (`localhost`, `127.0.0.0/8`, `[::1]`).
fn is_loopback(host: Option<::url::Host<&str>>) -> bool {
    match host {
        Some(::url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(::url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(::url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// A URL for messages: scheme, host, port and path; no user name,
/// password, query or fragment (a query may hold a presigned signature).
fn redact_url(url: &::url::Url) -> String {
    let mut shown = format!("{}://", url.scheme());
    if let Some(host) = url.host_str() {
        shown.push_str(host);
    }
    if let Some(port) = url.port() {
        shown.push_str(&format!(":{port}"));
    }
    shown.push_str(url.path());
    if url.query().is_some() {
        shown.push_str("?…");
    }
    shown
}

/// Source text for messages: a URL with credentials is redacted.
fn redact_text(text: &str) -> String {
    match ::url::Url::parse(text) {
        Ok(url) if url.scheme() != "file" && !url.cannot_be_a_base() => redact_url(&url),
        _ => text.to_owned(),
    }
}

/// An error and its causes, joined with `: `.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
