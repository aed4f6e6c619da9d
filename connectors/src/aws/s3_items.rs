//! The S3 calls of a Distributed Map's `ItemReader` and `ResultWriter`
//! (`arn:aws:states:::s3:getObject`, `s3:listObjectsV2`, `s3:putObject`),
//! made through the model-driven `aws-sdk` client. The engine reads the
//! answers as the `aws-sdk:s3:*` tasks return them (`Body` as text,
//! `Contents` with `ETag`, `Key`, `LastModified`, `Size`, `StorageClass`).
//! An object read is bounded by [`MAX_ITEM_OBJECT_BYTES`], every other
//! answer by the client's `MAX_RESPONSE_BYTES`.

use expressway_aws_sdk::{AwsSdkClient, Call};
use expressway_engine::{TaskOutcome, Value};

/// The largest object an `ItemReader` reads (CSV, JSON, JSONL, a
/// manifest). It is held in memory while its items are parsed, so it is
/// bounded below the engine's own [`expressway_engine::items::MAX_OBJECT_BYTES`]:
/// a record can name any object.
pub const MAX_ITEM_OBJECT_BYTES: usize = 64 * 1024 * 1024;

/// Object reads at once, process-wide: each may hold its object several
/// times over (the answer, its text, the parsed items), so this and
/// [`MAX_ITEM_OBJECT_BYTES`] bound their memory together (~1 GiB at worst),
/// however many executions in flight read objects.
pub const CONCURRENT_OBJECT_READS: usize = 4;

static OBJECT_READS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(CONCURRENT_OBJECT_READS);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    GetObject,
    ListObjectsV2,
    PutObject,
}

impl Action {
    /// The action of `arn:aws:states:::s3:<action>`, the three a Map uses.
    pub fn parse(action: &str) -> Option<Action> {
        match action {
            "getObject" => Some(Action::GetObject),
            "listObjectsV2" => Some(Action::ListObjectsV2),
            "putObject" => Some(Action::PutObject),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Action::GetObject => "s3:getObject",
            Action::ListObjectsV2 => "s3:listObjectsV2",
            Action::PutObject => "s3:putObject",
        }
    }

    fn sdk_action(self) -> &'static str {
        match self {
            Action::GetObject => "getObject",
            Action::ListObjectsV2 => "listObjectsV2",
            Action::PutObject => "putObject",
        }
    }
}

/// Only the members each call needs pass on: the reader's `Parameters`
/// may carry others (AWS ignores them), the model-driven request would not.
const MEMBERS: &[(Action, &[&str])] = &[
    (Action::GetObject, &["Bucket", "Key", "VersionId", "ExpectedBucketOwner"]),
    (
        Action::ListObjectsV2,
        &["Bucket", "Prefix", "Delimiter", "StartAfter", "ContinuationToken", "ExpectedBucketOwner"],
    ),
    (Action::PutObject, &["Bucket", "Key", "Body"]),
];

fn request(action: Action, input: &Value) -> serde_json::Value {
    let allowed = MEMBERS.iter().find(|(a, _)| *a == action).map(|(_, m)| *m).unwrap_or(&[]);
    let mut out = serde_json::Map::new();
    if let Some(obj) = input.as_object() {
        for (k, v) in obj.iter() {
            if allowed.contains(&k.as_ref()) {
                out.insert(k.to_string(), serde_json::Value::from(v));
            }
        }
    }
    serde_json::Value::Object(out)
}

/// Run one of a Map's S3 calls.
pub async fn call(client: Option<&AwsSdkClient>, action: Action, input: &Value) -> TaskOutcome {
    let Some(client) = client else {
        return TaskOutcome::Failed {
            error: "States.Runtime".into(),
            cause: Some("the AWS SDK client could not be built (see the log)".into()),
        };
    };
    let sdk_call = match Call::resolve("s3", action.sdk_action()) {
        Ok(c) => c,
        Err(e) => return TaskOutcome::Failed { error: "States.Runtime".into(), cause: Some(e) },
    };
    let budget = match action {
        Action::GetObject => MAX_ITEM_OBJECT_BYTES,
        Action::ListObjectsV2 | Action::PutObject => expressway_aws_sdk::client::MAX_RESPONSE_BYTES,
    };
    // Never closed, so acquiring fails only if it were.
    let _reading = match action {
        Action::GetObject => OBJECT_READS.acquire().await.ok(),
        Action::ListObjectsV2 | Action::PutObject => None,
    };
    let gzipped = action == Action::GetObject
        && input.as_object().and_then(|o| o.get("Key")).and_then(Value::as_str).is_some_and(|k| k.ends_with(".gz"));
    if gzipped {
        return match client.call_with_raw_answer(&sdk_call, &request(action, input), budget).await {
            Ok((mut out, answer)) => match gunzip(&answer.body, MAX_ITEM_OBJECT_BYTES) {
                Ok(text) => {
                    if let Some(o) = out.as_object_mut() {
                        o.insert("Body".into(), serde_json::Value::String(text));
                    }
                    TaskOutcome::Succeeded(Value::from(out))
                }
                Err(cause) => TaskOutcome::Failed { error: "States.DataLimitExceeded".into(), cause: Some(cause) },
            },
            Err(f) => TaskOutcome::Failed { error: f.error, cause: Some(f.cause) },
        };
    }
    match client.call_within(&sdk_call, &request(action, input), budget).await {
        Ok(out) => TaskOutcome::Succeeded(Value::from(out)),
        Err(f) => TaskOutcome::Failed { error: f.error, cause: Some(f.cause) },
    }
}

/// An object whose key ends in `.gz` (S3 Inventory writes its CSV files so),
/// decompressed as text, at most `limit` bytes of it.
fn gunzip(bytes: &[u8], limit: usize) -> Result<String, String> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("The object's key ends in .gz but it is not gzip data: {e}"))?;
    if out.len() > limit {
        return Err(format!("The object decompresses to more than the {limit} bytes an ItemReader reads."));
    }
    String::from_utf8(out).map_err(|_| "The decompressed object is not UTF-8 text.".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_objects_are_read_as_their_text_within_the_limit() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"\"b\",\"k1\"\n\"b\",\"k2\"\n").expect("in memory");
        let bytes = gz.finish().expect("in memory");
        assert_eq!(gunzip(&bytes, 1024).as_deref(), Ok("\"b\",\"k1\"\n\"b\",\"k2\"\n"));
        assert!(gunzip(&bytes, 8).is_err_and(|e| e.contains("more than the 8 bytes")));
        assert!(gunzip(b"plain,csv\n", 1024).is_err_and(|e| e.contains("not gzip")));
        // A bomb stops at the limit: 64 MiB of zeros compress to ~64 KiB.
        let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        bomb.write_all(&vec![b'0'; 64 << 20]).expect("in memory");
        assert!(gunzip(&bomb.finish().expect("in memory"), 1 << 20).is_err_and(|e| e.contains("decompresses to more")));
    }

    #[test]
    fn only_the_members_of_each_call_pass_on() {
        let input = expressway_engine::value::from_str(r#"{"Bucket":"b","Key":"k","MaxItems":3,"Body":"x"}"#).unwrap();
        assert_eq!(request(Action::GetObject, &input), serde_json::json!({"Bucket": "b", "Key": "k"}));
        assert_eq!(request(Action::PutObject, &input), serde_json::json!({"Bucket": "b", "Key": "k", "Body": "x"}));
        assert_eq!(request(Action::ListObjectsV2, &input), serde_json::json!({"Bucket": "b"}));
        assert_eq!(Action::parse("listObjectsV2"), Some(Action::ListObjectsV2));
        assert_eq!(Action::parse("deleteObject"), None);
    }
}
