//! A Distributed Map's `ResultWriter`: the iterations' results as Step
//! Functions exports them (`SUCCEEDED_<n>.json` / `FAILED_<n>.json` under
//! `<Prefix>/<map run id>/`, then `manifest.json`), written by `s3:putObject`
//! calls the driver performs one at a time; the state's result is then
//! `{MapRunArn, ResultWriterDetails}`. A `WriterConfig` alone transforms
//! the results without exporting them.

use super::{Frame, MapIo, Outcome, Raised, Shared, Step, TaskCall, TaskOutcome, Waiting};
use crate::asl::{ResultWriter, Transformation};
use crate::errors::ErrorName;
use crate::program::Program;
use crate::value::{Object, Value};

/// The largest result file written; more results go to the next one.
pub const MAX_RESULT_FILE_BYTES: usize = 64 * 1024 * 1024;

/// The writes still to make (the last one first) and the state's result.
#[derive(Debug)]
pub(super) struct Writing {
    resource: String,
    puts: Vec<Value>,
    result: Value,
}

fn failed(cause: impl Into<String>) -> Raised {
    Raised::new(ErrorName::ResultWriterFailed.as_str(), cause)
}

/// Where the execution runs, from its state machine's ARN.
struct Origin {
    partition: String,
    region: String,
    account: String,
    machine: String,
}

impl Origin {
    fn of(state_machine_arn: &str, machine_name: &str) -> Origin {
        let parts: Vec<&str> = state_machine_arn.split(':').collect();
        let part = |i: usize, default: &str| parts.get(i).filter(|p| !p.is_empty()).unwrap_or(&default).to_string();
        Origin {
            partition: part(1, "aws"),
            region: part(3, "us-east-1"),
            account: part(4, "123456789012"),
            machine: machine_name.to_string(),
        }
    }

    fn arn(&self, kind: &str, rest: &str) -> String {
        format!("arn:{}:states:{}:{}:{kind}:{}/{rest}", self.partition, self.region, self.account, self.machine)
    }
}

impl Program {
    /// Export (or transform) a Map's results: the first write, or the
    /// state's result at once when nothing is written.
    pub(super) fn write_results(
        &self,
        frame: &mut Frame,
        shared: &mut Shared,
        writer: &ResultWriter,
        results: Vec<Outcome>,
    ) -> Option<Step> {
        let inputs = match frame.io.take().map(|b| *b) {
            Some(MapIo::Forked { inputs }) => inputs,
            _ => Vec::new(),
        };
        let state = self.state_name(frame).to_string();
        let label = self.map_label(frame).unwrap_or(state);
        let info = shared.info.clone();
        let origin = Origin::of(&info.state_machine_id, &info.state_machine_name);
        let run_id = self.random_uuid(shared);
        let map_run_arn = origin.arn("mapRun", &format!("{label}:{run_id}"));
        let now = crate::time::format_millis(shared.now_ms);
        let transformation = writer.config.map_or(Transformation::None, |c| c.transformation);
        let Some(resource) = writer.resource.clone() else {
            // WriterConfig alone: the transformed results are the state's.
            let children = self.child_entries(shared, &origin, &label, &inputs, results, &now);
            let out = transform(children, transformation);
            return self.written(frame, shared, Value::array(out));
        };
        let target = match &writer.arguments {
            Some(t) => {
                let mut resolver = self.resolver(frame, shared);
                match resolver.eval_template(t, frame.acc()) {
                    Ok(v) => v,
                    Err((n, d)) => {
                        let e = self.template_error(frame, n, d);
                        return self.raise(frame, shared, e);
                    }
                }
            }
            None => Value::empty_object(),
        };
        let Some(bucket) = target.get("Bucket").and_then(Value::as_str).map(str::to_string) else {
            return self.raise(frame, shared, failed("The ResultWriter's parameters name no Bucket."));
        };
        let prefix = match target.get("Prefix").and_then(Value::as_str).map(|p| p.trim_end_matches('/')) {
            Some(p) if !p.is_empty() => format!("{p}/{run_id}/"),
            _ => format!("{run_id}/"),
        };
        let jsonl = writer.config.is_some_and(|c| c.jsonl);
        let children = self.child_entries(shared, &origin, &label, &inputs, results, &now);
        let (succeeded, failed_children): (Vec<_>, Vec<_>) = children.into_iter().partition(|c| c.succeeded);
        let mut puts = Vec::new();
        let mut files = Object::new();
        for (status, group) in [("FAILED", failed_children), ("PENDING", Vec::new()), ("SUCCEEDED", succeeded)] {
            let entries = transform(group, transformation);
            let mut listed = Vec::new();
            for (n, body) in result_files(&entries, jsonl).into_iter().enumerate() {
                let key = format!("{prefix}{status}_{n}.json");
                let mut file = Object::new();
                file.insert("Key", Value::from(key.as_str()));
                file.insert("Size", Value::from(body.len()));
                listed.push(Value::object(file));
                puts.push(put(&bucket, &key, body));
            }
            files.insert(status, Value::array(listed));
        }
        let manifest_key = format!("{prefix}manifest.json");
        let mut manifest = Object::new();
        manifest.insert("DestinationBucket", Value::from(bucket.as_str()));
        manifest.insert("MapRunArn", Value::from(map_run_arn.as_str()));
        manifest.insert("ResultFiles", Value::object(files));
        puts.push(put(&bucket, &manifest_key, Value::object(manifest).to_json()));
        puts.reverse();
        let mut details = Object::new();
        details.insert("Bucket", Value::from(bucket.as_str()));
        details.insert("Key", Value::from(manifest_key.as_str()));
        let mut result = Object::new();
        result.insert("MapRunArn", Value::from(map_run_arn.as_str()));
        result.insert("ResultWriterDetails", Value::object(details));
        let mut writing = Writing { resource, puts, result: Value::object(result) };
        let first = writing.puts.pop();
        let resource = writing.resource.clone();
        frame.io = Some(Box::new(MapIo::Writing(writing)));
        first.map(|input| self.put_step(frame, resource, input))
    }

    fn put_step(&self, frame: &mut Frame, resource: String, input: Value) -> Step {
        frame.waiting = Waiting::Writer;
        Step::Invoke(TaskCall {
            state_name: self.states[frame.state as usize].name.clone(),
            resource,
            input,
            timeout_seconds: None,
            heartbeat_seconds: None,
        })
    }

    /// Carry on after a write: the next one, or the state's result.
    pub(super) fn write_answer(&self, frame: &mut Frame, shared: &mut Shared, outcome: TaskOutcome) -> Option<Step> {
        frame.waiting = Waiting::Op;
        let error = match outcome {
            TaskOutcome::Succeeded(_) => None,
            TaskOutcome::Failed { error, cause } => Some(match cause {
                Some(c) => format!("{error}: {c}"),
                None => error,
            }),
            TaskOutcome::TimedOut => Some("The S3 call timed out.".into()),
        };
        if let Some(cause) = error {
            frame.io = None;
            return self.raise(frame, shared, failed(cause));
        }
        let Some(MapIo::Writing(writing)) = frame.io.as_deref_mut() else {
            return self.raise(frame, shared, failed("the writer lost its progress"));
        };
        if let Some(input) = writing.puts.pop() {
            let resource = writing.resource.clone();
            return Some(self.put_step(frame, resource, input));
        }
        let result = std::mem::take(&mut writing.result);
        frame.io = None;
        self.written(frame, shared, result)
    }

    /// The Map state's result is in: it moves on to ResultSelector/ResultPath.
    fn written(&self, frame: &mut Frame, shared: &mut Shared, result: Value) -> Option<Step> {
        match super::raised::check_built(self.state_name(frame), &result) {
            Ok(m) => {
                frame.set_acc(result, Some(m));
                frame.pc += 1;
                None
            }
            Err((name, cause)) => self.raise(frame, shared, Raised::new(name.as_str(), cause)),
        }
    }

    fn map_label(&self, frame: &Frame) -> Option<String> {
        match self.code.get(frame.pc) {
            Some(crate::program::Op::Map(m)) => self.maps[*m as usize].state.label.clone(),
            _ => None,
        }
    }

    fn random_uuid(&self, shared: &mut Shared) -> String {
        let hi = shared.next_random();
        let lo = shared.next_random();
        crate::intrinsics::uuid_v4(hi, lo)
    }

    /// Each iteration as a child execution's description.
    fn child_entries(
        &self,
        shared: &mut Shared,
        origin: &Origin,
        label: &str,
        inputs: &[Value],
        results: Vec<Outcome>,
        now: &str,
    ) -> Vec<Child> {
        results
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let name = self.random_uuid(shared);
                let mut e = Object::new();
                e.insert("ExecutionArn", Value::from(origin.arn("execution", &format!("{label}:{name}"))));
                let input = inputs.get(i).cloned().unwrap_or(Value::Null);
                e.insert("Input", Value::from(input.to_json()));
                e.insert("InputDetails", included());
                e.insert("Name", Value::from(name));
                let (succeeded, output) = match r {
                    Outcome::Succeeded(v) => {
                        e.insert("Output", Value::from(v.to_json()));
                        e.insert("OutputDetails", included());
                        (true, v)
                    }
                    Outcome::Failed(err) => {
                        if let Some(error) = &err.error {
                            e.insert("Error", Value::from(error.as_str()));
                        }
                        if let Some(cause) = &err.cause {
                            e.insert("Cause", Value::from(cause.as_str()));
                        }
                        (false, err.to_error_output())
                    }
                };
                e.insert("RedriveCount", Value::from(0));
                e.insert("RedriveStatus", Value::from("NOT_REDRIVABLE"));
                e.insert("StartDate", Value::from(now));
                e.insert("StateMachineArn", Value::from(origin.arn("stateMachine", label)));
                e.insert("Status", Value::from(if succeeded { "SUCCEEDED" } else { "FAILED" }));
                e.insert("StopDate", Value::from(now));
                Child { succeeded, output, entry: Value::object(e) }
            })
            .collect()
    }
}

/// One iteration's outcome: its output and its description.
struct Child {
    succeeded: bool,
    output: Value,
    entry: Value,
}

fn included() -> Value {
    let mut o = Object::new();
    o.insert("Included", Value::Bool(true));
    Value::object(o)
}

/// What is kept of each iteration: its description (`NONE`), its output
/// (`COMPACT`), or its output with arrays spliced in (`FLATTEN`). A failed
/// iteration always keeps its description, as AWS does.
fn transform(children: Vec<Child>, t: Transformation) -> Vec<Value> {
    let mut out = Vec::with_capacity(children.len());
    for c in children {
        match (t, c.succeeded) {
            (Transformation::None, _) | (_, false) => out.push(c.entry),
            (Transformation::Compact, true) => out.push(c.output),
            (Transformation::Flatten, true) => match &c.output {
                Value::Array(a) => out.extend(a.iter().cloned()),
                _ => out.push(c.output),
            },
        }
    }
    out
}

/// The texts of a group's result files: a JSON array (or JSON Lines) each,
/// cut where a file would pass [`MAX_RESULT_FILE_BYTES`]. No entries, no file.
fn result_files(entries: &[Value], jsonl: bool) -> Vec<String> {
    let mut files = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut bytes = 0;
    for e in entries {
        let text = e.to_json();
        if !current.is_empty() && bytes + text.len() + 1 > MAX_RESULT_FILE_BYTES {
            files.push(join(std::mem::take(&mut current), jsonl));
            bytes = 0;
        }
        bytes += text.len() + 1;
        current.push(text);
    }
    if !current.is_empty() {
        files.push(join(current, jsonl));
    }
    files
}

fn join(texts: Vec<String>, jsonl: bool) -> String {
    if jsonl { texts.join("\n") + "\n" } else { format!("[{}]", texts.join(",")) }
}

fn put(bucket: &str, key: &str, body: String) -> Value {
    let mut o = Object::new();
    o.insert("Bucket", Value::from(bucket));
    o.insert("Key", Value::from(key));
    o.insert("Body", Value::from(body));
    Value::object(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_files_are_cut_at_the_size_bound_and_empty_groups_write_none() {
        assert!(result_files(&[], false).is_empty());
        let entries = vec![Value::from(1), Value::from("x")];
        assert_eq!(result_files(&entries, false), vec![r#"[1,"x"]"#.to_string()]);
        assert_eq!(result_files(&entries, true), vec!["1\n\"x\"\n".to_string()]);
        let big = Value::from("y".repeat(MAX_RESULT_FILE_BYTES / 2));
        assert_eq!(result_files(&[big.clone(), big.clone(), big], false).len(), 3);
    }

    #[test]
    fn transformations_keep_what_aws_keeps() {
        let child = |succeeded, output: Value| Child { succeeded, output, entry: Value::from("entry") };
        let kids = || vec![child(true, Value::array(vec![Value::from(1), Value::from(2)])), child(false, Value::Null)];
        let json = |v: Vec<Value>| Value::array(v).to_json();
        assert_eq!(json(transform(kids(), Transformation::None)), r#"["entry","entry"]"#);
        assert_eq!(json(transform(kids(), Transformation::Compact)), r#"[[1,2],"entry"]"#);
        assert_eq!(json(transform(kids(), Transformation::Flatten)), r#"[1,2,"entry"]"#);
    }
}
