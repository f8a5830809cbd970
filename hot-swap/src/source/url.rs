//! A bundle at an HTTPS URL, polled with `ETag` / `If-None-Match`.

use std::time::Duration;

use ::url::Url;
use reqwest::header::{
    CONTENT_LENGTH, ETAG, HeaderMap, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED,
};
use reqwest::{StatusCode, redirect};

use super::{Fetched, Poll, SourceError, SourceSettings, error_chain, is_loopback, redact_url};

/// The most redirects followed for one request.
pub const MAX_REDIRECTS: usize = 5;

/// What the server said about the last bundle it sent.
#[derive(Debug, Clone, Default)]
struct Validators {
    etag: Option<HeaderValue>,
    last_modified: Option<HeaderValue>,
}

pub(super) struct UrlSource {
    url: Url,
    shown: String,
    client: reqwest::Client,
    max_bytes: u64,
    request_timeout: Duration,
    last: Option<Validators>,
}

/// Whether `url` may be fetched: https, or http to loopback or with
/// `allow_http`.
fn scheme_allowed(url: &Url, allow_http: bool) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => allow_http || is_loopback(url.host()),
        _ => false,
    }
}

impl UrlSource {
    pub(super) fn new(url: Url, settings: &SourceSettings) -> Result<Self, SourceError> {
        let shown = redact_url(&url);
        if !scheme_allowed(&url, settings.allow_http) {
            return Err(if url.scheme() == "http" {
                SourceError::HttpNotAllowed { url: shown }
            } else {
                SourceError::InvalidSource {
                    source_text: shown,
                    reason: format!("the scheme {} is not http(s)", url.scheme()),
                }
            });
        }
        let allow_http = settings.allow_http;
        let policy = redirect::Policy::custom(move |attempt| {
            let from_https = attempt.previous().iter().any(|u| u.scheme() == "https");
            if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
            } else if from_https && attempt.url().scheme() != "https" {
                attempt.error("refused a redirect from https to plain http")
            } else if !scheme_allowed(attempt.url(), allow_http) {
                attempt.error("refused a redirect to plain http on a host that is not loopback")
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            .redirect(policy)
            .build()
            .map_err(|e| SourceError::Client {
                url: shown.clone(),
                reason: error_chain(&e.without_url()),
            })?;
        Ok(Self {
            url,
            shown,
            client,
            max_bytes: settings.max_bytes,
            request_timeout: settings.request_timeout,
            last: None,
        })
    }

    pub(super) async fn poll(&mut self) -> Result<Poll, SourceError> {
        // reqwest's timeout covers the whole exchange; this one also bounds
        // what happens around it.
        match tokio::time::timeout(self.request_timeout, self.fetch()).await {
            Ok(result) => result,
            Err(_) => Err(self.timeout()),
        }
    }

    fn timeout(&self) -> SourceError {
        SourceError::Timeout {
            source_name: self.shown.clone(),
            limit: self.request_timeout,
        }
    }

    fn failed(&self, error: reqwest::Error) -> SourceError {
        if error.is_timeout() {
            self.timeout()
        } else {
            SourceError::Http {
                url: self.shown.clone(),
                detail: error_chain(&error.without_url()),
            }
        }
    }

    fn too_large(&self, size: u64, at_least: bool) -> SourceError {
        SourceError::TooLarge {
            source_name: self.shown.clone(),
            size,
            at_least,
            max_bytes: self.max_bytes,
        }
    }

    async fn fetch(&mut self) -> Result<Poll, SourceError> {
        let mut request = self.client.get(self.url.clone());
        if let Some(last) = &self.last {
            if let Some(etag) = &last.etag {
                request = request.header(IF_NONE_MATCH, etag.clone());
            } else if let Some(modified) = &last.last_modified {
                request = request.header(IF_MODIFIED_SINCE, modified.clone());
            }
        }
        let mut response = request.send().await.map_err(|e| self.failed(e))?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED && self.last.is_some() {
            return Ok(Poll::Unchanged);
        }
        if !status.is_success() {
            return Err(SourceError::HttpStatus {
                url: self.shown.clone(),
                status: status.as_u16(),
                hint: status_hint(status),
            });
        }
        let validators = validators(response.headers());
        // A server that ignores If-None-Match but sends the same ETag.
        if let (Some(last), Some(etag)) = (&self.last, &validators.etag)
            && last.etag.as_ref() == Some(etag)
        {
            return Ok(Poll::Unchanged);
        }
        let announced = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(length) = announced
            && length > self.max_bytes
        {
            return Err(self.too_large(length, false));
        }
        let mut bytes =
            Vec::with_capacity(announced.and_then(|n| usize::try_from(n).ok()).unwrap_or(0));
        while let Some(chunk) = response.chunk().await.map_err(|e| self.failed(e))? {
            let total = u64::try_from(bytes.len().saturating_add(chunk.len())).unwrap_or(u64::MAX);
            if total > self.max_bytes {
                return Err(self.too_large(total, true));
            }
            bytes.extend_from_slice(&chunk);
        }
        let version = validators
            .etag
            .as_ref()
            .or(validators.last_modified.as_ref())
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        self.last = Some(validators);
        Ok(Poll::Changed(Fetched { bytes, version }))
    }
}

fn validators(headers: &HeaderMap) -> Validators {
    Validators {
        etag: headers.get(ETAG).cloned(),
        last_modified: headers.get(LAST_MODIFIED).cloned(),
    }
}

fn status_hint(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 | 403 => "the server refused access; check the URL and the server's permissions",
        404 | 410 => "no bundle there; check the URL and that the bundle was published",
        304 => "a 304 answered a request without a validator; the server is misconfigured",
        300..=399 => "a redirect that was not followed; point the source at the final URL",
        500..=599 => "the server failed; the current bundle stays active, try again later",
        _ => "the server did not send the bundle; check the URL",
    }
}
