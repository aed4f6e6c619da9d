//! `expressway graph FILE [--format svg|dot|mermaid]`: the state graph,
//! laid out and rendered by `expressway-graph`.

use crate::cli::GraphFormat;
use crate::common::read_definition;
use expressway_graph::Format;
use std::path::Path;
use std::process::ExitCode;

pub fn cmd_graph(definition: &Path, format: GraphFormat) -> Result<ExitCode, String> {
    let format = match format {
        GraphFormat::Svg => Format::Svg,
        GraphFormat::Dot => Format::Dot,
        GraphFormat::Mermaid => Format::Mermaid,
    };
    match expressway_graph::draw(&read_definition(definition)?, format) {
        Ok(text) => {
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Err(diags) => {
            // The output is a drawing: problems go to standard error, as `validate` words them.
            for d in &diags {
                eprintln!("{d}\n");
            }
            eprintln!("{}: {} problem(s)", definition.display(), diags.len());
            Ok(ExitCode::from(2))
        }
    }
}
