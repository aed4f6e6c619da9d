//! The graph of a state machine, for docs, CI and the web console: a pure
//! layout step ([`layout`]: a validated machine in, a [`Graph`] of placed
//! boxes, frames and edges out) and renderers of that one model
//! ([`svg`], [`dot`], [`mermaid`]). No threads, clocks or I/O; the same
//! definition always gives byte-for-byte the same output.
//!
//! # Layout rules
//!
//! Each machine — the top one, each Parallel branch, each Map's item
//! processor — is a *scope*, laid out on its own:
//!
//! 1. **Rank.** `StartAt` has rank 0. A breadth-first walk from it along
//!    `Next`, the Choice rules' `Next` (in order) and `Default` gives every
//!    state it meets the rank of the state it came from plus one (its
//!    shortest distance, not its longest). When the walk runs dry, the
//!    `Catch` targets not yet ranked, taken from their catchers in rank,
//!    then discovery order, are ranked one below their catcher and the walk
//!    goes on from them; this repeats until nothing changes. States still
//!    unranked (a validated machine has none) share the rank after the last.
//! 2. **Rows.** A state of rank `r` sits in row `r + 1`: row 0 holds the
//!    start marker, the row after the last rank the end marker. Within a
//!    row, states are ordered by first discovery, placed left to right a
//!    fixed gap apart and centred on the scope; rows are top-aligned, top
//!    to bottom (gaps: rule 5). A state's box is as wide as its name
//!    (clipped to [`MAX_NAME_CHARS`]) and its retry lines need.
//! 3. **Frames.** A Map or Parallel state is a box holding one frame per
//!    branch (one, "item processor", for a Map), side by side in
//!    `Branches` order, each frame laid out as a scope by these same rules.
//!    Frames nest at most [`MAX_NESTING`] deep; deeper ones are drawn
//!    empty.
//! 4. **Edges.** Start marker → `StartAt` (`start`); `Next` (`next`);
//!    each Choice rule (`choice`, labelled with the rule: JSONPath as
//!    `$.x > 3`, `And(…)`, `!IsNull($.y)`, JSONata `Condition` as its
//!    expression text); `Default` (`default`); each catcher (`catch`,
//!    dashed, labelled with its `ErrorEquals`); each retrier (`retry`, a
//!    loop on the box's left, labelled "retry E ×MaxAttempts" inside the
//!    box); `End: true`, Succeed and Fail → end marker (`end`). An edge into
//!    a row not below its source is a *back* edge: drawn, never ranking.
//! 5. **Routing.** An edge into the next row runs straight from its
//!    source's bottom to its target's top, exits and entries spread evenly
//!    along those sides; its label sits on it, a source's labels stacked
//!    one line apart under it. Every other edge (back, same-row, or
//!    skipping rows) leaves the source's bottom into a channel of the gap
//!    below, runs right to a lane of its own right of the scope, up or down
//!    it to a channel of the gap above its target, and enters the target's
//!    top; its label sits on the first channel. Each gap is as tall as its
//!    labels and channels need, and at least a fixed minimum.
//!
//! Every label is clipped to [`MAX_LABEL_CHARS`] characters (with `…`),
//! control characters blanked; every piece of user text is escaped for its
//! format. So the output grows linearly with the number of states and
//! transitions, whatever the names and rules hold.
//!
//! # Ids
//!
//! A state's node id is the names of the Map/Parallel states around it and
//! its own, joined with `/`, each with `~` written `~0` and `/` written
//! `~1` (as in a JSON Pointer): `FanOut/Label`. A branch frame is
//! `<state id>/~b<index>`; a scope's markers are `~start` and `~end`, or
//! `<frame id>/~start` and `<frame id>/~end`. No two can be equal.

mod dot;
mod escape;
mod ids;
mod label;
pub mod layout;
mod mermaid;
mod model;
mod rank;
mod scopes;
mod svg;

pub use ids::state_node_ids;
pub use layout::layout;
pub use model::{Anchor, Edge, EdgeKind, Frame, Graph, Node, NodeKind, Point, Rect};

use expressway_engine::asl::StateMachine;
use expressway_engine::validate::{Diagnostic, WorkflowType, validate};

/// A drawn state name's most characters (AWS allows 80).
pub const MAX_NAME_CHARS: usize = 40;
/// An edge label's most characters.
pub const MAX_LABEL_CHARS: usize = 48;
/// How deep Map and Parallel frames are drawn inside each other.
pub const MAX_NESTING: usize = 24;

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Svg,
    Dot,
    Mermaid,
}

/// The definition's machine, or every problem that keeps it from being one
/// (the same checks as `expressway validate`, duplicate keys included).
pub fn parse(text: &str) -> Result<StateMachine, Vec<Diagnostic>> {
    // Standard accepts every integration pattern; a graph draws them all.
    expressway_engine::read_definition(text, |value| validate(value, WorkflowType::Standard))
}

/// Render a laid-out graph.
pub fn render(graph: &Graph, format: Format) -> String {
    match format {
        Format::Svg => svg::render(graph),
        Format::Dot => dot::render(graph),
        Format::Mermaid => mermaid::render(graph),
    }
}

/// Parse, lay out and render a definition in one go.
pub fn draw(text: &str, format: Format) -> Result<String, Vec<Diagnostic>> {
    Ok(render(&layout(&parse(text)?), format))
}
