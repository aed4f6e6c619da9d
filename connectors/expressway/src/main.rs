//! `expressway`: the one binary and the composition root — the only place
//! that names the engine, the runtime, the configuration and the connectors
//! together. Each subcommand lives in a module of its own.

mod alloc;
mod bench;
mod cli;
mod common;
mod conformance;
mod exec;
mod graph;
mod run;
mod validate;

use clap::Parser;
use cli::{Cli, Command};
use std::process::ExitCode;

#[global_allocator]
static GLOBAL: alloc::CountingAlloc = alloc::CountingAlloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Exec {
            definition,
            input,
            mocks,
            test_case,
            state_machine,
            context,
            real_time,
            workflow_type,
            aws,
        } => {
            let tasks = if aws { exec::TaskSource::Aws } else { exec::TaskSource::Mocks(mocks.as_deref()) };
            exec::cmd_exec(
                &definition,
                &input,
                tasks,
                test_case.as_deref(),
                state_machine.as_deref(),
                context.as_deref(),
                real_time,
                workflow_type,
            )
        }
        Command::Run { config, from_start } => run::cmd_run(&config, from_start),
        Command::Serve { config, address } => run::cmd_serve(config.as_deref(), address.as_deref()),
        Command::Validate { config: Some(config), .. } => run::cmd_validate_config(&config),
        Command::Validate { definition: Some(definition), config: None, json, disassemble, workflow_type } => {
            validate::cmd_validate(&definition, json, disassemble, workflow_type)
        }
        Command::Validate { definition: None, config: None, .. } => {
            Err("validate needs a definition file or --config FILE".into())
        }
        Command::Graph { definition, format } => graph::cmd_graph(&definition, format),
        Command::Bench { definition, input, mocks, seconds } => {
            bench::cmd_bench(&definition, &input, mocks.as_deref(), seconds)
        }
        Command::Conformance { cases, out } => conformance::cmd_conformance(&cases, &out),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(3)
        }
    }
}
