//! The URLs keys may be fetched from.

use super::document::quoted_prefix;

/// The shape of a URL keys may be fetched from: `https://host[:port][/path][?query]`,
/// or `http://` when the host is loopback (`127.0.0.0/8`, `localhost`, `[::1]`).
/// No user name or password, no fragment. (The host checks it again when it
/// fetches.)
pub fn check_key_url(url: &str) -> Result<(), String> {
    if url.is_empty() {
        return Err(String::from("it is empty"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(String::from(
            "it contains white space or control characters",
        ));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(String::from(
            "it is not an absolute URL; write https://host/path",
        ));
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    if tail.contains('#') {
        return Err(String::from("it has a #fragment; remove it"));
    }
    if authority.contains('@') {
        return Err(String::from(
            "it carries a user name or password; credentials do not belong in a key URL",
        ));
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => {
            let Some((inside, after)) = bracketed.split_once(']') else {
                return Err(String::from("its IPv6 host has no closing `]`"));
            };
            if inside.is_empty()
                || !inside
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
            {
                return Err(String::from("its IPv6 host is not an address"));
            }
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(|| {
                    String::from("unexpected text after its IPv6 host; write [addr]:port")
                })?),
            };
            (&authority[..inside.len() + 2], port)
        }
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    if host.is_empty() {
        return Err(String::from("it has no host; write https://host/path"));
    }
    if !host.starts_with('[')
        && !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err(format!(
            "its host `{}` is not a host name or address",
            quoted_prefix(host)
        ));
    }
    if let Some(port) = port
        && !(port.chars().all(|c| c.is_ascii_digit()) && port.parse::<u16>().is_ok_and(|p| p > 0))
    {
        return Err(format!(
            "its port `{}` is not a number from 1 to 65535",
            quoted_prefix(port)
        ));
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => Ok(()),
        "http" if is_loopback_host(host) => Ok(()),
        "http" => Err(String::from(
            "plain http is only allowed for a loopback host (127.0.0.0/8, localhost, [::1]); use https",
        )),
        _ => Err(format!(
            "the scheme `{}` is not allowed; use https",
            quoted_prefix(scheme)
        )),
    }
}

fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") || host == "[::1]" {
        return true;
    }
    let octets: Vec<&str> = host.split('.').collect();
    octets.len() == 4
        && octets.first() == Some(&"127")
        && octets.iter().all(|o| {
            !o.is_empty()
                && o.len() <= 3
                && o.chars().all(|c| c.is_ascii_digit())
                && o.parse::<u8>().is_ok()
        })
}
