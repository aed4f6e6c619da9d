//! A Distributed Map's `ItemReader` and `ResultWriter` end to end against
//! ministack's S3 (which `deploy/dev/services.sh` starts; `AWS_ENDPOINT_URL`
//! points at it): the machine writes a CSV and a JSON Lines object, maps
//! over their rows and over a listing, exports the CSV run's results, and
//! reads the manifest and result file back; each object is checked here.

mod support;
use support::unique;

fn exec(machine: &str, input: &serde_json::Value) -> serde_json::Value {
    std::env::var("AWS_ENDPOINT_URL")
        .expect("AWS_ENDPOINT_URL is not set: run deploy/dev/test.sh, which starts ministack and sets it");
    support::exec_aws("item-reader", machine, input)
}

const MACHINE: &str = r#"{"StartAt": "CreateBucket", "States": {
  "CreateBucket": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:createBucket",
    "Parameters": {"Bucket.$": "$.bucket"}, "ResultPath": null, "Next": "PutCsv"},
  "PutCsv": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:putObject",
    "Parameters": {"Bucket.$": "$.bucket", "Key": "in/rows.csv", "Body": "id;name\n1;\"Smith; J\"\n2;Doe\n"},
    "ResultPath": null, "Next": "PutJsonl"},
  "PutJsonl": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:putObject",
    "Parameters": {"Bucket.$": "$.bucket", "Key": "in/events.jsonl", "Body": "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n"},
    "ResultPath": null, "Next": "CsvRows"},
  "CsvRows": {"Type": "Map", "Label": "Rows",
    "ItemReader": {"Resource": "arn:aws:states:::s3:getObject",
      "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW", "CSVDelimiter": "SEMICOLON"},
      "Parameters": {"Bucket.$": "$.bucket", "Key": "in/rows.csv"}},
    "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
      "StartAt": "Shape", "States": {"Shape": {"Type": "Pass", "Parameters": {"who.$": "$.name"}, "End": true}}},
    "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket.$": "$.bucket", "Prefix": "results"}},
    "ResultPath": "$.csv", "Next": "JsonLines"},
  "JsonLines": {"Type": "Map",
    "ItemReader": {"Resource": "arn:aws:states:::s3:getObject",
      "ReaderConfig": {"InputType": "JSONL", "MaxItems": 2},
      "Parameters": {"Bucket.$": "$.bucket", "Key": "in/events.jsonl"}},
    "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
      "StartAt": "Keep", "States": {"Keep": {"Type": "Pass", "End": true}}},
    "ResultPath": "$.jsonl", "Next": "Listing"},
  "Listing": {"Type": "Map",
    "ItemReader": {"Resource": "arn:aws:states:::s3:listObjectsV2", "Parameters": {"Bucket.$": "$.bucket", "Prefix": "in/"}},
    "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
      "StartAt": "Key", "States": {"Key": {"Type": "Pass", "Parameters": {"Key.$": "$.Key", "Size.$": "$.Size", "Modified.$": "$.LastModified", "Etag.$": "$.Etag", "Class.$": "$.StorageClass"}, "End": true}}},
    "ResultPath": "$.listed", "Next": "Manifest"},
  "Manifest": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
    "Parameters": {"Bucket.$": "$.csv.ResultWriterDetails.Bucket", "Key.$": "$.csv.ResultWriterDetails.Key"},
    "ResultSelector": {"json.$": "States.StringToJson($.Body)"}, "ResultPath": "$.manifest", "Next": "Succeeded"},
  "Succeeded": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
    "Parameters": {"Bucket.$": "$.bucket", "Key.$": "$.manifest.json.ResultFiles.SUCCEEDED[0].Key"},
    "ResultSelector": {"json.$": "States.StringToJson($.Body)"}, "ResultPath": "$.succeeded", "Next": "Missing"},
  "Missing": {"Type": "Map",
    "ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "JSON"},
      "Parameters": {"Bucket.$": "$.bucket", "Key": "in/none.json"}},
    "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
      "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}},
    "Catch": [{"ErrorEquals": ["States.ItemReaderFailed"], "ResultPath": "$.missing", "Next": "Done"}],
    "ResultPath": null, "Next": "Done"},
  "Done": {"Type": "Succeed"}
}}"#;

#[test]
fn a_distributed_map_reads_csv_jsonl_and_listings_from_s3_and_writes_its_results_there() {
    let bucket = format!("items-{}", unique());
    let result = exec(MACHINE, &serde_json::json!({"bucket": bucket}));
    assert_eq!(result["status"], "SUCCEEDED", "{result:#}");
    let out = &result["output"];

    // CSV with a delimiter inside quotes; the run exported to S3.
    let csv = &out["csv"];
    let arn = csv["MapRunArn"].as_str().unwrap_or_default();
    assert!(arn.starts_with("arn:aws:states:") && arn.contains(":mapRun:") && arn.contains("/Rows:"), "{out:#}");
    let run_id = arn.rsplit(':').next().unwrap_or_default();
    let manifest_key = format!("results/{run_id}/manifest.json");
    assert_eq!(csv["ResultWriterDetails"], serde_json::json!({"Bucket": bucket, "Key": manifest_key}), "{out:#}");

    // The manifest, as AWS writes it.
    let manifest = &out["manifest"]["json"];
    assert_eq!(manifest["DestinationBucket"], bucket.as_str(), "{out:#}");
    assert_eq!(manifest["MapRunArn"], arn, "{out:#}");
    assert_eq!(manifest["ResultFiles"]["FAILED"], serde_json::json!([]), "{out:#}");
    assert_eq!(manifest["ResultFiles"]["PENDING"], serde_json::json!([]), "{out:#}");
    let files = manifest["ResultFiles"]["SUCCEEDED"].as_array().cloned().unwrap_or_default();
    assert_eq!(files.len(), 1, "{out:#}");
    assert_eq!(files[0]["Key"], format!("results/{run_id}/SUCCEEDED_0.json"), "{out:#}");
    assert!(files[0]["Size"].as_u64().is_some_and(|s| s > 0), "{out:#}");

    // SUCCEEDED_0.json: one child execution per row, input and output as JSON text.
    let children = out["succeeded"]["json"].as_array().cloned().unwrap_or_default();
    assert_eq!(children.len(), 2, "{out:#}");
    assert_eq!(children[0]["Input"], r#"{"id":"1","name":"Smith; J"}"#, "{out:#}");
    assert_eq!(children[0]["Output"], r#"{"who":"Smith; J"}"#, "{out:#}");
    assert_eq!(children[1]["Output"], r#"{"who":"Doe"}"#, "{out:#}");
    for c in &children {
        assert_eq!(c["Status"], "SUCCEEDED", "{c:#}");
        assert!(c["ExecutionArn"].as_str().is_some_and(|a| a.contains(":execution:") && a.contains("/Rows:")), "{c:#}");
    }

    // JSON Lines, MaxItems 2.
    assert_eq!(out["jsonl"], serde_json::json!([{"n": 1}, {"n": 2}]), "{out:#}");

    // The listing: keys in order, sizes, LastModified in epoch seconds.
    let listed = out["listed"].as_array().cloned().unwrap_or_default();
    let keys: Vec<&str> = listed.iter().filter_map(|o| o["Key"].as_str()).collect();
    assert_eq!(keys, ["in/events.jsonl", "in/rows.csv"], "{out:#}");
    assert_eq!(listed[0]["Size"], 24, "{out:#}");
    assert!(listed[0]["Modified"].as_i64().is_some_and(|t| t > 1_600_000_000), "{out:#}");
    assert!(listed[0]["Etag"].as_str().is_some_and(|e| e.len() > 2), "{out:#}");
    assert_eq!(listed[0]["Class"], "STANDARD", "{out:#}");

    // A missing object: States.ItemReaderFailed naming S3's error.
    assert_eq!(out["missing"]["Error"], "States.ItemReaderFailed", "{out:#}");
    assert!(out["missing"]["Cause"].as_str().is_some_and(|c| c.contains("S3.NoSuchKeyException")), "{out:#}");
}

/// Put `body` at `bucket/key` with the AWS CLI that `deploy/dev/services.sh`
/// installs (creating the bucket), against the same ministack.
fn aws_cli_put(bucket: &str, key: &str, body: &[u8]) {
    let aws = support::repo().join("target/services/clients-venv/bin/aws");
    let dir = support::work_dir("item-reader-put");
    let file = dir.join("body");
    std::fs::write(&file, body).expect("body");
    for args in [
        vec!["s3api", "create-bucket", "--bucket", bucket],
        vec!["s3api", "put-object", "--bucket", bucket, "--key", key, "--body", file.to_str().unwrap_or_default()],
    ] {
        let out = std::process::Command::new(&aws).args(&args).output().expect("the AWS CLI (deploy/dev/services.sh)");
        assert!(out.status.success(), "aws {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn an_item_reader_reads_an_object_past_the_four_mib_answer_budget() {
    std::env::var("AWS_ENDPOINT_URL")
        .expect("AWS_ENDPOINT_URL is not set: run deploy/dev/test.sh, which starts ministack and sets it");
    let bucket = format!("big-{}", unique());
    // 6 MiB of JSON Lines: over a service answer's 4 MiB budget, under the
    // reader's 64 MiB one.
    let pad = "x".repeat(100);
    let mut body = String::new();
    let mut n = 0;
    while body.len() < 6 * 1024 * 1024 {
        body.push_str(&format!("{{\"n\":{n},\"pad\":\"{pad}\"}}\n"));
        n += 1;
    }
    aws_cli_put(&bucket, "big.jsonl", body.as_bytes());
    let machine = r#"{"StartAt": "Big", "States": {"Big": {"Type": "Map",
      "ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "JSONL"},
        "Parameters": {"Bucket.$": "$.bucket", "Key": "big.jsonl"}},
      "ItemBatcher": {"MaxItemsPerBatch": 1000},
      "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
        "StartAt": "Count", "States": {"Count": {"Type": "Pass",
          "Parameters": {"items.$": "States.ArrayLength($.Items)", "first.$": "$.Items[0].n"},
          "End": true}}},
      "End": true}}}"#;
    let result = exec(machine, &serde_json::json!({"bucket": bucket}));
    assert_eq!(result["status"], "SUCCEEDED", "{result:#}");
    // Batches of 1,000 in order: every line read, none twice.
    let batches = result["output"].as_array().cloned().unwrap_or_default();
    let counted: u64 = batches.iter().filter_map(|b| b["items"].as_u64()).sum();
    assert_eq!(counted, n as u64, "{:#}", result["status"]);
    let firsts: Vec<u64> = batches.iter().filter_map(|b| b["first"].as_u64()).collect();
    let expected: Vec<u64> = (0..n as u64).step_by(1000).collect();
    assert_eq!(firsts, expected);
}

#[test]
fn a_manifest_reader_reads_an_s3_inventory_of_gzip_csv_files() {
    use std::io::Write;
    std::env::var("AWS_ENDPOINT_URL")
        .expect("AWS_ENDPOINT_URL is not set: run deploy/dev/test.sh, which starts ministack and sets it");
    let bucket = format!("inventory-{}", unique());
    // As S3 Inventory writes them: gzip-compressed CSV files without a header
    // row, and a manifest naming them with their schema.
    let gz = |rows: &str| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(rows.as_bytes()).expect("in memory");
        e.finish().expect("in memory")
    };
    aws_cli_put(
        &bucket,
        "inv/data/1.csv.gz",
        &gz("\"src\",\"photos/a.jpg\",\"120\"\n\"src\",\"photos/b.jpg\",\"340\"\n"),
    );
    aws_cli_put(&bucket, "inv/data/2.csv.gz", &gz("\"src\",\"photos/c.jpg\",\"7\"\n"));
    let manifest = serde_json::json!({
        "sourceBucket": "src", "destinationBucket": format!("arn:aws:s3:::{bucket}"), "version": "2016-11-30",
        "fileFormat": "CSV", "fileSchema": "Bucket, Key, Size",
        "files": [{"key": "inv/data/1.csv.gz", "size": 60, "MD5checksum": "x"},
                  {"key": "inv/data/2.csv.gz", "size": 40, "MD5checksum": "y"}]
    });
    aws_cli_put(&bucket, "inv/manifest.json", manifest.to_string().as_bytes());
    let machine = r#"{"StartAt": "Each", "States": {"Each": {"Type": "Map",
      "ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "MANIFEST"},
        "Parameters": {"Bucket.$": "$.bucket", "Key": "inv/manifest.json"}},
      "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
        "StartAt": "Keep", "States": {"Keep": {"Type": "Pass", "End": true}}},
      "End": true}}}"#;
    let result = exec(machine, &serde_json::json!({"bucket": bucket}));
    assert_eq!(result["status"], "SUCCEEDED", "{result:#}");
    assert_eq!(
        result["output"],
        serde_json::json!([
            {"Bucket": "src", "Key": "photos/a.jpg", "Size": "120"},
            {"Bucket": "src", "Key": "photos/b.jpg", "Size": "340"},
            {"Bucket": "src", "Key": "photos/c.jpg", "Size": "7"}
        ]),
        "{result:#}"
    );
}
