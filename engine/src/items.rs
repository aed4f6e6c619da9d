//! A Distributed Map's items from what its `ItemReader` read from S3, as
//! Step Functions makes them: a JSON array's elements, JSON Lines, CSV rows
//! as objects of strings keyed by their headers, an S3 inventory's rows, or
//! `listObjectsV2`'s objects. Pure: the driver performs the S3 calls and
//! hands their answers here. Every cause is the one AWS raises with
//! `States.ItemReaderFailed` where the shared cases recorded it.

use crate::asl::InputType;
use crate::value::{Object, Value};

/// Items one reader may produce: each becomes a child execution held in
/// memory, so a bound keeps an object of tiny rows from exhausting it.
pub const MAX_ITEMS: usize = 100_000;

/// The longest CSV row or JSON line read: an item is a child's input,
/// which AWS bounds at 256 KiB.
pub const MAX_LINE_BYTES: usize = crate::bounds::MAX_PAYLOAD_BYTES;

/// The largest object body parsed; the driver caps what it reads too.
pub const MAX_OBJECT_BYTES: usize = 256 * 1024 * 1024;

/// How an object's text becomes items.
#[derive(Debug, Clone, Copy)]
pub struct Format<'a> {
    pub input_type: InputType,
    /// `CSVHeaders` when given; else the first row holds them.
    pub csv_headers: Option<&'a [String]>,
    pub csv_delimiter: u8,
}

/// The items of one S3 object's text, at most `limit` of them (`0`: up to
/// [`MAX_ITEMS`]). MANIFEST objects are read by [`manifest_files`].
pub fn from_object(body: &str, format: Format<'_>, limit: usize) -> Result<Vec<Value>, String> {
    if body.len() > MAX_OBJECT_BYTES {
        return Err(format!("The object is larger than the {MAX_OBJECT_BYTES} bytes an ItemReader reads."));
    }
    let limit = effective_limit(limit);
    match format.input_type {
        InputType::Json => json_array(body, limit),
        InputType::Jsonl => json_lines(body, limit),
        InputType::Csv | InputType::Manifest => csv_items(body, format.csv_headers, format.csv_delimiter, limit),
        InputType::Parquet => Err("Expressway does not read Parquet objects (InputType PARQUET).".into()),
    }
}

/// `MaxItems` as a count of items to read: 0 stands for no limit.
pub fn effective_limit(max_items: usize) -> usize {
    if max_items == 0 { MAX_ITEMS + 1 } else { max_items.min(MAX_ITEMS + 1) }
}

fn too_many() -> String {
    format!("The ItemReader read more than the {MAX_ITEMS} items one Map run may hold.")
}

fn json_array(body: &str, limit: usize) -> Result<Vec<Value>, String> {
    let v = crate::value::from_str(body).map_err(|e| format!("The object is not valid JSON: {e}"))?;
    let Value::Array(items) = v else {
        return Err("Attempting to map over non-iterable node.".into());
    };
    let items: Vec<Value> = items.iter().take(limit).cloned().collect();
    if items.len() > MAX_ITEMS {
        return Err(too_many());
    }
    Ok(items)
}

fn json_lines(body: &str, limit: usize) -> Result<Vec<Value>, String> {
    let mut items = Vec::new();
    for (n, line) in body.lines().enumerate() {
        if items.len() >= limit {
            break;
        }
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line.len() > MAX_LINE_BYTES {
            return Err(format!("Line {} is longer than {MAX_LINE_BYTES} bytes.", n + 1));
        }
        let v = crate::value::from_str(line).map_err(|e| format!("Line {} is not valid JSON: {e}", n + 1))?;
        items.push(v);
    }
    if items.len() > MAX_ITEMS {
        return Err(too_many());
    }
    Ok(items)
}

/// CSV rows as objects: each field a string under its column's header;
/// fields beyond the headers are dropped and missing ones are `""`.
fn csv_items(body: &str, given: Option<&[String]>, delimiter: u8, limit: usize) -> Result<Vec<Value>, String> {
    let mut rows = CsvRows { text: body.as_bytes(), at: 0, delimiter };
    let headers: Vec<String> = match given {
        Some(h) => h.to_vec(),
        None => match rows.next_row()? {
            Some(h) => h,
            None => return Ok(Vec::new()),
        },
    };
    let mut seen = std::collections::HashSet::with_capacity(headers.len());
    if !headers.iter().all(|h| seen.insert(h.as_str())) {
        return Err("CSV headers cannot contain duplicates.".into());
    }
    let keys: Vec<crate::key::Key> = headers.iter().map(|h| crate::key::Key::from(h.as_str())).collect();
    let mut items = Vec::new();
    while items.len() < limit {
        let Some(fields) = rows.next_row()? else { break };
        let mut fields = fields.into_iter();
        let mut o = Object::with_capacity(keys.len());
        for k in &keys {
            // Headers are distinct (checked above): no key to look for.
            o.push_unique(k.clone(), Value::from(fields.next().unwrap_or_default()));
        }
        items.push(Value::object(o));
    }
    if items.len() > MAX_ITEMS {
        return Err(too_many());
    }
    Ok(items)
}

/// An RFC 4180 reader: fields split by the delimiter, quoted fields may
/// hold delimiters, newlines and `""` for a quote; rows end at `\n` or
/// `\r\n`; blank lines hold no row.
struct CsvRows<'a> {
    text: &'a [u8],
    at: usize,
    delimiter: u8,
}

impl CsvRows<'_> {
    fn next_row(&mut self) -> Result<Option<Vec<String>>, String> {
        // Blank lines are skipped; a line of spaces is a row.
        while self.at < self.text.len() && matches!(self.text[self.at], b'\n' | b'\r') {
            self.at += 1;
        }
        if self.at >= self.text.len() {
            return Ok(None);
        }
        let start = self.at;
        let mut fields = Vec::new();
        let mut field: Vec<u8> = Vec::new();
        let mut quoted = false;
        let mut field_start = true;
        while self.at < self.text.len() {
            if self.at - start > MAX_LINE_BYTES {
                return Err(format!("A CSV row is longer than {MAX_LINE_BYTES} bytes."));
            }
            let c = self.text[self.at];
            self.at += 1;
            if quoted {
                if c == b'"' {
                    if self.text.get(self.at) == Some(&b'"') {
                        field.push(b'"');
                        self.at += 1;
                    } else {
                        quoted = false;
                    }
                } else {
                    field.push(c);
                }
                continue;
            }
            match c {
                b'"' if field_start => {
                    quoted = true;
                    field_start = false;
                }
                b'\n' => {
                    if field.last() == Some(&b'\r') {
                        field.pop();
                    }
                    fields.push(text(field)?);
                    return Ok(Some(fields));
                }
                c if c == self.delimiter => {
                    fields.push(text(std::mem::take(&mut field))?);
                    field_start = true;
                }
                c => {
                    field.push(c);
                    field_start = false;
                }
            }
        }
        if quoted {
            return Err("A quoted CSV field is not closed.".into());
        }
        if field.last() == Some(&b'\r') {
            field.pop();
        }
        fields.push(text(field)?);
        Ok(Some(fields))
    }
}

fn text(bytes: Vec<u8>) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|_| "The CSV object is not UTF-8 text.".to_string())
}

/// One page of `listObjectsV2`'s answer: its objects as items, appended to
/// `items` up to `limit`; the token for the next page when there is one
/// and room left.
pub fn from_listing(page: &Value, items: &mut Vec<Value>, limit: usize) -> Result<Option<String>, String> {
    let limit = effective_limit(limit);
    if let Some(contents) = page.get("Contents") {
        let Value::Array(objects) = contents else {
            return Err("The listObjectsV2 answer's Contents is not a list.".into());
        };
        for o in objects.iter() {
            if items.len() >= limit {
                break;
            }
            items.push(listed_object(o));
        }
    }
    if items.len() > MAX_ITEMS {
        return Err(too_many());
    }
    let truncated = matches!(page.get("IsTruncated"), Some(Value::Bool(true)));
    let token = page.get("NextContinuationToken").and_then(Value::as_str).filter(|t| !t.is_empty());
    Ok(if truncated && items.len() < limit { token.map(str::to_string) } else { None })
}

/// An object of a listing as Step Functions hands it to an iteration:
/// `Etag`, `Key`, `LastModified` (epoch seconds), `Size`, `StorageClass`.
fn listed_object(o: &Value) -> Value {
    let mut item = Object::with_capacity(5);
    let field = |name: &str| o.get(name).cloned();
    if let Some(e) = field("ETag").or_else(|| field("Etag")) {
        item.insert("Etag", e);
    }
    if let Some(k) = field("Key") {
        item.insert("Key", k);
    }
    if let Some(t) = field("LastModified") {
        let seconds = match &t {
            Value::String(s) => crate::time::parse_timestamp(s).map(|t| Value::from(crate::time::to_millis(&t) / 1000)),
            _ => None,
        };
        item.insert("LastModified", seconds.unwrap_or(t));
    }
    if let Some(s) = field("Size") {
        item.insert("Size", s);
    }
    if let Some(c) = field("StorageClass") {
        item.insert("StorageClass", c);
    }
    Value::object(item)
}

/// An S3 inventory `manifest.json`: the bucket its files are in and their
/// keys, and the CSV headers its `fileSchema` names.
#[derive(Debug, Clone, PartialEq)]
pub struct Inventory {
    pub bucket: String,
    pub keys: Vec<String>,
    pub headers: Vec<String>,
}

/// Read an inventory manifest (only CSV inventories, as AWS).
pub fn manifest_files(body: &str) -> Result<Inventory, String> {
    let m = crate::value::from_str(body).map_err(|e| format!("The manifest is not valid JSON: {e}"))?;
    let format = m.get("fileFormat").and_then(Value::as_str).unwrap_or("");
    if !format.eq_ignore_ascii_case("CSV") {
        return Err(format!("Only CSV inventories can be read; this manifest's fileFormat is '{format}'."));
    }
    let bucket = m
        .get("destinationBucket")
        .and_then(Value::as_str)
        .map(|b| b.rsplit(':').next().unwrap_or(b).to_string())
        .ok_or("The manifest has no destinationBucket.")?;
    let headers: Vec<String> = m
        .get("fileSchema")
        .and_then(Value::as_str)
        .ok_or("The manifest has no fileSchema.")?
        .split(',')
        .map(|h| h.trim().to_string())
        .collect();
    let Some(Value::Array(files)) = m.get("files") else {
        return Err("The manifest has no files.".into());
    };
    let keys = files.iter().filter_map(|f| f.get("key").and_then(Value::as_str).map(str::to_string)).collect();
    Ok(Inventory { bucket, keys, headers })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(body: &str, headers: Option<&[String]>, limit: usize) -> Result<String, String> {
        let f = Format { input_type: InputType::Csv, csv_headers: headers, csv_delimiter: b',' };
        from_object(body, f, limit).map(|v| Value::array(v).to_json())
    }

    fn read(body: &str, input_type: InputType, limit: usize) -> Result<String, String> {
        let f = Format { input_type, csv_headers: None, csv_delimiter: b',' };
        from_object(body, f, limit).map(|v| Value::array(v).to_json())
    }

    #[test]
    fn csv_rows_become_objects_of_strings_as_aws_makes_them() {
        // From the AWS-recorded case: extra fields dropped, missing ones
        // empty, a row of spaces kept, the last newline ends no row.
        let body = "Col1,Col2,Col3\nValue1,Value2,Value3\n,,,\ntrue,1,'HelloWorld'\nNull,None,\n   \n";
        assert_eq!(
            csv(body, None, 0).unwrap(),
            r#"[{"Col1":"Value1","Col2":"Value2","Col3":"Value3"},{"Col1":"","Col2":"","Col3":""},{"Col1":"true","Col2":"1","Col3":"'HelloWorld'"},{"Col1":"Null","Col2":"None","Col3":""},{"Col1":"   ","Col2":"","Col3":""}]"#
        );
        assert_eq!(csv("H1,\nValue4,Value5,Value6\n", None, 0).unwrap(), r#"[{"H1":"Value4","":"Value5"}]"#);
    }

    #[test]
    fn csv_quoting_crlf_delimiters_and_given_headers() {
        let body = "a,b\r\n\"x, \"\"y\"\"\",\"multi\nline\"\r\n\r\nplain,\"\"\n";
        assert_eq!(csv(body, None, 0).unwrap(), r#"[{"a":"x, \"y\"","b":"multi\nline"},{"a":"plain","b":""}]"#);
        let given = ["H1".to_string(), "H2".to_string()];
        assert_eq!(csv("1,2\n3,4\n5,6", Some(&given), 2).unwrap(), r#"[{"H1":"1","H2":"2"},{"H1":"3","H2":"4"}]"#);
        let f = Format { input_type: InputType::Csv, csv_headers: None, csv_delimiter: b'|' };
        let items = from_object("a|b\n1,2|3\n", f, 0).unwrap();
        assert_eq!(Value::array(items).to_json(), r#"[{"a":"1,2","b":"3"}]"#);
        assert_eq!(csv("", None, 0).unwrap(), "[]");
    }

    #[test]
    fn bad_csv_raises_the_cause_aws_gives_or_one_naming_the_problem() {
        let dup = ["H1".to_string(), "H1".to_string()];
        assert_eq!(csv("1,2\n", Some(&dup), 0).unwrap_err(), "CSV headers cannot contain duplicates.");
        assert_eq!(csv("a,a\n1,2\n", None, 0).unwrap_err(), "CSV headers cannot contain duplicates.");
        assert!(csv("a\n\"open\n", None, 0).unwrap_err().contains("not closed"));
        let long = format!("a\n{}\n", "x".repeat(MAX_LINE_BYTES + 2));
        assert!(csv(&long, None, 0).unwrap_err().contains("longer than"));
    }

    #[test]
    fn json_and_json_lines() {
        assert_eq!(read("[1,{\"a\":[2]},\"x\"]", InputType::Json, 2).unwrap(), r#"[1,{"a":[2]}]"#);
        assert_eq!(
            read("{\"Hello\": \"world\"}", InputType::Json, 0).unwrap_err(),
            "Attempting to map over non-iterable node."
        );
        assert!(read("[1,", InputType::Json, 0).unwrap_err().contains("not valid JSON"));
        let deep = format!("{}{}", "[".repeat(crate::bounds::MAX_DEPTH + 5), "]".repeat(crate::bounds::MAX_DEPTH + 5));
        assert!(read(&deep, InputType::Json, 0).is_err());
        assert_eq!(read("{\"a\":1}\n\n[2]\r\n\"s\"\n", InputType::Jsonl, 0).unwrap(), r#"[{"a":1},[2],"s"]"#);
        assert_eq!(read("1\n2\n3\n", InputType::Jsonl, 2).unwrap(), "[1,2]");
        assert!(read("PAR1", InputType::Parquet, 0).unwrap_err().contains("Parquet"));
        assert_eq!(
            read("1\n{oops\n", InputType::Jsonl, 0).unwrap_err().split(':').next(),
            Some("Line 2 is not valid JSON")
        );
    }

    #[test]
    fn item_count_is_bounded() {
        let many = "1\n".repeat(MAX_ITEMS + 1);
        assert!(read(&many, InputType::Jsonl, 0).unwrap_err().contains("more than"));
        assert_eq!(
            from_object(&many, Format { input_type: InputType::Jsonl, csv_headers: None, csv_delimiter: b',' }, 3)
                .map(|v| v.len()),
            Ok(3)
        );
    }

    #[test]
    fn listings_become_items_page_by_page() {
        let page = crate::value::from_str(
            r#"{"Contents":[{"ETag":"\"e1\"","Key":"a.csv","LastModified":"2022-11-17T15:44:41Z","Size":3,"StorageClass":"STANDARD"},{"Key":"b","Size":1}],"IsTruncated":true,"NextContinuationToken":"t2"}"#,
        )
        .unwrap();
        let mut items = Vec::new();
        assert_eq!(from_listing(&page, &mut items, 0), Ok(Some("t2".into())));
        assert_eq!(
            Value::array(items.clone()).to_json(),
            r#"[{"Etag":"\"e1\"","Key":"a.csv","LastModified":1668699881,"Size":3,"StorageClass":"STANDARD"},{"Key":"b","Size":1}]"#
        );
        let mut capped = Vec::new();
        assert_eq!(from_listing(&page, &mut capped, 1), Ok(None));
        assert_eq!(capped.len(), 1);
    }

    #[test]
    fn inventory_manifests_name_their_csv_files() {
        let m = r#"{"sourceBucket":"src","destinationBucket":"arn:aws:s3:::inv","fileFormat":"CSV","fileSchema":"Bucket, Key, Size","files":[{"key":"data/1.csv.gz","size":10}]}"#;
        let inv = manifest_files(m).unwrap();
        assert_eq!(
            inv,
            Inventory {
                bucket: "inv".into(),
                keys: vec!["data/1.csv.gz".into()],
                headers: vec!["Bucket".into(), "Key".into(), "Size".into()]
            }
        );
        assert!(manifest_files(&m.replace("\"CSV\"", "\"ORC\"")).unwrap_err().contains("ORC"));
    }
}
