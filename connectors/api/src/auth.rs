//! Who may call the API. Without configured credentials any key is taken
//! (as local tools do); the configuration only allows that on loopback. With
//! credentials, a request's SigV4 signature is computed again with the
//! `aws-sigv4` library over exactly the headers the client signed and must
//! match, else AWS's errors: `MissingAuthenticationTokenException`,
//! `UnrecognizedClientException` (another key), `InvalidSignatureException`.

use crate::wire::{ApiError, ErrorKind};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use expressway_config::api::ApiCredentials;
use hyper::HeaderMap;
use std::time::{Duration, SystemTime};

/// How far a request's `X-Amz-Date` may be from our clock (AWS: 5 minutes).
const MAX_SKEW: Duration = Duration::from_secs(300);

struct Authorization<'a> {
    key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse(header: &str) -> Option<Authorization<'_>> {
    let rest = header.strip_prefix("AWS4-HMAC-SHA256")?.trim_start();
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => signature = Some(v),
            _ => {}
        }
    }
    let mut scope = credential?.split('/');
    let (key_id, date, region, service) = (scope.next()?, scope.next()?, scope.next()?, scope.next()?);
    Some(Authorization {
        key_id,
        date,
        region,
        service,
        signed_headers: signed?.split(';').collect(),
        signature: signature?,
    })
}

fn amz_date(text: &str) -> Option<SystemTime> {
    let t = chrono_free_parse(text)?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(t))
}

/// `YYYYMMDD'T'HHMMSS'Z'` to seconds since the epoch.
fn chrono_free_parse(t: &str) -> Option<u64> {
    let b = t.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()
}

/// What can be checked of a request's signature before its body is read:
/// an authorization for `credentials`' key, dated within the allowed skew.
/// A client without them is refused before it can make the server hold a
/// body.
pub fn check_head(credentials: &ApiCredentials, headers: &HeaderMap) -> Result<(), ApiError> {
    signed_by(credentials, headers).map(|_| ())
}

/// The request's authorization, if it names `credentials`' key and is
/// dated within the allowed skew, with its time.
fn signed_by<'h>(
    credentials: &ApiCredentials,
    headers: &'h HeaderMap,
) -> Result<(Authorization<'h>, SystemTime), ApiError> {
    let missing = || ApiError::new(ErrorKind::MissingAuthenticationToken, "Missing Authentication Token");
    let header = headers.get("authorization").and_then(|v| v.to_str().ok()).ok_or_else(missing)?;
    let auth = parse(header).ok_or_else(|| {
        ApiError::new(
            ErrorKind::InvalidSignatureException,
            "The request signature is not a valid AWS4-HMAC-SHA256 authorization",
        )
    })?;
    if auth.key_id != credentials.access_key_id {
        return Err(ApiError::new(
            ErrorKind::UnrecognizedClientException,
            "The security token included in the request is invalid.",
        ));
    }
    let date_text = headers.get("x-amz-date").and_then(|v| v.to_str().ok()).unwrap_or("");
    let time = amz_date(date_text)
        .filter(|_| date_text.starts_with(auth.date))
        .ok_or_else(|| ApiError::new(ErrorKind::InvalidSignatureException, "The request has no valid X-Amz-Date"))?;
    let now = SystemTime::now();
    let skew = now.duration_since(time).or_else(|e| Ok::<_, ()>(e.duration())).unwrap_or_default();
    if skew > MAX_SKEW {
        return Err(ApiError::new(
            ErrorKind::InvalidSignatureException,
            format!("Signature expired: {date_text} is more than 5 minutes from the server's time"),
        ));
    }
    Ok((auth, time))
}

/// Check the request's signature against `credentials`.
pub fn check(
    credentials: &ApiCredentials,
    method: &str,
    uri: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), ApiError> {
    let (auth, time) = signed_by(credentials, headers)?;
    let mut signed = Vec::with_capacity(auth.signed_headers.len());
    for name in &auth.signed_headers {
        if *name == "authorization" {
            continue;
        }
        let value = headers.get(*name).and_then(|v| v.to_str().ok()).ok_or_else(|| {
            ApiError::new(ErrorKind::InvalidSignatureException, format!("The signed header '{name}' is missing"))
        })?;
        signed.push((*name, value));
    }
    let identity =
        Credentials::new(&credentials.access_key_id, &credentials.secret_access_key, None, None, "api").into();
    let mut settings = SigningSettings::default();
    settings.excluded_headers = None;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(auth.region)
        .name(auth.service)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| ApiError::new(ErrorKind::InvalidSignatureException, e.to_string()))?
        .into();
    let invalid = |e: String| ApiError::new(ErrorKind::InvalidSignatureException, e);
    let request = SignableRequest::new(method, uri, signed.into_iter(), SignableBody::Bytes(body))
        .map_err(|e| invalid(e.to_string()))?;
    let (_, expected) = sign(request, &params).map_err(|e| invalid(e.to_string()))?.into_parts();
    if !constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        return Err(ApiError::new(
            ErrorKind::InvalidSignatureException,
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret \
             Access Key and signing method. Consult the service documentation for details.",
        ));
    }
    Ok(())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates_read_as_utc_seconds() {
        assert_eq!(chrono_free_parse("19700101T000000Z"), Some(0));
        assert_eq!(chrono_free_parse("20261130T120000Z"), Some(1_796_040_000));
        assert_eq!(chrono_free_parse("2026-11-30T12:00Z"), None);
        assert_eq!(chrono_free_parse("20261330T120000Z"), None);
    }

    #[test]
    fn authorization_headers_parse_into_their_scope() {
        let a = parse("AWS4-HMAC-SHA256 Credential=AKID/20261130/us-east-1/states/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=abc").unwrap();
        assert_eq!(
            (a.key_id, a.date, a.region, a.service, a.signature),
            ("AKID", "20261130", "us-east-1", "states", "abc")
        );
        assert_eq!(a.signed_headers, ["content-type", "host", "x-amz-date"]);
        assert!(parse("Basic xyz").is_none());
    }

    /// What `check_head` refuses is refused before the server reads a body.
    #[test]
    fn the_key_and_the_date_are_checked_from_the_head_alone() {
        let credentials = ApiCredentials { access_key_id: "AKID".into(), secret_access_key: "secret".into() };
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        let (days, secs) = (now / 86_400, now % 86_400);
        // Days since the epoch to a civil date (Howard Hinnant's algorithm).
        let z = days as i64 + 719_468;
        let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let (d, m) = (doy - (153 * mp + 2) / 5 + 1, if mp < 10 { mp + 3 } else { mp - 9 });
        let y = yoe + era * 400 + i64::from(m <= 2);
        let date = format!("{y:04}{m:02}{d:02}");
        let stamp = format!("{date}T{:02}{:02}{:02}Z", secs / 3600, secs / 60 % 60, secs % 60);
        assert_eq!(chrono_free_parse(&stamp), Some(now), "{stamp}");
        let head = |key: &str, stamp: &str| {
            let mut h = HeaderMap::new();
            let auth = format!(
                "AWS4-HMAC-SHA256 Credential={key}/{date}/us-east-1/states/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"
            );
            h.insert("authorization", auth.parse().unwrap());
            h.insert("x-amz-date", stamp.parse().unwrap());
            h
        };
        assert!(check_head(&credentials, &head("AKID", &stamp)).is_ok(), "the signature itself needs the body");
        let other = check_head(&credentials, &head("OTHER", &stamp)).unwrap_err();
        assert_eq!(other.kind, ErrorKind::UnrecognizedClientException);
        let old = check_head(&credentials, &head("AKID", &format!("{date}T000000Z")));
        if secs > 600 {
            assert_eq!(old.unwrap_err().kind, ErrorKind::InvalidSignatureException, "dated too long ago");
        }
        let none = check_head(&credentials, &HeaderMap::new()).unwrap_err();
        assert_eq!(none.kind, ErrorKind::MissingAuthenticationToken);
        assert!(
            check(&credentials, "POST", "http://localhost/", &head("AKID", &stamp), b"{}").is_err(),
            "bad signature"
        );
    }
}
