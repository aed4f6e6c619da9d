//! Map states: ItemProcessor/Iterator, Items(Path), ItemSelector, ItemReader, ItemBatcher, limits and Label.

use super::{Code, Validator, ptr};
use crate::asl::{CountField, ItemBatcher, MapMode, MapState, QueryLanguage, Tolerance};
use crate::value::Value as RtValue;
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
            item_reader: obj.get("ItemReader").map(|r| {
                self.item_reader(r, &ptr(at, "ItemReader"));
                RtValue::from(r)
            }),
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

    /// `Label`: AWS puts it in Map Run ARNs, hence the length and character rules.
    fn label(&mut self, obj: &Map<String, Value>, at: &str) -> Option<String> {
        match obj.get("Label") {
            None => None,
            Some(Value::String(l)) => {
                let bad_char = l.chars().any(|c| {
                    c.is_whitespace()
                        || c.is_control()
                        || ('\u{7f}'..='\u{9f}').contains(&c)
                        || "<>{}[]:;\\|^~#%&`?*\"".contains(c)
                });
                if l.is_empty() || l.chars().count() > 40 || bad_char {
                    self.err(
                        Code::BadValue,
                        ptr(at, "Label"),
                        "'Label' must be 1 to 40 characters without whitespace, control characters or any of <>{}[]:;\\|^~#%&`?*\"",
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

    /// `ItemReader` is only checked here; the state keeps it as raw JSON.
    fn item_reader(&mut self, v: &Value, at: &str) {
        let Some(obj) = v.as_object() else {
            self.err(Code::WrongType, at, "'ItemReader' must be an object");
            return;
        };
        if !obj.contains_key("Resource") {
            self.err(Code::MissingField, at, "missing required field 'Resource'");
        }
        if let Some(cfg) = obj.get("ReaderConfig").and_then(Value::as_object)
            && cfg.contains_key("MaxItems")
            && cfg.contains_key("MaxItemsPath")
        {
            self.err(
                Code::ExclusiveFields,
                ptr(at, "ReaderConfig"),
                "only one of 'MaxItems' and 'MaxItemsPath' may be given",
            );
        }
        if let Some(p) = obj.get("Parameters") {
            self.template(p, &ptr(at, "Parameters"));
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
