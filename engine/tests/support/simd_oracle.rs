//! The oracle the payload parser is compared with: simd-json's tape and the
//! reader that built values from it until stop 33, as it was. Shared by
//! `engine/tests/payload_parser.rs` and the fuzz target `json_reader`.

use expressway_engine::bounds::{MAX_DEPTH, MAX_NUMBER_LEN, Measure};
use expressway_engine::value::{Key, Object, Value};

/// What simd-json made of `text`: the value built from its tape and the
/// bound the old reader reported.
pub fn oracle(text: &[u8]) -> Result<(Value, Measure), String> {
    let mut bytes = text.to_vec();
    let mut buffers = simd_json::Buffers::with_max_depth(bytes.len().max(4096), MAX_DEPTH);
    let tape = simd_json::to_tape_with_buffers(&mut bytes, &mut buffers).map_err(|e| e.to_string())?;
    let mut numbers = 0;
    let (v, _, depth) = from_tape(&tape.0, 0, &mut numbers);
    let bytes = text.len().saturating_add(numbers * (MAX_NUMBER_LEN - 1));
    Ok((v, Measure { bytes, depth }))
}

/// The reader simd-json fed until stop 33, as it was.
fn from_tape(nodes: &[simd_json::Node<'_>], i: usize, numbers: &mut usize) -> (Value, usize, usize) {
    use simd_json::{Node, StaticNode};
    match nodes.get(i) {
        Some(Node::String(s)) => (Value::from(*s), i + 1, 0),
        Some(Node::Static(StaticNode::Null)) | None => (Value::Null, i + 1, 0),
        Some(Node::Static(StaticNode::Bool(b))) => (Value::Bool(*b), i + 1, 0),
        Some(Node::Static(StaticNode::I64(n))) => {
            *numbers += 1;
            (Value::from(*n), i + 1, 0)
        }
        Some(Node::Static(StaticNode::U64(n))) => {
            *numbers += 1;
            (Value::from(*n), i + 1, 0)
        }
        Some(Node::Static(StaticNode::F64(f))) => {
            *numbers += 1;
            (Value::from(*f), i + 1, 0)
        }
        Some(Node::Array { len, .. }) => {
            let mut items = Vec::with_capacity(*len);
            let (mut j, mut inner) = (i + 1, 0);
            for _ in 0..*len {
                let (v, next, depth) = from_tape(nodes, j, numbers);
                items.push(v);
                j = next;
                inner = inner.max(depth);
            }
            (Value::array(items), j, inner + 1)
        }
        Some(Node::Object { len, .. }) => {
            let mut o = Object::new();
            let (mut j, mut inner) = (i + 1, 0);
            for _ in 0..*len {
                let key = match nodes.get(j) {
                    Some(Node::String(k)) => Key::intern(k),
                    _ => Key::from_static(""),
                };
                let (v, next, depth) = from_tape(nodes, j + 1, numbers);
                o.insert(key, v);
                j = next;
                inner = inner.max(depth);
            }
            (Value::object(o), j, inner + 1)
        }
    }
}
