//! The URLs keys may come from: `https://`, or `http://` on a loopback host.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use reqwest::Url;

/// A URL that is not acceptable as a key source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key source URL {url:?} is refused: {reason}")]
pub struct UrlError {
    /// The URL as given.
    pub url: String,
    /// Why it is refused, and what to write instead.
    pub reason: String,
}

/// A URL keys may be fetched from: `https://` with a host, or plain
/// `http://` only on a loopback host (`127.0.0.0/8`, `localhost`, `[::1]`).
/// No user name or password, no fragment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RemoteUrl(Url);

impl RemoteUrl {
    /// Parse and check `text`.
    pub fn parse(text: &str) -> Result<RemoteUrl, UrlError> {
        let refuse = |reason: &str| UrlError {
            url: text.to_string(),
            reason: reason.to_string(),
        };
        let url = Url::parse(text).map_err(|e| refuse(&format!("not a valid URL ({e})")))?;
        let host = url
            .host_str()
            .filter(|host| !host.is_empty())
            .ok_or_else(|| refuse("it has no host; write https://host/path"))?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(host) => {}
            "http" => {
                return Err(refuse(
                    "plain http is only allowed for a loopback host (127.0.0.0/8, localhost, [::1]); use https",
                ));
            }
            _ => return Err(refuse("only https:// URLs are allowed")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse(
                "it carries a user name or password; credentials do not belong in a key URL",
            ));
        }
        if url.fragment().is_some() {
            return Err(refuse("it has a #fragment; remove it"));
        }
        Ok(RemoteUrl(url))
    }

    /// The OIDC discovery document of `issuer`:
    /// `<issuer without trailing slash>/.well-known/openid-configuration`.
    /// The issuer must itself be an acceptable URL without a query.
    pub fn discovery(issuer: &str) -> Result<RemoteUrl, UrlError> {
        let base = RemoteUrl::parse(issuer)?;
        if base.0.query().is_some() {
            return Err(UrlError {
                url: issuer.to_string(),
                reason: "an OIDC issuer URL has no query; discovery needs a plain issuer URL"
                    .into(),
            });
        }
        RemoteUrl::parse(&format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        ))
    }

    /// The URL text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The parsed URL.
    pub fn url(&self) -> &Url {
        &self.0
    }
}

impl fmt::Display for RemoteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

/// `host` as the URL parser normalised it: a name, dotted IPv4, or `[IPv6]`.
fn is_loopback(host: &str) -> bool {
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<Ipv6Addr>() == Ok(Ipv6Addr::LOCALHOST);
    }
    match host.parse::<Ipv4Addr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_http_only_on_loopback() {
        for ok in [
            "https://login.example.com/.well-known/jwks.json",
            "https://login.example.com:8443/keys?tenant=a",
            "http://127.0.0.1:8080/jwks.json",
            "http://127.9.8.7/jwks.json",
            "http://localhost:1234/k",
            "http://LOCALHOST/k",
            "http://[::1]:99/k",
        ] {
            RemoteUrl::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for (bad, why) in [
            ("http://login.example.com/jwks.json", "loopback"),
            ("http://10.0.0.1/jwks.json", "loopback"),
            ("http://128.0.0.1/jwks.json", "loopback"),
            ("http://[::2]/jwks.json", "loopback"),
            ("http://localhost.example.com/k", "loopback"),
            ("ftp://login.example.com/jwks.json", "https"),
            ("file:///etc/jwks.json", "host"),
            ("https://user:pw@login.example.com/k", "credentials"),
            ("https://login.example.com/k#x", "fragment"),
            ("login.example.com/jwks.json", "not a valid URL"),
            ("", "not a valid URL"),
        ] {
            let e = RemoteUrl::parse(bad).unwrap_err();
            assert!(e.reason.contains(why), "{bad}: {e}");
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn discovery_url() {
        assert_eq!(
            RemoteUrl::discovery("https://login.example.com/")
                .unwrap()
                .as_str(),
            "https://login.example.com/.well-known/openid-configuration"
        );
        assert_eq!(
            RemoteUrl::discovery("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_X")
                .unwrap()
                .as_str(),
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_X/.well-known/openid-configuration"
        );
        assert!(RemoteUrl::discovery("https://login.example.com/?a=b").is_err());
        assert!(RemoteUrl::discovery("urn:example:batch").is_err());
        assert!(RemoteUrl::discovery("http://login.example.com").is_err());
    }
}
