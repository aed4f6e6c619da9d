//! The `SdkHttpMetadata` / `SdkResponseMetadata` fields Step Functions adds
//! to every AWS SDK integration's result.

use serde_json::{Map, Value as Json, json};

/// A result object holding only the metadata; the caller adds the
/// response's own fields.
pub fn with_metadata(request_id: &str, content_type: &str) -> Map<String, Json> {
    let mut out = Map::new();
    out.insert(
        "SdkHttpMetadata".into(),
        json!({
            "AllHttpHeaders": { "x-amzn-RequestId": [request_id], "Content-Type": [content_type] },
            "HttpHeaders": { "x-amzn-RequestId": request_id, "Content-Type": content_type },
            "HttpStatusCode": 200,
        }),
    );
    out.insert("SdkResponseMetadata".into(), json!({ "RequestId": request_id }));
    out
}
