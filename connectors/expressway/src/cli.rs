//! The command line: what `expressway` accepts.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// `expressway --version`: the crate version and the git commit it was built from.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("EXPRESSWAY_GIT_COMMIT"), ")");

#[derive(Parser)]
#[command(name = "expressway", version = VERSION, about = "Run AWS Step Functions state machines (ASL) at stream speed")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum TypeArg {
    #[value(name = "EXPRESS")]
    Express,
    #[value(name = "STANDARD")]
    Standard,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum GraphFormat {
    Svg,
    Dot,
    Mermaid,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run one execution and print one JSON object with its result.
    Exec {
        #[arg(long)]
        definition: PathBuf,
        /// Execution input; `-` reads standard input.
        #[arg(long)]
        input: PathBuf,
        /// A case's `mocks` list, or a Step Functions Local MockConfigFile.json (with --test-case).
        #[arg(long)]
        mocks: Option<PathBuf>,
        #[arg(long)]
        test_case: Option<String>,
        /// State machine name inside a MockConfigFile with several.
        #[arg(long)]
        state_machine: Option<String>,
        /// Names and ARNs for `$$` (account, region, state_machine_name, ...).
        #[arg(long)]
        context: Option<PathBuf>,
        /// Sleep for real in Wait states and retry intervals.
        #[arg(long)]
        real_time: bool,
        #[arg(long = "type", value_enum)]
        workflow_type: Option<TypeArg>,
        /// Perform Task states against AWS (every integration `run` performs:
        /// Lambda, SQS, SNS, DynamoDB, aws-sdk:*, HTTP, …) with the SDK's
        /// default configuration: AWS_REGION, credentials, AWS_ENDPOINT_URL.
        #[arg(long, conflicts_with = "mocks")]
        aws: bool,
    },
    /// Run the pipelines of a configuration until their sources end or
    /// SIGTERM/SIGINT, then print a summary on standard error.
    Run {
        #[arg(long)]
        config: PathBuf,
        /// Ignore saved checkpoints and read every file source from its start.
        #[arg(long)]
        from_start: bool,
    },
    /// Serve the AWS Step Functions API (and run the configuration's
    /// pipelines, if it has any) until SIGTERM/SIGINT.
    Serve {
        /// A configuration with an `api:` section, pipelines, or both.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Listen here instead (default 127.0.0.1:8083, or the file's `api.address`).
        #[arg(long)]
        address: Option<String>,
    },
    /// Validate a definition (or with --config, a whole configuration) and
    /// print every problem.
    Validate {
        /// The definition to validate (omit with --config).
        definition: Option<PathBuf>,
        /// Validate a pipeline configuration and compile all its machines.
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        /// Print the compiled program.
        #[arg(long)]
        disassemble: bool,
        #[arg(long = "type", value_enum)]
        workflow_type: Option<TypeArg>,
    },
    /// Draw a definition's state graph on standard output (same input,
    /// same bytes: fit for docs and CI).
    Graph {
        definition: PathBuf,
        #[arg(long, value_enum, default_value = "svg")]
        format: GraphFormat,
    },
    /// Run a machine in a loop on one thread and report executions per second.
    Bench {
        #[arg(long)]
        definition: PathBuf,
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        mocks: Option<PathBuf>,
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
    },
    /// Run every case of a conformance file and write one result per line
    /// (batch mode of `../shared/conformance/run.py --judge`).
    Conformance {
        cases: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
}
