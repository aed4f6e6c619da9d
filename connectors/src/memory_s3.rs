//! An in-memory S3 bucket set as the in-process driver's `Effects`: it
//! answers a Distributed Map's `ItemReader` (`s3:getObject`,
//! `s3:listObjectsV2`) and `ResultWriter` (`s3:putObject`) calls from the
//! objects it holds, and hands every other task to the effects it wraps.
//! The conformance runner serves a case's `s3_objects` with it.

use expressway_engine::{Effects, TaskCall, TaskOutcome, Value};
use std::collections::BTreeMap;

/// Objects by bucket and key (ordered, as S3 lists them).
pub struct MemoryS3<E> {
    objects: BTreeMap<(String, String), String>,
    inner: E,
}

impl<E: Effects> MemoryS3<E> {
    pub fn new(inner: E) -> MemoryS3<E> {
        MemoryS3 { objects: BTreeMap::new(), inner }
    }

    pub fn put(&mut self, bucket: &str, key: &str, body: &str) {
        self.objects.insert((bucket.to_string(), key.to_string()), body.to_string());
    }

    pub fn get(&self, bucket: &str, key: &str) -> Option<&str> {
        self.objects.get(&(bucket.to_string(), key.to_string())).map(String::as_str)
    }

    /// The keys a bucket holds, in order.
    pub fn keys(&self, bucket: &str) -> Vec<&str> {
        self.objects.keys().filter(|(b, _)| b == bucket).map(|(_, k)| k.as_str()).collect()
    }

    fn get_object(&self, input: &Value) -> TaskOutcome {
        let (bucket, key) = (text(input, "Bucket"), text(input, "Key"));
        match self.objects.get(&(bucket.to_string(), key.to_string())) {
            Some(body) => TaskOutcome::Succeeded(object(vec![("Body", Value::from(body.as_str()))])),
            None => not_found(&format!("The specified key does not exist: s3://{bucket}/{key}")),
        }
    }

    fn list_objects(&self, input: &Value) -> TaskOutcome {
        let (bucket, prefix) = (text(input, "Bucket"), text(input, "Prefix"));
        let contents = self
            .objects
            .iter()
            .filter(|((b, k), _)| b == bucket && k.starts_with(prefix))
            .map(|((_, k), body)| {
                object(vec![
                    ("Key", Value::from(k.as_str())),
                    ("LastModified", Value::from("2024-01-01T00:00:00Z")),
                    ("ETag", Value::from(format!("\"{:032x}\"", fnv(body.as_bytes())))),
                    ("Size", Value::from(body.len())),
                    ("StorageClass", Value::from("STANDARD")),
                ])
            })
            .collect();
        TaskOutcome::Succeeded(object(vec![
            ("Contents", Value::array(contents)),
            ("IsTruncated", Value::Bool(false)),
            ("Name", Value::from(bucket)),
        ]))
    }

    fn put_object(&mut self, input: &Value) -> TaskOutcome {
        let body = match input.get("Body") {
            Some(Value::String(s)) => s.to_string(),
            Some(other) => other.to_json(),
            None => String::new(),
        };
        self.put(text(input, "Bucket"), text(input, "Key"), &body);
        TaskOutcome::Succeeded(object(vec![("ETag", Value::from(format!("\"{:032x}\"", fnv(body.as_bytes()))))]))
    }
}

impl<E: Effects> Effects for MemoryS3<E> {
    fn invoke(&mut self, call: &TaskCall) -> TaskOutcome {
        match call.resource.rsplit_once(":states:::s3:").map(|(_, action)| action) {
            Some("getObject") => self.get_object(&call.input),
            Some("listObjectsV2") => self.list_objects(&call.input),
            Some("putObject") => self.put_object(&call.input),
            _ => self.inner.invoke(call),
        }
    }

    fn sleep(&mut self, millis: u64) {
        self.inner.sleep(millis)
    }
}

fn text<'a>(input: &'a Value, field: &str) -> &'a str {
    input.get(field).and_then(Value::as_str).unwrap_or("")
}

fn object(fields: Vec<(&str, Value)>) -> Value {
    let mut o = expressway_engine::value::Object::new();
    for (k, v) in fields {
        o.insert(k, v);
    }
    Value::object(o)
}

fn not_found(cause: &str) -> TaskOutcome {
    TaskOutcome::Failed { error: "S3.NoSuchKeyException".into(), cause: Some(cause.to_string()) }
}

/// A stand-in ETag: stable per body (S3's is an MD5; nothing here checks it).
fn fnv(bytes: &[u8]) -> u128 {
    bytes.iter().fold(0x6c62272e07bb014262b821756295c58d_u128, |h, b| {
        (h ^ u128::from(*b)).wrapping_mul(0x0000000001000000000000000000013B)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use expressway_engine::driver::Offline;

    fn call(action: &str, input: &str) -> TaskCall {
        TaskCall {
            state_name: "Map".into(),
            resource: format!("arn:aws:states:::s3:{action}"),
            input: expressway_engine::value::from_str(input).unwrap(),
            timeout_seconds: None,
            heartbeat_seconds: None,
        }
    }

    #[test]
    fn serves_reads_listings_and_writes_and_passes_other_tasks_on() {
        let mut s3 = MemoryS3::new(Offline);
        s3.put("b", "in/a.csv", "x\n1\n");
        s3.put("b", "other", "");
        let got = s3.invoke(&call("getObject", r#"{"Bucket":"b","Key":"in/a.csv"}"#));
        assert_eq!(got, TaskOutcome::Succeeded(expressway_engine::value::from_str(r#"{"Body":"x\n1\n"}"#).unwrap()));
        let missing = s3.invoke(&call("getObject", r#"{"Bucket":"b","Key":"nope"}"#));
        assert!(matches!(missing, TaskOutcome::Failed { ref error, .. } if error == "S3.NoSuchKeyException"));
        let TaskOutcome::Succeeded(listed) = s3.invoke(&call("listObjectsV2", r#"{"Bucket":"b","Prefix":"in/"}"#))
        else {
            panic!("listing failed");
        };
        assert_eq!(listed.get("Contents").and_then(|c| c.as_array()).map(Vec::len), Some(1));
        s3.invoke(&call("putObject", r#"{"Bucket":"out","Key":"k","Body":"text"}"#));
        assert_eq!(s3.get("out", "k"), Some("text"));
        assert!(matches!(s3.invoke(&call("nothing", "{}")), TaskOutcome::Failed { .. }));
        let mut lambda = call("x", "{}");
        lambda.resource = "arn:aws:states:::lambda:invoke".into();
        assert!(
            matches!(s3.invoke(&lambda), TaskOutcome::Failed { ref cause, .. } if cause.as_deref().is_some_and(|c| c.contains("lambda:invoke")))
        );
    }
}
