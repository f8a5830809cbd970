//! One HTTP GET under the limits: timeouts, size cap, same-origin redirects.

use std::time::Duration;

use reqwest::header::{ACCEPT, CACHE_CONTROL, CONTENT_LENGTH};
use reqwest::redirect;

use crate::settings::{KeyFetchSettings, parse_max_age};
use crate::url::RemoteUrl;
use crate::{FetchError, KeyManagerError};

/// A successful response: the body and its `Cache-Control` lifetime.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) body: Vec<u8>,
    /// `max-age` (zero for `no-cache`/`no-store`), `None` when absent.
    pub(crate) max_age: Option<Duration>,
}

/// The HTTP client with tollgate's limits built in.
#[derive(Debug, Clone)]
pub(crate) struct Fetcher {
    client: reqwest::Client,
    connect_timeout: Duration,
    request_timeout: Duration,
    max_bytes: usize,
}

impl Fetcher {
    pub(crate) fn new(settings: &KeyFetchSettings) -> Result<Fetcher, KeyManagerError> {
        let max_redirects = settings.max_redirects;
        let policy = redirect::Policy::custom(move |attempt| {
            let (from, hops) = match attempt.previous().first() {
                Some(first) => (first.clone(), attempt.previous().len()),
                None => return attempt.follow(),
            };
            if hops > max_redirects {
                return attempt.error(format!("more than {max_redirects} redirects"));
            }
            let to = attempt.url();
            let same_origin = to.scheme() == from.scheme()
                && to.host_str() == from.host_str()
                && to.port_or_known_default() == from.port_or_known_default();
            if same_origin {
                attempt.follow()
            } else {
                let message = format!(
                    "redirect to another origin ({}) refused: keys are only fetched from the configured host",
                    to.as_str()
                );
                attempt.error(message)
            }
        });
        let mut builder = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            .redirect(policy)
            .user_agent(concat!("tollgate/", env!("CARGO_PKG_VERSION")));
        if matches!(settings.mode, crate::RefreshMode::Inline { .. }) {
            // A frozen process (Lambda) keeps no idle connections: nothing of
            // ours stays open between invocations.
            builder = builder.pool_max_idle_per_host(0);
        }
        let client = builder
            .build()
            .map_err(|e| KeyManagerError::Client(error_chain(&e)))?;
        Ok(Fetcher {
            client,
            connect_timeout: settings.connect_timeout,
            request_timeout: settings.request_timeout,
            max_bytes: settings.max_response_bytes,
        })
    }

    /// GET `url`: status 200 only, body at most `max_response_bytes`
    /// (checked against `Content-Length` first, then while streaming), the
    /// whole exchange within `request_timeout`.
    pub(crate) async fn get(&self, url: &RemoteUrl) -> Result<Fetched, FetchError> {
        let exchange = self.exchange(url);
        match tokio::time::timeout(self.request_timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout {
                url: url.to_string(),
                after: self.request_timeout,
            }),
        }
    }

    async fn exchange(&self, url: &RemoteUrl) -> Result<Fetched, FetchError> {
        let mut response = self
            .client
            .get(url.url().clone())
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| self.classify(url, &e))?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(FetchError::Status {
                url: url.to_string(),
                status,
            });
        }
        let too_large = || FetchError::TooLarge {
            url: url.to_string(),
            limit: self.max_bytes,
        };
        let declared = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.max_bytes as u64) {
            return Err(too_large());
        }
        let max_age = response
            .headers()
            .get_all(CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(parse_max_age)
            .min();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.classify(url, &e))? {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched { body, max_age })
    }

    fn classify(&self, url: &RemoteUrl, error: &reqwest::Error) -> FetchError {
        let url = url.to_string();
        let reason = error_chain(error);
        if error.is_connect() && error.is_timeout() {
            FetchError::Connect {
                url,
                reason: format!("no connection within {:?} ({reason})", self.connect_timeout),
            }
        } else if error.is_timeout() {
            FetchError::Timeout {
                url,
                after: self.request_timeout,
            }
        } else if error.is_redirect() {
            FetchError::Redirect { url, reason }
        } else if error.is_connect() {
            FetchError::Connect { url, reason }
        } else {
            FetchError::Transport { url, reason }
        }
    }
}

/// An error and its sources, `: `-separated (reqwest's own message is terse).
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
