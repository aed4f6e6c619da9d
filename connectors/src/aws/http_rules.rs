//! What an HTTP task may send, as AWS's HTTP Task documentation states it:
//! the methods it supports and the request headers it refuses (the task
//! then fails with `States.Runtime`), plus the endpoint URL's own form.

use url::Url;

/// The methods an HTTP task supports.
pub const METHODS: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"];

/// Request headers AWS refuses in an HTTP task: the connection is the
/// service's to manage (`Host`, hop-by-hop and framing headers, caching and
/// conditional headers, proxy and forwarding headers).
const REFUSED_HEADERS: [&str; 31] = [
    "a-im",
    "accept-charset",
    "accept-datetime",
    "accept-encoding",
    "cache-control",
    "connection",
    "content-encoding",
    "content-md5",
    "date",
    "expect",
    "forwarded",
    "from",
    "host",
    "http2-settings",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "max-forwards",
    "origin",
    "pragma",
    "proxy-authorization",
    "referer",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "via",
    "warning",
];

/// Refused here though AWS's list does not name them: hyper frames the body
/// itself, so a caller's `Content-Length` or `Keep-Alive` would contradict it.
const REFUSED_FRAMING_HEADERS: [&str; 3] = ["content-length", "keep-alive", "proxy-connection"];

/// Prefixes AWS refuses.
const REFUSED_HEADER_PREFIXES: [&str; 3] = ["x-forwarded-", "x-amz-", "x-amzn-"];

pub fn header_is_refused(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    REFUSED_HEADERS.contains(&name.as_str())
        || REFUSED_FRAMING_HEADERS.contains(&name.as_str())
        || REFUSED_HEADER_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// `ApiEndpoint` parsed (dot-segments resolved, host normalised) as it will
/// be requested; a URL with user information is refused, since credentials
/// go in `Headers` and `user@` is how a host is disguised.
pub fn parse_endpoint(text: &str) -> Result<Url, String> {
    let mut url = Url::parse(text).map_err(|e| format!("ApiEndpoint '{text}' is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("ApiEndpoint '{text}' must be an http or https URL"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "ApiEndpoint '{text}' must not contain user information (user:password@); put credentials in Headers"
        ));
    }
    url.set_fragment(None);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_headers_match_any_case_and_prefixes() {
        for name in ["Host", "HOST", "Transfer-Encoding", "X-Forwarded-For", "x-amz-date", "X-Amzn-Trace-Id"] {
            assert!(header_is_refused(name), "{name}");
        }
        for name in ["Authorization", "Content-Type", "X-Api-Key", "Accept", "X-Amazing"] {
            assert!(!header_is_refused(name), "{name}");
        }
    }

    #[test]
    fn endpoints_are_normalised_and_user_information_refused() {
        let url = parse_endpoint("HTTP://API.example.com:80/v1/x/../y#frag").expect("url");
        assert_eq!(url.as_str(), "http://api.example.com/v1/y");
        assert!(parse_endpoint("http://api.example.com@evil.net/").unwrap_err().contains("user information"));
        assert!(parse_endpoint("ftp://api.example.com/").is_err());
        assert!(parse_endpoint("/relative").is_err());
    }
}
