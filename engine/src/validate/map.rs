//! Map states: ItemProcessor/Iterator, Items(Path), ItemSelector, ItemReader, ItemBatcher, limits and Label.

use super::{Code, Validator, ptr};
use crate::asl::{
    CountField, InputType, ItemBatcher, ItemReader, MapMode, MapState, QueryLanguage, ResultWriter, Template,
    Tolerance, Transformation, WriterConfig,
};
use serde_json::{Map, Value};

impl Validator {
    /// A Map state's body; `inherited` is the query language its processor inherits.
    pub(super) fn map(
        &mut self,
        obj: &Map<String, Value>,
        at: &str,
        inherited: QueryLanguage,
        jsonata: bool,
    ) -> Option<MapState> {
        let (proc_key, proc_v) = match (obj.get("ItemProcessor"), obj.get("Iterator")) {
            (Some(_), Some(_)) => {
                self.err(Code::ExclusiveFields, at, "only one of 'ItemProcessor' and 'Iterator' may be given");
                return None;
            }
            (Some(p), None) => ("ItemProcessor", p),
            (None, Some(i)) => ("Iterator", i),
            (None, None) => {
                self.err(Code::MissingField, at, "missing required field 'ItemProcessor'");
                return None;
            }
        };
        let pp = ptr(at, proc_key);
        let mode = self.processor_mode(proc_v, &pp);
        let processor = self.machine(proc_v, &pp, inherited, false)?;
        let items_path = obj
            .get("ItemsPath")
            .filter(|_| !jsonata)
            .and_then(|v| self.reference_path(v, &ptr(at, "ItemsPath"), "ItemsPath"));
        let items = obj.get("Items").filter(|_| jsonata).map(|v| self.jtemplate(v, &ptr(at, "Items"), "Items"));
        let item_selector = match (obj.get("ItemSelector"), obj.get("Parameters")) {
            (Some(s), _) if jsonata => Some(self.jtemplate(s, &ptr(at, "ItemSelector"), "ItemSelector")),
            (_, _) if jsonata => None,
            (Some(_), Some(_)) => {
                self.err(Code::ExclusiveFields, at, "only one of 'ItemSelector' and 'Parameters' may be given");
                None
            }
            (Some(s), None) => Some(self.template(s, &ptr(at, "ItemSelector"))),
            (None, Some(p)) => Some(self.template(p, &ptr(at, "Parameters"))),
            (None, None) => None,
        };
        let max_concurrency = match (obj.get("MaxConcurrency"), obj.get("MaxConcurrencyPath")) {
            (Some(v), _) if jsonata => self.jcount(v, &ptr(at, "MaxConcurrency"), "MaxConcurrency"),
            (Some(_), Some(_)) => {
                self.err(
                    Code::ExclusiveFields,
                    at,
                    "only one of 'MaxConcurrency' and 'MaxConcurrencyPath' may be given",
                );
                None
            }
            (Some(v), None) => {
                self.positive_int(v, &ptr(at, "MaxConcurrency"), "MaxConcurrency", 0).map(CountField::Fixed)
            }
            (None, Some(v)) => {
                self.reference_path(v, &ptr(at, "MaxConcurrencyPath"), "MaxConcurrencyPath").map(CountField::Path)
            }
            (None, None) => None,
        };
        let (tolerated_failure_percentage, tolerated_failure_count) = if jsonata {
            (
                self.jtolerance(obj, at, "ToleratedFailurePercentage", Some(100.0)),
                self.jtolerance(obj, at, "ToleratedFailureCount", None),
            )
        } else {
            (
                self.tolerance(obj, at, "ToleratedFailurePercentage", Some(100.0)),
                self.tolerance(obj, at, "ToleratedFailureCount", None),
            )
        };
        let label = self.label(obj, at);
        let batcher = self.item_batcher(obj, at, jsonata);
        Some(MapState {
            processor,
            mode,
            items_path,
            items,
            jsonata,
            item_selector,
            max_concurrency,
            tolerated_failure_percentage,
            tolerated_failure_count,
            batcher,
            label,
            item_reader: obj.get("ItemReader").and_then(|r| self.item_reader(r, &ptr(at, "ItemReader"), jsonata)),
            result_writer: obj
                .get("ResultWriter")
                .and_then(|r| self.result_writer(r, &ptr(at, "ResultWriter"), jsonata)),
        })
    }

    /// `ProcessorConfig` inside the processor: INLINE or DISTRIBUTED.
    fn processor_mode(&mut self, proc_v: &Value, pp: &str) -> MapMode {
        let mut mode = MapMode::Inline;
        if let Some(cfg) = proc_v.get("ProcessorConfig") {
            let cp = ptr(pp, "ProcessorConfig");
            if let Some(cobj) = cfg.as_object() {
                for (k, v) in cobj {
                    match (k.as_str(), v.as_str()) {
                        ("Mode", Some("INLINE")) => mode = MapMode::Inline,
                        ("Mode", Some("DISTRIBUTED")) => mode = MapMode::Distributed,
                        ("ExecutionType", Some("STANDARD" | "EXPRESS")) => {}
                        _ => self.err(Code::BadValue, ptr(&cp, k), format!("invalid ProcessorConfig field '{k}'")),
                    }
                }
            } else {
                self.err(Code::WrongType, cp, "'ProcessorConfig' must be an object");
            }
        }
        mode
    }

    /// `Label`: AWS puts it in Map Run ARNs, hence the length and the
    /// characters of AWS names ([`super::refused_in_name`]); AWS was recorded
    /// refusing `label_$` and `label_,`.
    fn label(&mut self, obj: &Map<String, Value>, at: &str) -> Option<String> {
        match obj.get("Label") {
            None => None,
            Some(Value::String(l)) => {
                if l.is_empty() || l.chars().count() > 40 || l.chars().any(super::refused_in_name) {
                    self.err(
                        Code::BadValue,
                        ptr(at, "Label"),
                        "'Label' must be 1 to 40 characters without whitespace, control characters or any of <>{}[]?*\"#%\\^|~`$&,;:/",
                    );
                }
                Some(l.clone())
            }
            Some(_) => {
                self.err(Code::WrongType, ptr(at, "Label"), "'Label' must be a string");
                None
            }
        }
    }

    /// `ItemBatcher`: batch size limits, fixed or by path (or JSONata), and `BatchInput`.
    fn item_batcher(&mut self, obj: &Map<String, Value>, at: &str, jsonata: bool) -> Option<ItemBatcher> {
        match obj.get("ItemBatcher") {
            None => None,
            Some(Value::Object(b)) => {
                let bp = ptr(at, "ItemBatcher");
                let pair = |v: &mut Self, fixed: &str, path: &str| match (b.get(fixed), b.get(path)) {
                    (Some(x), _) if jsonata => v.jcount(x, &ptr(&bp, fixed), fixed),
                    (Some(x), None) => v.positive_int(x, &ptr(&bp, fixed), fixed, 1).map(CountField::Fixed),
                    (None, Some(x)) => v.reference_path(x, &ptr(&bp, path), path).map(CountField::Path),
                    (Some(_), Some(_)) => {
                        v.err(Code::ExclusiveFields, &bp, format!("only one of '{fixed}' and '{path}' may be given"));
                        None
                    }
                    (None, None) => None,
                };
                let max_items = pair(self, "MaxItemsPerBatch", "MaxItemsPerBatchPath");
                let max_bytes = pair(self, "MaxInputBytesPerBatch", "MaxInputBytesPerBatchPath");
                let batch_input = b.get("BatchInput").map(|t| {
                    if jsonata {
                        self.jtemplate(t, &ptr(&bp, "BatchInput"), "BatchInput")
                    } else {
                        self.template(t, &ptr(&bp, "BatchInput"))
                    }
                });
                Some(ItemBatcher { max_items, max_bytes, batch_input })
            }
            Some(_) => {
                self.err(Code::WrongType, ptr(at, "ItemBatcher"), "'ItemBatcher' must be an object");
                None
            }
        }
    }

    /// `ItemReader`: the S3 resource, its `Parameters`/`Arguments` and `ReaderConfig`.
    fn item_reader(&mut self, v: &Value, at: &str, jsonata: bool) -> Option<ItemReader> {
        let Some(obj) = v.as_object() else {
            self.err(Code::WrongType, at, "'ItemReader' must be an object");
            return None;
        };
        let arguments = self.s3_arguments(obj, at, jsonata);
        let resource = match obj.get("Resource") {
            Some(Value::String(r)) => r.clone(),
            Some(_) => {
                self.err(Code::WrongType, ptr(at, "Resource"), "'Resource' must be a string");
                return None;
            }
            None => {
                self.err(Code::MissingField, at, "missing required field 'Resource'");
                return None;
            }
        };
        let list = match s3_action(&resource) {
            Some("getObject") => false,
            Some("listObjectsV2") => true,
            _ => {
                self.err(
                    Code::BadValue,
                    ptr(at, "Resource"),
                    "the ItemReader's Resource must be arn:aws:states:::s3:getObject or arn:aws:states:::s3:listObjectsV2",
                );
                return None;
            }
        };
        let empty = Map::new();
        let cp = ptr(at, "ReaderConfig");
        let cfg = match obj.get("ReaderConfig") {
            None => &empty,
            Some(Value::Object(c)) => c,
            Some(_) => {
                self.err(Code::WrongType, &cp, "'ReaderConfig' must be an object");
                return None;
            }
        };
        let input_type = match cfg.get("InputType").map(|t| (t, t.as_str())) {
            None => None,
            Some((_, Some("JSON"))) => Some(InputType::Json),
            Some((_, Some("JSONL"))) => Some(InputType::Jsonl),
            Some((_, Some("CSV"))) => Some(InputType::Csv),
            Some((_, Some("MANIFEST"))) => Some(InputType::Manifest),
            Some((_, Some("PARQUET"))) => Some(InputType::Parquet),
            Some(_) => {
                self.err(
                    Code::BadValue,
                    ptr(&cp, "InputType"),
                    "'InputType' must be one of JSON, JSONL, CSV, MANIFEST and PARQUET",
                );
                None
            }
        };
        if input_type.is_none() && !list && !cfg.contains_key("InputType") {
            self.err(Code::MissingField, &cp, "an ItemReader reading s3:getObject needs 'ReaderConfig.InputType'");
        }
        let csv_headers = match (cfg.get("CSVHeaderLocation").map(|l| l.as_str()), cfg.get("CSVHeaders")) {
            (None | Some(Some("FIRST_ROW")), None) => None,
            (Some(Some("GIVEN")), Some(Value::Array(hs))) if hs.iter().all(Value::is_string) && !hs.is_empty() => {
                Some(hs.iter().filter_map(|h| h.as_str().map(str::to_string)).collect())
            }
            (Some(Some("GIVEN")), _) => {
                self.err(
                    Code::BadValue,
                    ptr(&cp, "CSVHeaders"),
                    "'CSVHeaderLocation' GIVEN needs 'CSVHeaders': a non-empty array of strings",
                );
                None
            }
            (Some(Some("FIRST_ROW")), Some(_)) => {
                self.err(Code::BadValue, ptr(&cp, "CSVHeaders"), "'CSVHeaders' needs 'CSVHeaderLocation' GIVEN");
                None
            }
            (None, Some(_)) => {
                self.err(Code::BadValue, ptr(&cp, "CSVHeaders"), "'CSVHeaders' needs 'CSVHeaderLocation' GIVEN");
                None
            }
            (Some(_), _) => {
                self.err(
                    Code::BadValue,
                    ptr(&cp, "CSVHeaderLocation"),
                    "'CSVHeaderLocation' must be FIRST_ROW or GIVEN",
                );
                None
            }
        };
        let csv_delimiter = match cfg.get("CSVDelimiter").map(|d| d.as_str()) {
            None | Some(Some("COMMA")) => b',',
            Some(Some("PIPE")) => b'|',
            Some(Some("SEMICOLON")) => b';',
            Some(Some("SPACE")) => b' ',
            Some(Some("TAB")) => b'\t',
            Some(_) => {
                self.err(
                    Code::BadValue,
                    ptr(&cp, "CSVDelimiter"),
                    "'CSVDelimiter' must be one of COMMA, PIPE, SEMICOLON, SPACE and TAB",
                );
                b','
            }
        };
        let max_items = match (cfg.get("MaxItems"), cfg.get("MaxItemsPath")) {
            (Some(_), Some(_)) => {
                self.err(Code::ExclusiveFields, &cp, "only one of 'MaxItems' and 'MaxItemsPath' may be given");
                None
            }
            (Some(v @ Value::String(_)), None) if jsonata => self.jcount(v, &ptr(&cp, "MaxItems"), "MaxItems"),
            (Some(v), None) => match v.as_u64() {
                Some(n) if n <= MAX_ITEMS_LIMIT => Some(CountField::Fixed(n)),
                _ => {
                    self.err(
                        Code::OutOfRange,
                        ptr(&cp, "MaxItems"),
                        "'MaxItems' must be an integer from 0 to 100000000",
                    );
                    None
                }
            },
            (None, Some(v)) if !jsonata => {
                self.reference_path(v, &ptr(&cp, "MaxItemsPath"), "MaxItemsPath").map(CountField::Path)
            }
            (None, Some(_)) => {
                self.err(
                    Code::UnknownField,
                    ptr(&cp, "MaxItemsPath"),
                    "JSONata states use 'MaxItems', not 'MaxItemsPath'",
                );
                None
            }
            (None, None) => None,
        };
        Some(ItemReader { resource, arguments, input_type, csv_headers, csv_delimiter, max_items })
    }

    /// `ResultWriter`: `Resource` and `Parameters`/`Arguments`, `WriterConfig`, or all three.
    fn result_writer(&mut self, v: &Value, at: &str, jsonata: bool) -> Option<ResultWriter> {
        let Some(obj) = v.as_object() else {
            self.err(Code::WrongType, at, "'ResultWriter' must be an object");
            return None;
        };
        let arguments = self.s3_arguments(obj, at, jsonata);
        let resource = match obj.get("Resource") {
            None => None,
            Some(Value::String(r)) if s3_action(r) == Some("putObject") => Some(r.clone()),
            Some(_) => {
                self.err(
                    Code::BadValue,
                    ptr(at, "Resource"),
                    "the ResultWriter's Resource must be arn:aws:states:::s3:putObject",
                );
                return None;
            }
        };
        let wp = ptr(at, "WriterConfig");
        let config = match obj.get("WriterConfig") {
            None => None,
            Some(Value::Object(c)) => {
                let transformation = match c.get("Transformation").map(|t| t.as_str()) {
                    None | Some(Some("NONE")) => Transformation::None,
                    Some(Some("COMPACT")) => Transformation::Compact,
                    Some(Some("FLATTEN")) => Transformation::Flatten,
                    Some(_) => {
                        self.err(
                            Code::BadValue,
                            ptr(&wp, "Transformation"),
                            "'Transformation' must be one of NONE, COMPACT and FLATTEN",
                        );
                        Transformation::None
                    }
                };
                let jsonl = match c.get("OutputType").map(|t| t.as_str()) {
                    None | Some(Some("JSON")) => false,
                    Some(Some("JSONL")) => true,
                    Some(_) => {
                        self.err(Code::BadValue, ptr(&wp, "OutputType"), "'OutputType' must be JSON or JSONL");
                        false
                    }
                };
                Some(WriterConfig { transformation, jsonl })
            }
            Some(_) => {
                self.err(Code::WrongType, &wp, "'WriterConfig' must be an object");
                None
            }
        };
        if config.is_none() && (resource.is_none() || arguments.is_none()) {
            self.err(
                Code::MissingField,
                at,
                "a ResultWriter needs 'Resource' and its parameters, 'WriterConfig', or all of them",
            );
        }
        if resource.is_some() != arguments.is_some() {
            self.err(Code::MissingField, at, "a ResultWriter's 'Resource' and its parameters go together");
        }
        Some(ResultWriter { resource, arguments, config })
    }

    /// `Parameters` (JSONPath) or `Arguments` (JSONata) of an ItemReader or ResultWriter.
    fn s3_arguments(&mut self, obj: &Map<String, Value>, at: &str, jsonata: bool) -> Option<Template> {
        match (obj.get("Parameters"), obj.get("Arguments")) {
            (_, Some(a)) if jsonata => Some(self.jtemplate(a, &ptr(at, "Arguments"), "Arguments")),
            (Some(p), None) if !jsonata => Some(self.template(p, &ptr(at, "Parameters"))),
            (Some(_), _) if jsonata => {
                self.err(Code::UnknownField, ptr(at, "Parameters"), "JSONata states use 'Arguments', not 'Parameters'");
                None
            }
            (_, Some(_)) => {
                self.err(Code::UnknownField, ptr(at, "Arguments"), "JSONPath states use 'Parameters', not 'Arguments'");
                None
            }
            (None, None) => None,
            (Some(_), _) => None,
        }
    }

    /// A JSONPath tolerated-failure field: `key` or `keyPath`, at most `max`.
    fn tolerance(&mut self, obj: &Map<String, Value>, at: &str, key: &str, max: Option<f64>) -> Option<Tolerance> {
        let path_key = format!("{key}Path");
        match (obj.get(key), obj.get(&path_key)) {
            (Some(_), Some(_)) => {
                self.err(Code::ExclusiveFields, at, format!("only one of '{key}' and '{path_key}' may be given"));
                None
            }
            (Some(v), None) => match v.as_f64() {
                Some(f) if f >= 0.0 && max.is_none_or(|m| f <= m) => Some(Tolerance::Fixed(f)),
                _ => {
                    self.err(Code::OutOfRange, ptr(at, key), format!("'{key}' is out of range"));
                    None
                }
            },
            (None, Some(v)) => self.reference_path(v, &ptr(at, &path_key), &path_key).map(Tolerance::Path),
            (None, None) => None,
        }
    }
}

/// The largest `MaxItems` AWS accepts.
const MAX_ITEMS_LIMIT: u64 = 100_000_000;

/// The action of an `arn:<partition>:states:::s3:<action>` resource.
fn s3_action(resource: &str) -> Option<&str> {
    let rest = resource.strip_prefix("arn:")?;
    let (_partition, rest) = rest.split_once(':')?;
    rest.strip_prefix("states:::s3:")
}
