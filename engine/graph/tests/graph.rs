//! The graph of the reference machines against checked-in renderings
//! (`tests/snapshots/`), and the properties every rendering keeps: one
//! box per state, user text escaped, well-formed SVG, the same output
//! every time, bounded size. An intended layout change shows up as a
//! snapshot diff; rewrite them with
//! `UPDATE_SNAPSHOTS=1 cargo test -p expressway-graph --test graph`
//! and review them like code.

use expressway_engine::asl::{StateKind, StateMachine};
use expressway_graph::{Format, Graph, MAX_LABEL_CHARS, MAX_NAME_CHARS, draw, layout, parse, render};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The reference machines: (snapshot stem, definition text).
fn reference_machines() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for dir in ["benches/machines", "config/examples/machines"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(repo_root().join(dir))
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.to_string_lossy().ends_with(".asl.json"))
            .collect();
        files.sort();
        for f in files {
            let stem = f.file_name().and_then(|n| n.to_str()).unwrap_or_default().trim_end_matches(".asl.json");
            out.push((stem.to_string(), std::fs::read_to_string(&f).expect("read machine")));
        }
    }
    assert!(out.len() >= 4, "reference machines missing: {}", out.len());
    out
}

/// A machine that uses every kind of state, edge and JSONPath rule.
fn every_feature() -> Value {
    json!({
        "StartAt": "Route",
        "States": {
            "Route": {"Type": "Choice", "Choices": [
                {"And": [{"Variable": "$.kind", "StringEquals": "bulk"}, {"Not": {"Variable": "$.n", "NumericLessThanEquals": 3}}], "Next": "Both"},
                {"Variable": "$.name", "StringMatches": "log-*.t\\*t", "Next": "Pause"},
                {"Or": [{"Variable": "$.a", "IsNull": false}, {"Variable": "$.b", "NumericGreaterThanPath": "$.c"}], "Next": "Pause"},
                {"Variable": "$.at", "TimestampLessThan": "2024-01-01T00:00:00Z", "Next": "Fail"}
            ], "Default": "Work"},
            "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Route"},
            "Work": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Retry": [{"ErrorEquals": ["States.Timeout"], "MaxAttempts": 2}, {"ErrorEquals": ["States.ALL"]}],
                "Catch": [{"ErrorEquals": ["States.TaskFailed", "Custom"], "Next": "Fail"}],
                "End": true},
            "Both": {"Type": "Parallel", "Branches": [
                {"StartAt": "Left", "States": {"Left": {"Type": "Pass", "End": true}}},
                {"StartAt": "Right", "States": {
                    "Right": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "Next": "Done"},
                    "Done": {"Type": "Succeed"}}}
            ], "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Fail"}], "Next": "Finish"},
            "Finish": {"Type": "Succeed"},
            "Fail": {"Type": "Fail", "Error": "Failed"}
        }
    })
}

fn machines() -> Vec<(String, String)> {
    let mut all = reference_machines();
    all.push(("every-feature".into(), every_feature().to_string()));
    all
}

fn drawn(text: &str, format: Format) -> String {
    draw(text, format).unwrap_or_else(|d| panic!("invalid definition: {d:?}"))
}

/// Compare with the snapshot `file`, or rewrite it when updating.
fn check_snapshot(file: &str, actual: &str) -> Result<(), String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(file);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|v| v == "1") {
        std::fs::write(&path, actual).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        return Ok(());
    }
    let expected = std::fs::read_to_string(&path)
        .map_err(|e| format!("{}: {e} (UPDATE_SNAPSHOTS=1 creates it)", path.display()))?;
    if expected == actual {
        return Ok(());
    }
    let first = expected.lines().zip(actual.lines()).position(|(a, b)| a != b);
    let line = first.unwrap_or(expected.lines().count().min(actual.lines().count()));
    Err(format!(
        "{} differs from the rendering at line {} (UPDATE_SNAPSHOTS=1 rewrites it):\n- {}\n+ {}",
        path.display(),
        line + 1,
        expected.lines().nth(line).unwrap_or("<end>"),
        actual.lines().nth(line).unwrap_or("<end>")
    ))
}

#[test]
fn renderings_match_their_snapshots() {
    let mut failures = Vec::new();
    for (stem, text) in machines() {
        for (format, ext) in [(Format::Svg, "svg"), (Format::Mermaid, "mmd")] {
            if let Err(e) = check_snapshot(&format!("{stem}.{ext}"), &drawn(&text, format)) {
                failures.push(e);
            }
        }
    }
    for stem in ["order-saga", "every-feature"] {
        let text = machines().into_iter().find(|(s, _)| s == stem).map(|(_, t)| t).expect("machine");
        if let Err(e) = check_snapshot(&format!("{stem}.dot"), &drawn(&text, Format::Dot)) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Every state of a machine, nested ones included (bounded by the parser's nesting).
fn count_states(m: &StateMachine) -> usize {
    m.states
        .iter()
        .map(|s| {
            1 + match &s.kind {
                StateKind::Parallel { branches } => branches.iter().map(count_states).sum(),
                StateKind::Map(map) => count_states(&map.processor),
                _ => 0,
            }
        })
        .sum()
}

#[test]
fn every_state_has_exactly_one_box() {
    for (stem, text) in machines() {
        let machine = parse(&text).expect("valid");
        let states = count_states(&machine);
        let graph = layout(&machine);
        assert_eq!(graph.states().count(), states, "{stem}: graph nodes");
        let svg = render(&graph, Format::Svg);
        assert_eq!(svg.matches(" data-state=\"").count(), states, "{stem}: data-state attributes");
        assert_eq!(svg.matches(" id=\"xw-s:").count(), states, "{stem}: state ids");
        let mut ids: Vec<&str> = graph.nodes.iter().map(|n| n.id.as_str()).collect();
        ids.extend(graph.frames.iter().map(|f| f.id.as_str()));
        let before = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), before, "{stem}: node and frame ids are unique");
    }
}

#[test]
fn the_layout_follows_its_rules_on_the_saga() {
    let text = std::fs::read_to_string(repo_root().join("config/examples/machines/order-saga.asl.json")).expect("read");
    let g = layout(&parse(&text).expect("valid"));
    let row = |id: &str| g.nodes.iter().find(|n| n.id == id).map(|n| n.row).expect(id);
    // Next chain: rank 0..3 in rows 1..4; catch-only targets one below their catcher.
    assert_eq!(["ReserveInventory", "ChargePayment", "CreateShipment", "OrderPlaced"].map(row), [1, 2, 3, 4]);
    assert_eq!(["OrderFailed", "ReleaseInventory", "RefundPayment"].map(row), [2, 3, 4]);
    // Rows are top to bottom, and a row's states left to right in discovery order.
    let rect = |id: &str| g.nodes.iter().find(|n| n.id == id).map(|n| n.rect).expect(id);
    assert!(rect("ChargePayment").y > rect("ReserveInventory").bottom());
    assert_eq!(rect("ChargePayment").y, rect("OrderFailed").y);
    assert!(rect("ChargePayment").right() < rect("OrderFailed").x);
    // RefundPayment → ReleaseInventory goes up a row: a back edge.
    let e = g.edges.iter().find(|e| e.from == "RefundPayment" && e.to == "ReleaseInventory").expect("edge");
    assert!(e.back);
    let catch = g.edges.iter().find(|e| e.from == "ReserveInventory" && e.to == "OrderFailed").expect("catch");
    assert_eq!(
        (catch.kind, catch.label.as_str(), catch.back),
        (expressway_graph::EdgeKind::Catch, "States.ALL", false)
    );
    // Everything fits in the canvas.
    for n in &g.nodes {
        assert!(n.rect.x >= 0 && n.rect.y >= 0 && n.rect.right() <= g.width && n.rect.bottom() <= g.height, "{n:?}");
    }
    for p in g.edges.iter().flat_map(|e| &e.points) {
        assert!(p.x >= 0 && p.y >= 0 && p.x <= g.width && p.y <= g.height, "{p:?}");
    }
}

#[test]
fn choice_rules_and_retriers_are_labelled_compactly() {
    let g = layout(&parse(&every_feature().to_string()).expect("valid"));
    let labels: Vec<&str> = g.edges.iter().filter(|e| e.from == "Route").map(|e| e.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "And($.kind == \"bulk\", Not($.n <= 3))",
            "$.name matches \"log-*.t\\*t\"",
            "Or(!IsNull($.a), $.b > $.c)",
            "$.at < \"2024-01-01T00:00:00+00:00\"",
            "default"
        ]
    );
    let retries: Vec<&str> =
        g.edges.iter().filter(|e| e.kind == expressway_graph::EdgeKind::Retry).map(|e| e.label.as_str()).collect();
    assert_eq!(retries, ["retry States.Timeout ×2", "retry States.ALL ×3"]);
    let jsonata =
        std::fs::read_to_string(repo_root().join("benches/machines/iot-fanout-jsonata.asl.json")).expect("read");
    let g = layout(&parse(&jsonata).expect("valid"));
    let condition = g
        .edges
        .iter()
        .find(|e| e.from == "CheckBatch" && e.kind == expressway_graph::EdgeKind::Choice)
        .expect("choice");
    assert!(condition.label.starts_with("$states.input.reading.kind = 'temperature' and"), "{}", condition.label);
    assert!(condition.label.ends_with('…') && condition.label.chars().count() == MAX_LABEL_CHARS);
}

/// A machine whose names, rules and errors try to break out of every format.
fn hostile() -> String {
    let evil = "<script>alert(\"x&y\")</script>]-->|z|;%%\n'`#~/\\";
    let name = |s: &str| format!("{s} {}", &evil[..evil.len().min(70 - s.len())]);
    let (a, b, c) = (name("A"), name("B"), name("C"));
    json!({
        "StartAt": a,
        "States": {
            a.clone(): {"Type": "Choice", "Choices": [
                {"Variable": "$.x", "StringEquals": evil, "Next": b.clone()}
            ], "Default": c.clone()},
            b.clone(): {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Retry": [{"ErrorEquals": [evil]}],
                "Catch": [{"ErrorEquals": [evil], "Next": c.clone()}], "End": true},
            c.clone(): {"Type": "Map", "ItemProcessor": {"StartAt": "In <x>", "States": {"In <x>": {"Type": "Pass", "End": true}}}, "End": true}
        }
    })
    .to_string()
}

#[test]
fn hostile_names_and_rules_are_escaped_in_every_format() {
    let text = hostile();
    let svg = drawn(&text, Format::Svg);
    well_formed_xml(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
    assert!(!svg.contains("<script"), "{svg}");
    assert!(svg.contains("data-state=\"A &lt;script&gt;alert(&quot;x&amp;y&quot;)"), "{svg}");
    assert!(svg.contains("&#10;"), "a newline in a name is kept, escaped, in data-state");
    assert_eq!(svg.matches(" data-state=\"").count(), 4);

    let dot = drawn(&text, Format::Dot);
    // Outside quoted strings there is nothing but DOT syntax: every quote
    // that is not escaped opens or closes a string, so they pair up per line.
    for line in dot.lines() {
        let unescaped = line.replace("\\\\", "").replace("\\\"", "");
        assert_eq!(unescaped.matches('"').count() % 2, 0, "{line}");
        assert!(!line.contains('\n'));
    }
    assert!(dot.contains("<script") && !dot.contains("=<"), "labels are quoted strings, never HTML-like labels");

    let mermaid = drawn(&text, Format::Mermaid);
    for line in mermaid.lines() {
        // Inside labels no quote, pipe, angle bracket or backtick survives.
        let labels: Vec<&str> = line.split('"').skip(1).step_by(2).collect();
        for l in labels {
            for bad in ['<', '>', '|', '`'] {
                assert!(!l.contains(bad), "{bad:?} in label {l:?} of {line}");
            }
        }
        assert_eq!(line.matches('"').count() % 2, 0, "{line}");
    }
    assert!(mermaid.lines().all(|l| !l.trim_start().starts_with("%%")), "no line is a comment");
}

/// Well-formed XML: every token parses, tags balance, entity references
/// are ones XML defines.
fn well_formed_xml(text: &str) -> Result<(), String> {
    use xmlparser::{ElementEnd, Token, Tokenizer};
    let mut open: Vec<String> = Vec::new();
    let entities_ok = |s: &str| -> bool {
        s.split('&').skip(1).all(|rest| {
            let Some(end) = rest.find(';') else { return false };
            let name = &rest[..end];
            matches!(name, "amp" | "lt" | "gt" | "quot" | "apos")
                || name.strip_prefix('#').is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
    };
    let mut roots = 0;
    for token in Tokenizer::from(text) {
        match token.map_err(|e| e.to_string())? {
            Token::ElementStart { local, .. } => {
                if open.is_empty() {
                    roots += 1;
                }
                open.push(local.as_str().to_string());
            }
            Token::ElementEnd { end: ElementEnd::Close(_, local), .. } => {
                let top = open.pop().ok_or("close without open")?;
                if top != local.as_str() {
                    return Err(format!("</{}> closes <{top}>", local.as_str()));
                }
            }
            Token::ElementEnd { end: ElementEnd::Empty, .. } => {
                open.pop().ok_or("empty close without open")?;
            }
            Token::Attribute { value, .. } if !entities_ok(value.as_str()) || value.as_str().contains('<') => {
                return Err(format!("bad attribute value {:?}", value.as_str()));
            }
            Token::Text { text } if !entities_ok(text.as_str()) => {
                return Err(format!("bad text {:?}", text.as_str()));
            }
            _ => {}
        }
    }
    if roots != 1 || !open.is_empty() {
        return Err(format!("{roots} root elements, {open:?} left open"));
    }
    Ok(())
}

#[test]
fn every_svg_is_well_formed_xml() {
    for (stem, text) in machines() {
        let svg = drawn(&text, Format::Svg);
        well_formed_xml(&svg).unwrap_or_else(|e| panic!("{stem}: {e}"));
        assert!(!svg.contains("<script") && !svg.contains("href"), "{stem}: self-contained, no scripts or links");
    }
    assert!(well_formed_xml("<a><b></a>").is_err() && well_formed_xml("<a>&nbsp;</a>").is_err());
}

#[test]
fn rendering_is_deterministic() {
    for (stem, text) in machines().into_iter().chain([("hostile".to_string(), hostile())]) {
        let first: Graph = layout(&parse(&text).expect("valid"));
        let second: Graph = layout(&parse(&text).expect("valid"));
        assert_eq!(first, second, "{stem}");
        for format in [Format::Svg, Format::Dot, Format::Mermaid] {
            assert_eq!(drawn(&text, format), drawn(&text, format), "{stem} {format:?}");
        }
    }
}

/// A chain of `n` states, every 10th a Choice with 30 rules of long
/// conditions, each name 80 characters.
fn large(n: usize) -> String {
    let name = |i: usize| format!("{i:0>80}");
    let mut states = serde_json::Map::new();
    for i in 0..n {
        let next = if i + 1 < n { json!({"Next": name(i + 1)}) } else { json!({"End": true}) };
        let state = if i % 10 == 0 && i + 1 < n {
            let choices: Vec<Value> = (0..20)
                .map(|k| json!({"Variable": format!("$.{}", "v".repeat(400)), "StringEquals": format!("{k}{}", "x".repeat(4000)), "Next": name(i + 1)}))
                .collect();
            json!({"Type": "Choice", "Choices": choices, "Default": name(i + 1)})
        } else {
            let mut s = json!({"Type": "Pass"});
            s.as_object_mut().expect("object").extend(next.as_object().expect("object").clone());
            s
        };
        states.insert(name(i), state);
    }
    json!({"StartAt": name(0), "States": states}).to_string()
}

#[test]
fn a_large_definition_stays_bounded() {
    // Within AWS's 1,048,576 characters (a longer one is not drawn at all).
    let text = large(100);
    assert!(text.len() > 800_000 && text.len() < 1 << 20, "{}", text.len());
    let graph = layout(&parse(&text).expect("valid"));
    assert!(graph.nodes.iter().all(|n| n.label.chars().count() <= MAX_NAME_CHARS));
    assert!(graph.edges.iter().all(|e| e.label.chars().count() <= MAX_LABEL_CHARS));
    let items = graph.nodes.len() + graph.edges.len();
    for format in [Format::Svg, Format::Dot, Format::Mermaid] {
        let out = render(&graph, format);
        // A state's box or an edge costs a few hundred bytes, whatever its text held.
        assert!(out.len() < 700 * items, "{format:?}: {} bytes for {items} items", out.len());
        assert!(out.len() < text.len() / 4, "{format:?}: {} bytes for a {}-byte definition", out.len(), text.len());
    }
}

/// Parallel states nested `depth` deep.
fn nested(depth: usize) -> String {
    let mut machine = json!({"StartAt": "Leaf", "States": {"Leaf": {"Type": "Pass", "End": true}}});
    for i in 0..depth {
        machine = json!({"StartAt": format!("P{i}"), "States": {format!("P{i}"): {"Type": "Parallel", "Branches": [machine], "End": true}}});
    }
    machine.to_string()
}

#[test]
fn the_deepest_definition_the_parser_accepts_lays_out_on_a_small_stack() {
    // The parser bounds nesting through the JSON's depth; find its limit.
    let deepest = (1..200).take_while(|&d| parse(&nested(d)).is_ok()).last().expect("some nesting parses");
    assert!(deepest < 200 && parse(&nested(deepest + 1)).is_err(), "deepest {deepest}");
    let text = nested(deepest);
    let out = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let g = layout(&parse(&text).expect("valid"));
            let formats = [Format::Svg, Format::Dot, Format::Mermaid].map(|f| render(&g, f));
            (g.frames.len(), formats.map(|s| s.len()))
        })
        .expect("spawn")
        .join()
        .expect("no stack overflow");
    assert_eq!(out.0, deepest.min(expressway_graph::MAX_NESTING), "frames drawn down to the nesting bound");
    assert!(out.1.iter().all(|&len| len < 200_000), "{:?}", out.1);
}

#[test]
fn state_node_ids_follow_the_compilers_state_numbering() {
    for (stem, text) in machines() {
        let machine = parse(&text).expect("valid");
        let program = expressway_engine::program::compile(&machine);
        let graph = layout(&machine);
        let ids = expressway_graph::state_node_ids(&machine);
        assert_eq!(ids.len(), program.states.len(), "{stem}: one id per compiled state");
        for (i, id) in ids.iter().enumerate() {
            let node = graph.nodes.iter().find(|n| &n.id == id).unwrap_or_else(|| panic!("{stem}: no node {id}"));
            assert_eq!(node.name, &*program.states[i].name, "{stem}: state {i}");
        }
    }
}

#[test]
fn a_wide_parallel_lays_out_without_overlapping_branches() {
    let branches: Vec<Value> = (0..500)
        .map(|i| json!({"StartAt": format!("S{i}"), "States": {format!("S{i}"): {"Type": "Pass", "End": true}}}))
        .collect();
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": branches, "End": true}}});
    let graph = layout(&parse(&def.to_string()).expect("valid"));
    let mut frames: Vec<_> = graph.frames.iter().map(|f| f.rect).collect();
    frames.sort_by_key(|r| r.x);
    assert_eq!(frames.len(), 500);
    assert!(frames.windows(2).all(|w| w[0].right() < w[1].x), "branch frames side by side");
    assert!(frames.last().is_some_and(|r| r.right() < graph.width), "inside the graph");
}

/// A graph is drawn only of a definition `validate` takes: one past AWS's
/// 1,048,576 characters is refused before it is read, as `validate` refuses it.
#[test]
fn a_definition_past_awss_length_limit_is_not_drawn() {
    let padding = " ".repeat(expressway_engine::MAX_DEFINITION_CHARS);
    let text = format!(r#"{{"StartAt":"A","States":{{"A":{{"Type":"Succeed"}}}}}}{padding}"#);
    let diags = draw(&text, Format::Svg).expect_err("too long to draw");
    assert_eq!(diags.len(), 1);
    assert!(diags[0].message.contains("longer than AWS's limit of 1048576 characters"), "{}", diags[0].message);
    assert!(draw(text.trim_end(), Format::Svg).is_ok(), "the same machine within the limit is drawn");
}
