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
//! Nothing changes in outcome: the VM takes the usual way — selector objects,
//! then iterations — as soon as one item's rewritten template fails or the
//! selector's objects are not proven within the payload bounds, so every
//! error, its cause and the state it names are exactly as without fusion.

use crate::asl::{self, MapState, StateKind, Template};
use crate::jsonpath::{JsonPath, Root};
use crate::value::Key;

/// How the iterations of an inline Map start without their selector objects.
#[derive(Debug, Clone)]
pub struct FusedStart {
    /// The start state's `Parameters`, reading the Map's input and item.
    pub parameters: Template,
    /// Where the iterations start: the start state's instruction after its
    /// `Parameters`.
    pub start_pc: u32,
}

/// The start state's `Parameters` rewritten onto the Map's `ItemSelector`,
/// where the two can be fused (see the module doc); `None` elsewhere.
pub fn fuse_selector(map: &MapState, start: &asl::State) -> Option<Template> {
    if map.jsonata || map.batcher.is_some() || map.result_writer.is_some() || map.item_reader.is_some() {
        return None;
    }
    let Some(Template::Object(selector)) = &map.item_selector else {
        return None;
    };
    if !selector.iter().all(|(_, t)| fusable_field(t)) {
        return None;
    }
    let StateKind::Pass { .. } = start.kind else {
        return None;
    };
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
    (!unread_can_miss).then_some(fused)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asl::StateMachine;

    fn parse(def: serde_json::Value) -> StateMachine {
        crate::validate::validate(&def, crate::validate::WorkflowType::Express).expect("a valid machine")
    }

    fn fused(selector: serde_json::Value, parameters: serde_json::Value) -> Option<Template> {
        let m = parse(serde_json::json!({
            "StartAt": "M",
            "States": {"M": {"Type": "Map", "ItemSelector": selector, "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "S",
                "States": {"S": {"Type": "Pass", "Parameters": parameters, "End": true}}}, "End": true}}
        }));
        let StateKind::Map(map) = &m.states[0].kind else { panic!("a Map") };
        fuse_selector(map, &map.processor.states[0])
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
        .expect("fusable");
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
}
