//! `http.allowed_endpoints`: which URLs HTTP tasks may call. An entry is an
//! `http(s)` URL without user information, query or fragment; an endpoint is
//! allowed when it has the entry's scheme, host and port (explicit or the
//! scheme's default) and its path starts with the entry's path *segments*:
//! `https://api.example.com/v1` allows `/v1` and `/v1/x`, not `/v10`.
//!
//! Both sides are parsed by the `url` crate (WHATWG rules), which lowercases
//! and IDNA-maps hosts, canonicalises IP addresses and resolves dot-segments
//! (`/v1/../admin`, `/v1/%2e%2e/admin`) before anything is compared, so the
//! comparison sees the URL that is really requested.

use url::Url;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedEndpoint {
    scheme: String,
    host: String,
    port: u16,
    segments: Vec<String>,
}

impl AllowedEndpoint {
    /// One configuration entry; the message says what is wrong with it.
    pub fn parse(text: &str) -> Result<AllowedEndpoint, String> {
        let url = Url::parse(text).map_err(|e| format!("'{text}' is not a URL: {e}"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("'{text}' must not contain user information (user:password@)"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("'{text}' must not contain a query (?…) or a fragment (#…)"));
        }
        let target = Target::of(&url).map_err(|e| format!("'{text}' {e}"))?;
        Ok(AllowedEndpoint {
            scheme: target.scheme.to_string(),
            host: target.host.to_string(),
            port: target.port,
            segments: target.segments.iter().map(|s| s.to_string()).collect(),
        })
    }

    /// Whether `url` is this entry's origin and at or under its path.
    /// A URL that [`Target::of`] refuses is never allowed.
    pub fn allows(&self, url: &Url) -> bool {
        let Ok(target) = Target::of(url) else { return false };
        target.scheme == self.scheme
            && target.host == self.host
            && target.port == self.port
            && target.segments.len() >= self.segments.len()
            && self.segments.iter().zip(&target.segments).all(|(allowed, asked)| allowed == asked)
    }
}

/// What an allow-list compares: scheme, host, port and the path segments
/// (a trailing empty segment, from a trailing `/`, dropped).
struct Target<'a> {
    scheme: &'a str,
    host: &'a str,
    port: u16,
    segments: Vec<&'a str>,
}

impl<'a> Target<'a> {
    fn of(url: &'a Url) -> Result<Target<'a>, String> {
        let scheme = url.scheme();
        if scheme != "http" && scheme != "https" {
            return Err(format!("has scheme '{scheme}'; only http and https are supported"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("has user information (user:password@)".into());
        }
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or("has no host")?;
        let port = url.port_or_known_default().ok_or("has no port")?;
        let mut segments: Vec<&str> = url.path_segments().map(Iterator::collect).unwrap_or_default();
        if segments.last() == Some(&"") {
            segments.pop();
        }
        // An encoded separator is one segment here but may be two (or a
        // `..`) to the server that decodes it: refused, not guessed at.
        if let Some(s) = segments.iter().find(|s| {
            let lower = s.to_ascii_lowercase();
            lower.contains("%2f") || lower.contains("%5c")
        }) {
            return Err(format!("has an encoded '/' or '\\' in the path segment '{s}'"));
        }
        Ok(Target { scheme, host, port, segments })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(entry: &str, endpoint: &str) -> bool {
        let entry = AllowedEndpoint::parse(entry).expect("entry");
        entry.allows(&Url::parse(endpoint).expect("endpoint"))
    }

    #[test]
    fn paths_match_by_whole_segments() {
        assert!(allowed("https://api.example.com/v1", "https://api.example.com/v1"));
        assert!(allowed("https://api.example.com/v1", "https://api.example.com/v1/"));
        assert!(allowed("https://api.example.com/v1", "https://api.example.com/v1/x?q=1"));
        assert!(allowed("https://api.example.com/v1/", "https://api.example.com/v1/x"));
        assert!(!allowed("https://api.example.com/v1", "https://api.example.com/v10"));
        assert!(!allowed("https://api.example.com/v1/", "https://api.example.com/v10/x"));
        assert!(!allowed("https://api.example.com/v1", "https://api.example.com/"));
        assert!(allowed("https://api.example.com", "https://api.example.com/anything/at/all"));
        assert!(!allowed("https://api.example.com/v1", "https://api.example.com/V1"));
    }

    #[test]
    fn dot_segments_are_resolved_before_matching() {
        assert!(!allowed("https://api.example.com/v1", "https://api.example.com/v1/../admin"));
        assert!(!allowed("https://api.example.com/v1", "https://api.example.com/v1/%2e%2e/admin"));
        assert!(!allowed("https://api.example.com/v1", "https://api.example.com/v1/%2E./admin"));
        assert!(!allowed("https://api.example.com/v1", "https://api.example.com/v1/..%2fadmin"));
        assert!(!allowed("https://api.example.com/v1", "https://api.example.com/v1/x%5C..%5C..%5Cadmin"));
        assert!(allowed("https://api.example.com/v1", "https://api.example.com/v1/a/../b"));
        assert!(allowed("https://api.example.com/v1", "https://api.example.com/x/../v1/./b"));
    }

    #[test]
    fn scheme_host_and_port_must_all_match() {
        assert!(!allowed("https://api.example.com/", "http://api.example.com/"));
        assert!(!allowed("https://api.example.com/", "https://api.example.com:8443/"));
        assert!(allowed("https://api.example.com/", "https://api.example.com:443/"));
        assert!(allowed("http://api.example.com:80/", "http://api.example.com/"));
        assert!(allowed("https://API.Example.COM/", "https://api.example.com/"));
        assert!(!allowed("https://api.example.com/", "https://api.example.com.evil.net/"));
        assert!(!allowed("https://api.example.com/", "https://api.example.com@evil.net/"));
        assert!(!allowed("https://api.example.com/", "https://evil.net/?https://api.example.com/"));
        assert!(allowed("http://127.0.0.1/", "http://2130706433/"), "IPv4 forms are canonicalised");
        assert!(allowed("https://bücher.example/", "https://xn--bcher-kva.example/"), "IDNA");
        assert!(!allowed("https://api.example.com/", "ftp://api.example.com/"));
    }

    #[test]
    fn entries_with_user_information_query_or_fragment_are_refused() {
        for bad in [
            "https://user:pw@api.example.com/",
            "https://user@api.example.com/",
            "https://api.example.com/?a=1",
            "https://api.example.com/#x",
            "ftp://api.example.com/",
            "api.example.com/v1",
            "https://api.example.com/a%2Fb",
        ] {
            assert!(AllowedEndpoint::parse(bad).is_err(), "{bad}");
        }
        let message = AllowedEndpoint::parse("https://u:p@h/").unwrap_err();
        assert!(message.contains("user information"), "{message}");
    }
}
