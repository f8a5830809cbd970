//! A bundle in S3-compatible object storage (`object_store`).

use std::time::Duration;

use futures_util::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::client::{HttpError, HttpErrorKind};
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectMeta, ObjectStoreExt, RetryConfig};

use super::{Fetched, Poll, SourceError, SourceSettings, error_chain, is_loopback};

/// Option names (lower case) that set the endpoint.
const ENDPOINT_KEYS: [&str; 4] = [
    "aws_endpoint",
    "aws_endpoint_url",
    "endpoint",
    "endpoint_url",
];

/// Splits `s3://bucket/key` into bucket and key.
pub(super) fn split_s3_url(text: &str) -> Result<(&str, &str), String> {
    let rest = text
        .strip_prefix("s3://")
        .ok_or_else(|| "an object URL starts with s3://".to_owned())?;
    let (bucket, key) = rest
        .split_once('/')
        .ok_or_else(|| "the URL names a bucket but no key (s3://bucket/key)".to_owned())?;
    if bucket.is_empty() {
        return Err("the URL names no bucket (s3://bucket/key)".to_owned());
    }
    if key.is_empty() || key.ends_with('/') {
        return Err("the URL names no object key (s3://bucket/key)".to_owned());
    }
    if key.contains(['?', '#']) {
        return Err("an object key here may not contain ? or #".to_owned());
    }
    Ok((bucket, key))
}

pub(super) struct ObjectSource {
    url: String,
    store: AmazonS3,
    location: ObjectPath,
    max_bytes: u64,
    request_timeout: Duration,
    /// The version (or `ETag`) of the object last returned.
    last: Option<String>,
}

impl ObjectSource {
    pub(super) fn new(
        url: &str,
        options: &[(String, String)],
        settings: &SourceSettings,
    ) -> Result<Self, SourceError> {
        let config = |reason: String| SourceError::ObjectStoreConfig {
            url: url.to_owned(),
            reason,
        };
        let (bucket, key) = split_s3_url(url).map_err(config)?;
        let location = ObjectPath::parse(key).map_err(|e| config(error_chain(&e)))?;

        // Plain HTTP to the endpoint: with allow_http, or to a loopback
        // endpoint (a local S3-compatible server), as for URLs.
        let env_endpoint = std::env::var("AWS_ENDPOINT_URL")
            .or_else(|_| std::env::var("AWS_ENDPOINT"))
            .ok();
        let endpoint = options
            .iter()
            .rev()
            .find(|(k, _)| ENDPOINT_KEYS.contains(&k.to_ascii_lowercase().as_str()))
            .map(|(_, v)| v.clone())
            .or(env_endpoint);
        let loopback_endpoint = endpoint
            .as_deref()
            .and_then(|e| ::url::Url::parse(e).ok())
            .is_some_and(|e| is_loopback(e.host()));

        let client = ClientOptions::new()
            .with_connect_timeout(settings.connect_timeout)
            .with_timeout(settings.request_timeout)
            .with_allow_http(settings.allow_http || loopback_endpoint);
        let retry = RetryConfig {
            max_retries: 2,
            retry_timeout: settings.request_timeout,
            ..RetryConfig::default()
        };
        let mut builder = AmazonS3Builder::new()
            .with_client_options(client)
            .with_retry(retry);
        // As AmazonS3Builder::from_env, but after the client options (which
        // would otherwise replace AWS_ALLOW_HTTP and the like).
        for (name, value) in std::env::vars_os() {
            if let (Some(name), Some(value)) = (name.to_str(), value.to_str())
                && name.starts_with("AWS_")
                && let Ok(key) = name.to_ascii_lowercase().parse::<AmazonS3ConfigKey>()
            {
                builder = builder.with_config(key, value);
            }
        }
        for (name, value) in options {
            let key = name
                .to_ascii_lowercase()
                .parse::<AmazonS3ConfigKey>()
                .map_err(|_| {
                    config(format!(
                        "unknown option `{name}` (options are named as object_store's \
                     AmazonS3ConfigKey, e.g. aws_endpoint, aws_region, aws_allow_http)"
                    ))
                })?;
            builder = builder.with_config(key, value);
        }
        let store = builder
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| config(error_chain(&e)))?;
        Ok(Self {
            url: url.to_owned(),
            store,
            location,
            max_bytes: settings.max_bytes,
            request_timeout: settings.request_timeout,
            last: None,
        })
    }

    pub(super) async fn poll(&mut self) -> Result<Poll, SourceError> {
        match tokio::time::timeout(self.request_timeout, self.fetch()).await {
            Ok(result) => result,
            Err(_) => Err(SourceError::Timeout {
                source_name: self.url.clone(),
                limit: self.request_timeout,
            }),
        }
    }

    fn failed(&self, error: &object_store::Error) -> SourceError {
        if timed_out(error) {
            return SourceError::Timeout {
                source_name: self.url.clone(),
                limit: self.request_timeout,
            };
        }
        let detail = error_chain(error);
        match error {
            object_store::Error::NotFound { .. } => SourceError::ObjectNotFound {
                url: self.url.clone(),
                detail,
            },
            _ => SourceError::ObjectStore {
                url: self.url.clone(),
                detail,
            },
        }
    }

    fn too_large(&self, size: u64, at_least: bool) -> SourceError {
        SourceError::TooLarge {
            source_name: self.url.clone(),
            size,
            at_least,
            max_bytes: self.max_bytes,
        }
    }

    async fn fetch(&mut self) -> Result<Poll, SourceError> {
        let meta = self
            .store
            .head(&self.location)
            .await
            .map_err(|e| self.failed(&e))?;
        if self.last.is_some() && self.last == version(&meta) {
            return Ok(Poll::Unchanged);
        }
        if meta.size > self.max_bytes {
            return Err(self.too_large(meta.size, false));
        }
        let result = self
            .store
            .get(&self.location)
            .await
            .map_err(|e| self.failed(&e))?;
        // The object may have been replaced since the head: the get's own
        // metadata names what is read.
        let got = version(&result.meta);
        if result.meta.size > self.max_bytes {
            return Err(self.too_large(result.meta.size, false));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(result.meta.size).unwrap_or(0));
        let mut stream = result.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.failed(&e))?;
            let total = u64::try_from(bytes.len().saturating_add(chunk.len())).unwrap_or(u64::MAX);
            if total > self.max_bytes {
                return Err(self.too_large(total, true));
            }
            bytes.extend_from_slice(&chunk);
        }
        self.last.clone_from(&got);
        Ok(Poll::Changed(Fetched {
            bytes,
            version: got,
        }))
    }
}

/// Whether the store gave up because a request timed out.
fn timed_out(error: &object_store::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if current
            .downcast_ref::<HttpError>()
            .is_some_and(|e| e.kind() == HttpErrorKind::Timeout)
        {
            return true;
        }
        cause = current.source();
    }
    false
}

/// What names this version of the object: its version id where the bucket
/// is versioned, else its `ETag`, else its modification time and size.
fn version(meta: &ObjectMeta) -> Option<String> {
    meta.version
        .clone()
        .or_else(|| meta.e_tag.clone())
        .or_else(|| Some(format!("{} {}", meta.last_modified.to_rfc3339(), meta.size)))
}
