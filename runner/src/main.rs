//! `twoleg`: TwoLeg's native runner.
//!
//! Reads a config file exported by the browser simulator (or the embedded default) and runs the
//! B2BUA on live SIP traffic over UDP.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use twoleg_core::config::{DEFAULT_CONFIG, ValidConfig, json_schema};

/// TwoLeg: a SIP B2BUA with TURN server selection.
#[derive(Debug, Parser)]
#[command(name = "twoleg", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the B2BUA (the default command).
    Run {
        /// Config file; without one, the embedded default.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Where call history is kept.
        #[arg(long, default_value = "twoleg-data")]
        data_dir: PathBuf,
    },
    /// Validate a config file: print every problem with its path; exit 1 if there is any.
    Check {
        /// The config file.
        file: PathBuf,
    },
    /// Print the embedded default config file.
    DefaultConfig,
    /// Print the JSON Schema of the config file.
    Schema,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or_else(|| Command::Run {
        config: None,
        data_dir: PathBuf::from("twoleg-data"),
    }) {
        Command::Run { config, .. } => run(config),
        Command::Check { file } => check(&file),
        Command::DefaultConfig => {
            print!("{DEFAULT_CONFIG}");
            ExitCode::SUCCESS
        }
        Command::Schema => {
            // A `serde_json::Value` always serialises.
            println!(
                "{}",
                serde_json::to_string_pretty(json_schema()).expect("schema")
            );
            ExitCode::SUCCESS
        }
    }
}

fn check(file: &PathBuf) -> ExitCode {
    let config = match load(Some(file)) {
        Ok(config) => config,
        Err(code) => return code,
    };
    println!(
        "{}: valid: {} listener(s), {} route(s), {} TURN address/port combination(s)",
        file.display(),
        config.listeners().len(),
        config.routes().len(),
        config.turn_servers().len()
    );
    ExitCode::SUCCESS
}

fn run(file: Option<PathBuf>) -> ExitCode {
    let config = match load(file.as_ref()) {
        Ok(config) => config,
        Err(code) => return code,
    };
    for listener in config.listeners() {
        eprintln!("twoleg: config names SIP listener udp:{}", listener.address);
    }
    eprintln!(
        "twoleg: the live SIP loop is not built yet; only `check`, `default-config` and `schema` work"
    );
    ExitCode::FAILURE
}

/// Reads and validates a config file (or the embedded default), printing every problem.
fn load(file: Option<&PathBuf>) -> Result<ValidConfig, ExitCode> {
    let (name, text) = match file {
        None => ("embedded default".to_owned(), DEFAULT_CONFIG.to_owned()),
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => (path.display().to_string(), text),
            Err(e) => {
                eprintln!("{}: cannot read: {e}", path.display());
                return Err(ExitCode::FAILURE);
            }
        },
    };
    ValidConfig::from_json(&text).map_err(|problems| {
        for problem in problems.iter() {
            eprintln!("{name}: {problem}");
        }
        eprintln!("{name}: {} problem(s)", problems.len());
        ExitCode::FAILURE
    })
}
