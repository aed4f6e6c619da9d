//! Deeply nested expressions are parse errors, not stack overflows: Rust
//! cannot catch an overflow, so before the parsers bounded their nesting
//! each of these aborted the whole process. Every test runs on a thread
//! with a 2 MiB stack, the size the runtime's shard threads get.

mod support;
use expressway_engine::intrinsics::{self, Call};
use expressway_engine::jsonata::{self, Expression, MAX_NESTING};
use expressway_engine::validate::{Code, validate};
use expressway_engine::{Status, WorkflowType};
use serde_json::{Value, json};
use support::*;

const DEEP: usize = 100_000;

/// Run `f` on a thread with a 2 MiB stack; an overflow would abort the test binary.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new().stack_size(2 << 20).spawn(f).unwrap().join().unwrap()
}

fn nest(open: &str, inner: &str, close: &str, n: usize) -> String {
    let mut s = String::with_capacity(n * (open.len() + close.len()) + inner.len());
    for _ in 0..n {
        s.push_str(open);
    }
    s.push_str(inner);
    for _ in 0..n {
        s.push_str(close);
    }
    s
}

/// Expressions nested `n` deep, each shape the parser recurses on.
fn shapes(n: usize) -> Vec<(&'static str, String)> {
    let chain = |op: &str, operand: &str| {
        let mut s = String::from(operand);
        for _ in 0..n {
            s.push_str(op);
            s.push_str(operand);
        }
        s
    };
    vec![
        ("parentheses", nest("(", "1", ")", n)),
        ("arrays", nest("[", "1", "]", n)),
        ("objects", nest("{\"a\":", "1", "}", n)),
        ("unary minus", nest("-", "1", "", n)),
        ("calls", nest("$string(", "1", ")", n)),
        ("conditions", nest("true ? ", "1", " : 2", n)),
        ("lambdas", nest("function($x){", "1", "}", n)),
        ("right-nested binds", nest("$a := ", "1", "", n)),
        ("left-nested sums", chain(" + ", "1")),
        ("paths", chain(".", "a")),
        ("predicates", nest("", "a", "[0]", n)),
        ("applications", nest("", "1", " ~> $string()", n)),
    ]
}

fn parse_error(src: &str) -> jsonata::Error {
    match Expression::parse(src) {
        Ok(_) => panic!("an expression nested too deep parsed"),
        Err(e) => e,
    }
}

#[test]
fn jsonata_nested_100k_deep_is_a_parse_error() {
    on_small_stack(|| {
        for (shape, src) in shapes(DEEP) {
            let e = parse_error(&src);
            assert_eq!(e.code, "U1001", "{shape}: {e}");
            assert!(e.message.contains("nested more than"), "{shape}: {e}");
        }
    });
}

#[test]
fn jsonata_nested_just_past_the_limit_is_a_parse_error_and_just_below_parses() {
    on_small_stack(|| {
        let limit = MAX_NESTING as usize;
        // The top-level expression is one level; each bracket adds one.
        for (shape, src) in shapes(limit) {
            assert!(Expression::parse(&src).is_err(), "{shape} at {limit}");
        }
        for (shape, src) in shapes(limit - 2) {
            if let Err(e) = Expression::parse(&src) {
                panic!("{shape} at {}: {e}", limit - 2);
            }
        }
        // The deepest parenthesised expression the parser accepts.
        let src = nest("(", "1", ")", limit - 1);
        let expr = Expression::parse(&src).expect("parses");
        // Somewhat shallower still evaluates within the evaluator's own budget.
        let src = nest("[", "1", "]", limit / 2);
        let expr2 = Expression::parse(&src).expect("parses");
        let v = expr2.evaluate(None, jsonata::Environment::default());
        assert!(v.is_ok(), "{:?}", v.err());
        drop(expr);
    });
}

#[test]
fn eval_of_a_100k_deep_string_at_run_time_fails_the_state() {
    let r = on_small_stack(|| {
        let def = json!({"QueryLanguage": "JSONata", "StartAt": "S", "States": {
            "S": {"Type": "Pass", "Output": "{% $eval($states.input.e) %}", "End": true}}});
        let mut out = Vec::new();
        for (shape, src) in shapes(DEEP) {
            let r = run(def.clone(), json!({"e": src}));
            out.push((shape, r.status, r.error, r.cause));
        }
        // Just below the limit still evaluates.
        let r = run(def, json!({"e": nest("(", "1", ")", 150)}));
        out.push(("shallow", r.status, r.error, r.output.map(|o| o.to_string())));
        out
    });
    let (_, status, _, output) = r.last().unwrap();
    assert_eq!((status, output.as_deref()), (&Status::Succeeded, Some("1")));
    for (shape, status, error, cause) in &r[..r.len() - 1] {
        assert_eq!(*status, Status::Failed, "{shape}");
        assert_eq!(error.as_deref(), Some("States.QueryEvaluationError"), "{shape}");
        let cause = cause.as_deref().unwrap_or_default();
        assert!(
            cause.contains("D3120") || cause.contains("Syntax error in expression passed to function eval"),
            "{shape}: {cause}"
        );
    }
}

#[test]
fn a_definition_with_a_100k_deep_expression_is_a_validation_error() {
    let d = on_small_stack(|| {
        let def = json!({"QueryLanguage": "JSONata", "StartAt": "S", "States": {
            "S": {"Type": "Pass", "Output": format!("{{% {} %}}", nest("(", "1", ")", DEEP)), "End": true}}});
        match validate(&def, WorkflowType::Express) {
            Ok(_) => panic!("validated"),
            Err(d) => d.into_iter().map(|d| (d.code, d.pointer)).collect::<Vec<_>>(),
        }
    });
    assert!(d.iter().any(|(c, p)| *c == Code::BadJsonata && p == "/States/S/Output"), "{d:?}");
}

fn intrinsic(n: usize) -> String {
    nest("States.Format(", "'x'", ")", n)
}

#[test]
fn intrinsics_nested_100k_deep_are_a_parse_error_and_just_below_the_limit_parse() {
    on_small_stack(|| {
        for src in [intrinsic(DEEP), nest("States.Array(", "1", ")", DEEP), intrinsic(intrinsics::MAX_NESTING + 1)] {
            let e = Call::parse(&src).expect_err("too deep");
            assert!(e.to_string().contains("nested more than"), "{e}");
        }
        Call::parse(&intrinsic(intrinsics::MAX_NESTING)).expect("at the limit");
    });
}

#[test]
fn a_definition_with_a_100k_deep_intrinsic_is_a_validation_error() {
    let d = on_small_stack(|| {
        let def = json!({"StartAt": "S", "States": {
            "S": {"Type": "Pass", "Parameters": {"x.$": intrinsic(DEEP)}, "End": true}}});
        match validate(&def, WorkflowType::Express) {
            Ok(_) => panic!("validated"),
            Err(d) => d.into_iter().map(|d| (d.code, d.pointer)).collect::<Vec<_>>(),
        }
    });
    assert!(d.iter().any(|(c, p)| *c == Code::BadIntrinsic && p == "/States/S/Parameters/x.$"), "{d:?}");
}

#[test]
fn an_intrinsic_just_below_the_limit_runs() {
    let out = on_small_stack(|| {
        let def = json!({"StartAt": "S", "States": {
            "S": {"Type": "Pass", "Parameters": {"x.$": intrinsic(intrinsics::MAX_NESTING)}, "End": true}}});
        output(def, json!({}))
    });
    assert_eq!(out, json!({"x": "x"}));
    let _: Value = out;
}

/// A definition's JSONata holds at most 100 regular expressions (each
/// compiled up to 1 MiB; 400 Unicode `\w{100}` held 3 GB before): the
/// 101st is a validation error and the expressions after it are not
/// compiled. An `$eval`'d text pays for each one it compiles.
#[test]
fn a_definitions_regular_expressions_are_bounded() {
    let machine = |count: usize| {
        let states: serde_json::Map<String, serde_json::Value> = (0..count)
            .map(|i| {
                let next = if i + 1 == count { json!({"End": true}) } else { json!({"Next": format!("S{}", i + 1)}) };
                let mut state = json!({"Type": "Pass", "Output": format!("{{% $contains('a{i}', /a{i}/) %}}")});
                state.as_object_mut().unwrap().extend(next.as_object().unwrap().clone());
                (format!("S{i}"), state)
            })
            .collect();
        json!({"QueryLanguage": "JSONata", "StartAt": "S0", "States": states})
    };
    assert!(validate(&machine(100), WorkflowType::Express).is_ok());
    let d = match validate(&machine(101), WorkflowType::Express) {
        Ok(_) => panic!("validated"),
        Err(d) => d.into_iter().map(|d| (d.code, d.pointer, d.message)).collect::<Vec<_>>(),
    };
    assert!(
        d.iter().any(|(c, p, m)| *c == Code::BadJsonata && p == "/States/S100/Output" && m.contains("100 regular")),
        "{d:?}"
    );
    let def = json!({"QueryLanguage": "JSONata", "StartAt": "S", "States": {"S": {"Type": "Pass",
        "Output": "{% $count([1..1000].$eval('/a' & $string($) & '/')) %}", "End": true}}});
    let r = support::run(def, json!({}));
    assert_eq!(r.status, Status::Failed, "{r:?}");
    assert!(r.cause.as_deref().unwrap_or_default().contains("U1001"), "{r:?}");
}
