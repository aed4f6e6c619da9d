//! Who may talk to the console: every request's `Host` must name this
//! server (a loopback name or address, or a configured host), so a page on
//! another name that re-resolves to 127.0.0.1 (DNS rebinding) is refused;
//! and a browser's `Origin` and `Sec-Fetch-Site`, when sent, must say the
//! request comes from the console's own page, so no other site can read
//! the console or start executions through a visitor's browser.

use hyper::HeaderMap;
use std::net::IpAddr;

/// Why a request is refused (answered 403).
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    Host,
    Origin,
}

/// Check a request's headers; `hosts` are the names allowed besides
/// loopback ones (lower case, without port).
pub fn check(headers: &HeaderMap, hosts: &[String], needs_origin: bool) -> Result<(), Refused> {
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"));
    let host = header("host").ok_or(Refused::Host)?;
    if !allowed_host(host, hosts) {
        return Err(Refused::Host);
    }
    match header("origin") {
        Some(origin) if !same_origin(origin, host) => return Err(Refused::Origin),
        None if needs_origin => return Err(Refused::Origin),
        _ => {}
    }
    // Sent by every current browser: `none` is a typed URL or a bookmark.
    match header("sec-fetch-site") {
        Some("same-origin" | "none") | None => Ok(()),
        Some(_) => Err(Refused::Origin),
    }
}

/// `host[:port]` names this server.
fn allowed_host(host: &str, hosts: &[String]) -> bool {
    let name = host_name(host).to_ascii_lowercase();
    if name.is_empty() {
        return false;
    }
    if name == "localhost" || hosts.iter().any(|h| h.eq_ignore_ascii_case(&name)) {
        return true;
    }
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The name part of `host[:port]` (an IPv6 literal keeps its brackets).
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// The console's origin: `http://<Host>`, or `https://<Host>` behind a
/// proxy that ends TLS (the deployment SECURITY.md recommends).
fn same_origin(origin: &str, host: &str) -> bool {
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|o| o.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("header value"));
        }
        h
    }

    #[test]
    fn loopback_and_configured_hosts_pass_and_other_names_are_refused() {
        let hosts = vec!["console.internal".to_string()];
        for ok in ["localhost:8083", "127.0.0.1:8083", "127.1.2.3", "[::1]:8083", "LOCALHOST", "console.internal:443"] {
            assert_eq!(check(&headers(&[("host", ok)]), &hosts, false), Ok(()), "{ok}");
        }
        for bad in ["attacker.example:8083", "localhost.attacker.example", "10.0.0.1:8083", "", "[::2]:1", ":8083"] {
            assert_eq!(check(&headers(&[("host", bad)]), &hosts, false), Err(Refused::Host), "{bad}");
        }
        assert_eq!(check(&HeaderMap::new(), &hosts, false), Err(Refused::Host));
    }

    #[test]
    fn only_the_consoles_own_origin_passes() {
        let host = ("host", "127.0.0.1:8083");
        assert_eq!(check(&headers(&[host, ("origin", "http://127.0.0.1:8083")]), &[], true), Ok(()));
        // Behind a proxy that ends TLS, the page's origin is https.
        assert_eq!(check(&headers(&[host, ("origin", "https://127.0.0.1:8083")]), &[], true), Ok(()));
        assert_eq!(check(&headers(&[host]), &[], true), Err(Refused::Origin), "a start needs an Origin");
        for bad in [
            "http://attacker.example",
            "https://attacker.example",
            "null",
            "http://127.0.0.1:9999",
            "ftp://127.0.0.1:8083",
        ] {
            assert_eq!(check(&headers(&[host, ("origin", bad)]), &[], false), Err(Refused::Origin), "{bad}");
        }
        assert_eq!(check(&headers(&[host, ("sec-fetch-site", "cross-site")]), &[], false), Err(Refused::Origin));
        assert_eq!(check(&headers(&[host, ("sec-fetch-site", "same-site")]), &[], false), Err(Refused::Origin));
        assert_eq!(check(&headers(&[host, ("sec-fetch-site", "same-origin")]), &[], false), Ok(()));
    }
}
