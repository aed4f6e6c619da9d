//! Fusing a Map's `ItemSelector` into the `Parameters` of the state its
//! iterations start at.
//!
//! The common shape — `ItemSelector` picks a few fields from the Map's input
//! and `$$.Map.Item`, and the first state of the iteration builds its own
//! object from them — builds an object per item only for the next state to
//! read it. Where the compiler can prove it safe, the first state's
//! `Parameters` is rewritten to read each `$.f…` from where the selector's
//! field `f` reads it, and the VM evaluates it in the Map state for every
//! item, starting each iteration after that instruction.
//!
//! When (all of them; [`fuse_selector`] and `Program::fusable_start_pc`):
//! - a JSONPath Map with no `ItemReader`, `ItemBatcher` or `ResultWriter`,
//!   whose processor runs inline ([`crate::program::MachineInfo::runs_inline`]);
//! - an object `ItemSelector` of constants, reference paths from `$`, and
//!   `$$.Map.Item.Index` or `$$.Map.Item.Value` (or a part of the value);
//! - a start state that is a Pass with object `Parameters`, no `InputPath`,
//!   nothing that keeps its raw input (a `ResultPath` other than `$`, a
//!   JSONata `Assign`) and no Retry;
//! - `Parameters` that read nothing but `$.f…` (fields and indexes) of
//!   selector fields that are paths, and that draw no random number;
//! - every selector field that can miss (all but constants and
//!   `$$.Map.Item.Index`/`Value` themselves) read, so that it misses here too.
//!
//! A JSONata Map is fused the same way into its start state's `Output`, when:
//! - every selector field is a constant or a bare read (`$states.input.a.b`,
//!   `$states.context.Map.Item.Index`, `$states.context.Map.Item.Value…`);
//! - the start state is a Pass whose `Output` is its only instruction (no
//!   `Assign`);
//! - every expression of that `Output` has a direct form
//!   ([`crate::jsonata::DirectExpr`]) whose reads are `$states.input.f…` of
//!   selector fields that are reads (not `$states.input` whole, not the
//!   index's parts).
//!
//! The rewritten fields are evaluated only directly (`direct_only`): where a
//! direct form cannot decide (an array on a read path, which JSONata would
//! map over), the fused way fails and the Map takes the usual one. A
//! selector read that can miss is made for every item first
//! ([`FusedStart::must_find`]): in JSONata a missing value need not fail the
//! expression that reads it (`&` and `$merge` pass over `undefined`), where
//! the selector field itself would.
//!
//! Nothing changes in outcome: the VM takes the usual way — selector objects,
//! then iterations — as soon as one item's rewritten template fails or the
//! selector's objects are not proven within the payload bounds, so every
//! error, its cause and the state it names are exactly as without fusion.

use crate::asl::{self, DirectRead, DirectRoot, JsonataField, MapState, StateKind, Template};
use crate::jsonata::DirectExpr;
use crate::jsonpath::{JsonPath, Root};
use crate::value::Key;
use std::sync::Arc;

/// How the iterations of an inline Map start without their selector objects.
#[derive(Debug, Clone)]
pub struct FusedStart {
    /// The start state's `Parameters` (JSONata: `Output`), reading the
    /// Map's input and item.
    pub template: Template,
    /// Where the iterations start: the start state's instruction after that
    /// template's.
    pub start_pc: u32,
    /// JSONata: the selector's reads that can miss; each must find a value
    /// for every item, or the Map takes the usual way.
    pub must_find: Vec<DirectRead>,
}

/// A fused start template and its selector reads that must find a value.
pub type Fused = (Template, Vec<DirectRead>);

/// The start state's `Parameters` (JSONata: `Output`) rewritten onto the
/// Map's `ItemSelector`, where the two can be fused (see the module doc);
/// `None` elsewhere.
pub fn fuse_selector(map: &MapState, start: &asl::State) -> Option<Fused> {
    if map.batcher.is_some() || map.result_writer.is_some() || map.item_reader.is_some() {
        return None;
    }
    let Some(Template::Object(selector)) = &map.item_selector else {
        return None;
    };
    let StateKind::Pass { .. } = start.kind else {
        return None;
    };
    if map.jsonata {
        return fuse_jsonata(selector, start);
    }
    if !selector.iter().all(|(_, t)| fusable_field(t)) {
        return None;
    }
    if !matches!(start.io.input_path, asl::PathField::Identity) {
        return None;
    }
    let parameters @ Template::Object(_) = start.io.parameters.as_ref()? else {
        return None;
    };
    let mut read = vec![false; selector.len()];
    let fused = rewrite(parameters, selector, &mut read)?;
    // A field that can miss must be read, so that it misses here too.
    let unread_can_miss = selector.iter().zip(&read).any(|((_, t), read)| !read && can_miss(t));
    (!unread_can_miss).then_some((fused, Vec::new()))
}

/// A constant, a reference path from `$`, or `$$.Map.Item.Index`/`Value`
/// (or a part of the value): fields whose bounds the Map knows.
fn fusable_field(t: &Template) -> bool {
    match t {
        Template::Const(_) => true,
        Template::Path(p) => (p.root == Root::Input && p.is_reference()) || p.map_item().is_some(),
        _ => false,
    }
}

/// All but constants and `$$.Map.Item.Index`/`Value` themselves.
fn can_miss(t: &Template) -> bool {
    match t {
        Template::Path(p) => !p.is_whole_map_item(),
        _ => !matches!(t, Template::Const(_)),
    }
}

/// `t` reading the selector's paths instead of its object's fields.
fn rewrite(t: &Template, selector: &[(Key, Template)], read: &mut [bool]) -> Option<Template> {
    Some(match t {
        Template::Const(v) => Template::Const(v.clone()),
        Template::Object(fields) => Template::Object(
            fields.iter().map(|(k, t)| Some((k.clone(), rewrite(t, selector, read)?))).collect::<Option<_>>()?,
        ),
        Template::Array(items) => {
            Template::Array(items.iter().map(|t| rewrite(t, selector, read)).collect::<Option<_>>()?)
        }
        Template::Path(p) => Template::Path(rewrite_path(p, selector, read)?),
        Template::Call(c) if c.draws_random() => return None,
        Template::Call(c) => Template::Call(c.with_paths(&mut |p| rewrite_path(p, selector, read))?),
        Template::Jsonata(_) => return None,
    })
}

/// `$.f.rest` as the selector's path for `f` followed by `rest`. Anything
/// else — `$` whole, a constant field, a context or variable path, which
/// would be read in the Map state rather than the iteration's — refuses.
fn rewrite_path(p: &JsonPath, selector: &[(Key, Template)], read: &mut [bool]) -> Option<JsonPath> {
    let f = p.first_field()?;
    let i = selector.iter().position(|(k, _)| k == f)?;
    read[i] = true;
    match &selector[i].1 {
        Template::Path(onto) => p.graft(onto),
        _ => None,
    }
}

/// The JSONata case of [`fuse_selector`].
fn fuse_jsonata(selector: &[(Key, Template)], start: &asl::State) -> Option<Fused> {
    let fusable = |t: &Template| matches!(t, Template::Const(_)) || selector_read(t).is_some();
    if start.assign.is_some() || !selector.iter().all(|(_, t)| fusable(t)) {
        return None;
    }
    let fused = rewrite_jsonata(start.output.as_ref()?, selector)?;
    // A read with fields can miss; `$states.input`, the index and the item
    // whole cannot.
    let must_find = selector.iter().filter_map(|(_, t)| selector_read(t)).filter(|r| !r.fields.is_empty());
    Some((fused, must_find.cloned().collect()))
}

/// What a JSONata selector field reads, if it is a bare read of the Map's
/// input or item.
fn selector_read(t: &Template) -> Option<&DirectRead> {
    match t {
        Template::Jsonata(j) => match &j.direct {
            Some(DirectExpr::Read(r))
                if matches!(r.root, DirectRoot::Input | DirectRoot::MapIndex | DirectRoot::MapValue) =>
            {
                Some(r)
            }
            _ => None,
        },
        _ => None,
    }
}

/// `t` with each expression's reads of `$states.input.f…` made from where
/// the selector's field `f` reads, evaluated only directly.
fn rewrite_jsonata(t: &Template, selector: &[(Key, Template)]) -> Option<Template> {
    Some(match t {
        Template::Const(v) => Template::Const(v.clone()),
        Template::Object(fields) => Template::Object(
            fields.iter().map(|(k, t)| Some((k.clone(), rewrite_jsonata(t, selector)?))).collect::<Option<_>>()?,
        ),
        Template::Array(items) => {
            Template::Array(items.iter().map(|t| rewrite_jsonata(t, selector)).collect::<Option<_>>()?)
        }
        Template::Jsonata(j) => {
            let direct = j.direct.as_ref()?.map_reads(&mut |r| rewrite_read(r, selector))?;
            Template::Jsonata(Arc::new(JsonataField {
                // Kept for the field's errors only: it is never evaluated.
                expr: crate::jsonata::Expression::parse(j.expr.source()).ok()?,
                field: j.field.clone(),
                context: j.context,
                direct: Some(direct),
                reads_random: false,
                direct_only: true,
            }))
        }
        Template::Path(_) | Template::Call(_) => return None,
    })
}

/// `$states.input.f.rest` as the selector's read for `f` followed by
/// `rest`. Anything else — `$states.input` whole, `$states.result`, a
/// constant field, a part of the index (a number) — refuses.
fn rewrite_read(r: &DirectRead, selector: &[(Key, Template)]) -> Option<DirectRead> {
    if r.root != DirectRoot::Input {
        return None;
    }
    let (f, rest) = r.fields.split_first()?;
    let (_, field) = selector.iter().find(|(k, _)| k == f)?;
    let onto = selector_read(field)?;
    if onto.root == DirectRoot::MapIndex && !rest.is_empty() {
        return None;
    }
    Some(DirectRead { root: onto.root, fields: onto.fields.iter().chain(rest).cloned().collect() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asl::StateMachine;

    fn parse(def: serde_json::Value) -> StateMachine {
        crate::validate::validate(&def, crate::validate::WorkflowType::Express).expect("a valid machine")
    }

    fn fused(selector: serde_json::Value, parameters: serde_json::Value) -> Option<Fused> {
        let m = parse(serde_json::json!({
            "StartAt": "M",
            "States": {"M": {"Type": "Map", "ItemSelector": selector, "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "S",
                "States": {"S": {"Type": "Pass", "Parameters": parameters, "End": true}}}, "End": true}}
        }));
        let StateKind::Map(map) = &m.states[0].kind else { panic!("a Map") };
        fuse_selector(map, &map.processor.states[0]).inspect(|(_, must_find)| assert!(must_find.is_empty()))
    }

    fn paths(t: &Template) -> Vec<String> {
        match t {
            Template::Object(f) => f.iter().flat_map(|(_, t)| paths(t)).collect(),
            Template::Path(p) => vec![p.to_string()],
            Template::Call(c) => c.paths().iter().map(|p| p.to_string()).collect(),
            _ => vec![],
        }
    }

    #[test]
    fn each_read_of_a_selector_field_is_grafted_onto_its_path() {
        let t = fused(
            serde_json::json!({"id.$": "$.deviceId", "i.$": "$$.Map.Item.Index", "r.$": "$$.Map.Item.Value"}),
            serde_json::json!({"k.$": "States.Format('{}#{}', $.id, $.i)", "v.$": "$.r.value[0]"}),
        )
        .expect("fusable")
        .0;
        assert_eq!(paths(&t), ["$.deviceId", "$$.Map.Item.Index", "$$.Map.Item.Value['value'][0]"]);
    }

    #[test]
    fn what_cannot_be_fused_is_refused() {
        let sel = serde_json::json!({"id.$": "$.deviceId", "r.$": "$$.Map.Item.Value"});
        // The whole selector object, a field it lacks, a context path of the
        // iteration's own, a random draw.
        for params in [
            serde_json::json!({"all.$": "$"}),
            serde_json::json!({"id.$": "$.id", "x.$": "$.nope"}),
            serde_json::json!({"id.$": "$.id", "s.$": "$$.State.Name"}),
            serde_json::json!({"id.$": "$.id", "u.$": "States.UUID()"}),
        ] {
            assert!(fused(sel.clone(), params.clone()).is_none(), "{params}");
        }
        // A selector field that can miss and is not read.
        assert!(fused(sel.clone(), serde_json::json!({"v.$": "$.r.value"})).is_none());
        // A selector field that cannot miss need not be read.
        assert!(fused(sel, serde_json::json!({"id.$": "$.id"})).is_some());
    }

    fn fused_jsonata(
        selector: serde_json::Value,
        output: serde_json::Value,
        extra: serde_json::Value,
    ) -> Option<Fused> {
        let mut first = serde_json::json!({"Type": "Pass", "Output": output, "Next": "E"});
        first.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let m = parse(serde_json::json!({
            "QueryLanguage": "JSONata", "StartAt": "M",
            "States": {"M": {"Type": "Map", "Items": "{% $states.input.items %}", "ItemSelector": selector,
                "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "S",
                    "States": {"S": first, "E": {"Type": "Succeed"}}}, "End": true}}
        }));
        let StateKind::Map(map) = &m.states[0].kind else { panic!("a Map") };
        fuse_selector(map, &map.processor.states[0])
    }

    /// Every read of the fused expressions, as `root.field…`, each marked
    /// when the expression is evaluated only directly.
    fn reads(t: &Template) -> Vec<String> {
        match t {
            Template::Object(f) => f.iter().flat_map(|(_, t)| reads(t)).collect(),
            Template::Array(items) => items.iter().flat_map(reads).collect(),
            Template::Jsonata(j) => {
                let mut out = Vec::new();
                j.direct.as_ref().expect("a direct form").map_reads(&mut |r: &DirectRead| {
                    let fields = r.fields.iter().map(|f| format!(".{}", &**f)).collect::<String>();
                    out.push(format!("{:?}{fields}{}", r.root, if j.direct_only { "" } else { " (not direct only)" }));
                    Some(())
                });
                out
            }
            _ => vec![],
        }
    }

    #[test]
    fn each_jsonata_read_of_a_selector_field_is_grafted_onto_its_read() {
        let selector = serde_json::json!({
            "id": "{% $states.input.deviceId %}", "i": "{% $states.context.Map.Item.Index %}",
            "r": "{% $states.context.Map.Item.Value %}", "all": "{% $states.input %}", "tag": "t"
        });
        let t = fused_jsonata(
            selector,
            serde_json::json!({
                "key": "{% $states.input.id & '#' & $states.input.i %}", "v": "{% $states.input.r.value %}",
                "hot": "{% $states.input.r.value > 80 and $states.input.all.on = true %}",
                "m": "{% $merge([$states.input.r, {'k': $states.input.id}]) %}", "lit": [1, "two"]
            }),
            serde_json::json!({}),
        )
        .expect("fusable");
        // Only the device id can miss: it is read for every item first.
        assert_eq!(
            t.1.iter().map(|r| format!("{:?}{:?}", r.root, r.fields)).collect::<Vec<_>>(),
            ["Input[\"deviceId\"]"]
        );
        assert_eq!(
            reads(&t.0),
            [
                "Input.deviceId",
                "MapIndex",
                "MapValue.value",
                "MapValue.value",
                "Input.on",
                "MapValue",
                "Input.deviceId"
            ]
        );
    }

    #[test]
    fn what_cannot_be_fused_in_jsonata_is_refused() {
        let sel = serde_json::json!({
            "id": "{% $states.input.deviceId %}", "i": "{% $states.context.Map.Item.Index %}",
            "r": "{% $states.context.Map.Item.Value %}"
        });
        let base = serde_json::json!({"id": "{% $states.input.id %}", "v": "{% $states.input.r.value %}"});
        let with = |k: &str, v: &str| {
            let mut o = base.clone();
            o[k] = serde_json::Value::from(v);
            o
        };
        assert!(fused_jsonata(sel.clone(), base.clone(), serde_json::json!({})).is_some());
        // The selector object whole, a field it lacks, a part of the index,
        // the context inside the iteration, an expression without a direct
        // form, a random draw.
        for output in [
            with("x", "{% $states.input %}"),
            with("x", "{% $states.input.nope %}"),
            with("x", "{% $states.input.i.x %}"),
            with("x", "{% $states.context.Map.Item.Index %}"),
            with("x", "{% $uppercase($states.input.id) %}"),
            with("x", "{% $states.input.r.value + 1 %}"),
            with("x", "{% $random() %}"),
            serde_json::Value::from("{% $states.input %}"),
        ] {
            assert!(fused_jsonata(sel.clone(), output.clone(), serde_json::json!({})).is_none(), "{output}");
        }
        // The start state assigns.
        assert!(fused_jsonata(sel.clone(), base.clone(), serde_json::json!({"Assign": {"x": 1}})).is_none());
        // A selector field that is not a bare read.
        let mut computed = sel.clone();
        computed["n"] = serde_json::Value::from("{% $count($states.input.items) %}");
        assert!(fused_jsonata(computed, base.clone(), serde_json::json!({})).is_none());
        // A selector field that can miss is found for every item, read or not.
        let mut unread = sel;
        unread["u"] = serde_json::Value::from("{% $states.input.unread.x %}");
        unread["all"] = serde_json::Value::from("{% $states.input %}");
        let (_, must_find) = fused_jsonata(unread, base, serde_json::json!({})).expect("fusable");
        let must_find: Vec<_> =
            must_find.iter().map(|r| r.fields.iter().map(|f| f.to_string()).collect::<Vec<_>>()).collect();
        assert_eq!(must_find, [vec!["deviceId"], vec!["unread", "x"]]);
    }
}
