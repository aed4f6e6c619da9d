//! A Distributed Map's `ItemReader`: the S3 calls it yields to its driver
//! (`s3:getObject`, `s3:listObjectsV2` page by page, an inventory's CSV
//! files one by one) and the items their answers become (`crate::items`).
//! The driver answers `getObject` with the object's text as `Body` and
//! `listObjectsV2` with the API's output, as `aws-sdk:s3:*` tasks return them.

use super::map::MapStart;
use super::{Frame, MapIo, Raised, Shared, Step, TaskCall, TaskOutcome, Waiting};
use crate::asl::{InputType, ItemReader};
use crate::errors::ErrorName;
use crate::items::{self, Format};
use crate::program::{Op, Program};
use crate::value::Value;

/// What a reader has gathered and what it asks next.
#[derive(Debug)]
pub(super) struct Reading {
    items: Vec<Value>,
    /// `MaxItems` as resolved (0: no limit).
    limit: usize,
    max_concurrency: usize,
    /// The call that was made (a listing's next page repeats it with a token).
    call: Value,
    /// An inventory's files still to read, and the headers of their rows.
    inventory: Option<(Vec<String>, Vec<Value>)>,
}

fn failed(cause: impl Into<String>) -> Raised {
    Raised::new(ErrorName::ItemReaderFailed.as_str(), cause)
}

impl Program {
    /// The reader's first S3 call, from its `Parameters`/`Arguments` and `MaxItems`.
    pub(super) fn start_reading(
        &self,
        frame: &mut Frame,
        shared: &mut Shared,
        reader: &ItemReader,
        max_concurrency: usize,
    ) -> Result<Step, Raised> {
        let limit = match &reader.max_items {
            Some(f) => self.count_field(frame, shared, f, "MaxItemsPath")?,
            None => 0,
        };
        let call = match &reader.arguments {
            Some(t) => {
                let mut resolver = self.resolver(frame, shared);
                resolver.eval_template(t, frame.acc()).map_err(|(n, d)| self.template_error(frame, n, d))?
            }
            None => Value::empty_object(),
        };
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let reading = Reading { items: Vec::new(), limit, max_concurrency, call: call.clone(), inventory: None };
        frame.io = Some(Box::new(MapIo::Reading(reading)));
        Ok(self.s3_call(frame, reader.resource.clone(), call))
    }

    fn s3_call(&self, frame: &mut Frame, resource: String, input: Value) -> Step {
        frame.waiting = Waiting::Reader;
        Step::Invoke(TaskCall {
            state_name: self.states[frame.state as usize].name.clone(),
            resource,
            input,
            timeout_seconds: None,
            heartbeat_seconds: None,
        })
    }

    /// Carry on with an answer to the reader's call: the next call, the
    /// Map's start over the items, or the error it raises.
    pub(super) fn read_answer(&self, frame: &mut Frame, shared: &mut Shared, outcome: TaskOutcome) -> Option<Step> {
        frame.waiting = Waiting::Op;
        let started = self.next_read(frame, shared, outcome);
        self.map_started(frame, shared, started)
    }

    /// What the frame does after a Map state's attempt to start.
    pub(super) fn map_started(
        &self,
        frame: &mut Frame,
        shared: &mut Shared,
        started: Result<MapStart, Raised>,
    ) -> Option<Step> {
        match started {
            Ok(MapStart::Forked(step)) => Some(step),
            Ok(MapStart::Finished(step)) => step,
            Err(e) => {
                frame.io = None;
                self.raise(frame, shared, e)
            }
        }
    }

    fn next_read(&self, frame: &mut Frame, shared: &mut Shared, outcome: TaskOutcome) -> Result<MapStart, Raised> {
        let Some(Op::Map(m)) = self.code.get(frame.pc).copied() else {
            return Err(failed("the reader's answer came to a state that is not a Map"));
        };
        let Some(reader) = &self.maps[m as usize].state.item_reader else {
            return Err(failed("the Map state has no ItemReader"));
        };
        let answer = match outcome {
            TaskOutcome::Succeeded(v) => v,
            TaskOutcome::Failed { error, cause } => {
                return Err(failed(match cause {
                    Some(c) => format!("{error}: {c}"),
                    None => error,
                }));
            }
            TaskOutcome::TimedOut => return Err(failed("The S3 call timed out.")),
        };
        let Some(MapIo::Reading(reading)) = frame.io.as_deref_mut() else {
            return Err(failed("the reader lost its progress"));
        };
        let next = if reader.input_type.is_none() {
            // listObjectsV2, a page at a time.
            items::from_listing(&answer, &mut reading.items, reading.limit).map_err(failed)?.map(|token| {
                let mut call = reading.call.as_object().cloned().unwrap_or_default();
                call.insert("ContinuationToken", Value::from(token));
                (reader.resource.clone(), Value::object(call))
            })
        } else {
            let body = body_text(&answer)?;
            match (&mut reading.inventory, reader.input_type) {
                (None, Some(InputType::Manifest)) => {
                    let inv = items::manifest_files(body).map_err(failed)?;
                    let files = inv
                        .keys
                        .iter()
                        .rev()
                        .map(|k| {
                            let mut o = crate::value::Object::new();
                            o.insert("Bucket", Value::from(inv.bucket.as_str()));
                            o.insert("Key", Value::from(k.as_str()));
                            Value::object(o)
                        })
                        .collect();
                    reading.inventory = Some((inv.headers, files));
                }
                (Some((headers, _)), _) => {
                    let format = Format { input_type: InputType::Csv, csv_headers: Some(headers), csv_delimiter: b',' };
                    let left = remaining(reading.limit, reading.items.len());
                    reading.items.extend(items::from_object(body, format, left).map_err(failed)?);
                }
                (None, Some(input_type)) => {
                    let format = Format {
                        input_type,
                        csv_headers: reader.csv_headers.as_deref(),
                        csv_delimiter: reader.csv_delimiter,
                    };
                    reading.items = items::from_object(body, format, reading.limit).map_err(failed)?;
                }
                (None, None) => {}
            }
            if reading.items.len() > items::MAX_ITEMS {
                return Err(failed(format!(
                    "The ItemReader read more than the {} items one Map run may hold.",
                    items::MAX_ITEMS
                )));
            }
            let full = reading.limit > 0 && reading.items.len() >= reading.limit;
            match &mut reading.inventory {
                Some((_, files)) if !full => files.pop().map(|call| (get_object(&reader.resource), call)),
                _ => None,
            }
        };
        if let Some((resource, call)) = next {
            reading.call = call.clone();
            return Ok(MapStart::Forked(self.s3_call(frame, resource, call)));
        }
        let max_concurrency = reading.max_concurrency;
        let items = std::mem::take(&mut reading.items);
        frame.io = None;
        // Each item is an iteration's input, held to the payload bounds.
        for (i, item) in items.iter().enumerate() {
            if let Err(e) = crate::bounds::check(item) {
                return Err(failed(format!("Item {i} is too large or too deep to be an iteration's input ({e:?}).")));
            }
        }
        self.map_over(frame, shared, m, std::sync::Arc::new(items), None, max_concurrency)
    }
}

/// Items still to read under `limit` (0: no limit).
fn remaining(limit: usize, read: usize) -> usize {
    if limit == 0 { 0 } else { limit.saturating_sub(read).max(1) }
}

/// The `s3:getObject` resource beside the reader's (same partition).
fn get_object(resource: &str) -> String {
    match resource.rsplit_once(':') {
        Some((head, _)) => format!("{head}:getObject"),
        None => resource.to_string(),
    }
}

/// A `getObject` answer's text.
fn body_text(answer: &Value) -> Result<&str, Raised> {
    match answer.get("Body") {
        Some(Value::String(s)) => Ok(s),
        _ => Err(failed("The S3 getObject answer holds no text Body.")),
    }
}
