//! `twoleg`: TwoLeg's native runner.
//!
//! Reads a config file exported by the browser simulator (or the embedded default) and runs the
//! B2BUA engine, as a WebAssembly component in wasmtime, on live SIP traffic over UDP, with an
//! admin HTTP API and call history kept on disk.

mod admin;
mod history;
mod host;
mod media;
mod metrics;
mod node;
mod refusals;
mod replay;
mod streams;
mod tls;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use twoleg_core::config::{DEFAULT_CONFIG, ValidConfig, json_schema};

use crate::history::HistoryStore;
use crate::node::{Message, Node};

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
    Run(RunArgs),
    /// Validate a config file: print every problem with its path; exit 1 if there is any.
    Check {
        /// The config file.
        file: PathBuf,
    },
    /// Print the embedded default config file.
    DefaultConfig,
    /// Print the JSON Schema of the config file.
    Schema,
    /// Replay datagrams through the engine component in virtual time and print what it sends:
    /// one JSON object per line in (`at_ms`, `source`, `destination`, `text`), one out per
    /// transmit (`at_ns`, `source`, `destination`, `text`).
    Replay {
        /// Config file; without one, the embedded default.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Seed of the engine's random choices.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Keep running timers until this virtual time.
        #[arg(long, default_value_t = 64_000)]
        until_ms: u64,
        /// The input file (JSON lines).
        input: PathBuf,
    },
}

#[derive(Debug, Default, clap::Args)]
struct RunArgs {
    /// Config file; without one, the embedded default (SIP on 127.0.0.1:5060, calls to
    /// 127.0.0.1:5070, admin HTTP on 127.0.0.1:8080).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Where call history is kept.
    #[arg(long, default_value = "twoleg-data")]
    data_dir: PathBuf,
    /// Seed of the engine's random choices (tags, Call-IDs, TURN choice); random by default.
    #[arg(long)]
    seed: Option<u64>,
    /// Expose `POST /api/fault`, which makes the engine trap (for testing recovery).
    #[arg(long)]
    fault_injection: bool,
    /// Datagrams waiting for the engine beyond which new INVITEs are answered 503 at once
    /// (default: three quarters of the 8,192 the queue holds).
    #[arg(long)]
    shed_queue_depth: Option<usize>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli
        .command
        .unwrap_or_else(|| Command::Run(RunArgs::default_args()))
    {
        Command::Run(args) => run(args),
        Command::Check { file } => check(&file),
        Command::Replay {
            config,
            seed,
            until_ms,
            input,
        } => match load(config.as_ref()).map(|config| replay::run(&config, seed, until_ms, &input))
        {
            Ok(Ok(())) => ExitCode::SUCCESS,
            Ok(Err(e)) => {
                eprintln!("replay: {e:#}");
                ExitCode::FAILURE
            }
            Err(()) => ExitCode::FAILURE,
        },
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

impl RunArgs {
    fn default_args() -> Self {
        Self {
            data_dir: PathBuf::from("twoleg-data"),
            ..Self::default()
        }
    }
}

fn check(file: &PathBuf) -> ExitCode {
    let Ok(config) = load(Some(file)) else {
        return ExitCode::FAILURE;
    };
    // The files TLS listeners name: readable, PEM, key matching certificate, not expired.
    let mut problems = 0;
    for (index, listener) in config.listeners().iter().enumerate() {
        if let Some(plan) = &listener.tls {
            for problem in tls::check(plan, &config_dir(Some(file))) {
                eprintln!("{}: sip.listeners[{index}].tls: {problem}", file.display());
                problems += 1;
            }
        }
    }
    if let Some(plan) = config.admin_tls() {
        for problem in tls::check(plan, &config_dir(Some(file))) {
            eprintln!("{}: admin.tls: {problem}", file.display());
            problems += 1;
        }
    }
    if problems > 0 {
        eprintln!("{}: {problems} problem(s)", file.display());
        return ExitCode::FAILURE;
    }
    println!(
        "{}: valid: {} listener(s), {} route(s), {} TURN address/port combination(s)",
        file.display(),
        config.listeners().len(),
        config.routes().len(),
        config.turn_servers().len()
    );
    ExitCode::SUCCESS
}

fn run(args: RunArgs) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let Ok(config) = load(args.config.as_ref()) else {
        return ExitCode::FAILURE;
    };
    match serve(config, &args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(config: ValidConfig, args: &RunArgs) -> anyhow::Result<()> {
    let seed = args.seed.unwrap_or_else(random_seed);
    tracing::info!(
        config = %args.config.as_ref().map_or_else(|| "embedded default".to_owned(), |p| p.display().to_string()),
        listeners = config.listeners().len(),
        routes = config.routes().len(),
        turn_combinations = config.turn_servers().len(),
        "config loaded"
    );
    for route in config.routes() {
        let destinations: Vec<String> = route
            .destinations
            .iter()
            .map(|d| d.target.to_string())
            .collect();
        tracing::info!(route = %route.name, destinations = %destinations.join(", "), lync = route.lync, "route");
    }
    log_access(&config);
    let history = HistoryStore::open(&args.data_dir, config.history_max_calls())?;
    let mut node = Node::new(
        config,
        &config_dir(args.config.as_ref()),
        history,
        seed,
        args.fault_injection,
        args.shed_queue_depth,
    )?;
    let (tx, rx) = std::sync::mpsc::sync_channel(node::INPUT_QUEUE);
    node.spawn_readers(&tx)?;
    let redacted = serde_json::to_string_pretty(&node.config().config().redacted())?;
    let admin_tls = node
        .config()
        .admin_tls()
        .map(|plan| tls::context(plan, &config_dir(args.config.as_ref())))
        .transpose()
        .context("the admin API's HTTPS certificate")?
        .map(|context| context.server);
    admin::spawn(
        node.config().admin_listen(),
        tx.clone(),
        redacted,
        args.fault_injection,
        admin::Access {
            tokens: node.config().admin_tokens().to_vec(),
            tls: admin_tls,
        },
    )?;
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])?;
    let signal_tx = tx.clone();
    std::thread::Builder::new()
        .name("signals".to_owned())
        .spawn(move || {
            for signal in signals.forever() {
                tracing::info!(signal, "signal received");
                if signal_tx.send(Message::Shutdown).is_err() {
                    return;
                }
            }
        })?;
    drop(tx);
    node.run(&rx)
}

/// A seed from the clock and the process id: the engine itself draws nothing from the OS.
fn random_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 32)
}

/// Where the relative file names in a config file start: its directory (the working directory
/// for the embedded default).
fn config_dir(file: Option<&PathBuf>) -> PathBuf {
    file.and_then(|file| file.parent())
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// Says at start who may call: each zone's call acceptance and authentication policy, and
/// the Default Zone's (a warning when anyone may call).
fn log_access(config: &ValidConfig) {
    use twoleg_core::config::CallAcceptance;
    let zones = config.zones();
    let mut accepting = Vec::new();
    for zone in &zones.zones {
        let peers: Vec<String> = zone
            .peers
            .iter()
            .map(|block| format!("{}/{}", block.address, block.prefix))
            .collect();
        tracing::info!(zone = %zone.name, peers = %peers.join(", "), calls = ?zone.calls, authentication = ?zone.authentication, "zone");
        if zone.calls == CallAcceptance::Accept {
            accepting.push(format!("{} ({})", zone.name, peers.join(", ")));
        }
    }
    if zones.default_calls == CallAcceptance::Accept {
        tracing::warn!(authentication = ?zones.default_authentication, "calls are accepted from any address (the Default Zone accepts calls)");
    } else if accepting.is_empty() {
        tracing::warn!("no zone accepts calls: every INVITE is refused");
    } else {
        tracing::info!(default_zone = ?zones.default_calls, "calls are accepted only from {}", accepting.join("; "));
    }
}

/// Reads and validates a config file (or the embedded default), printing every problem.
fn load(file: Option<&PathBuf>) -> Result<ValidConfig, ()> {
    let (name, text) = match file {
        None => ("embedded default".to_owned(), DEFAULT_CONFIG.to_owned()),
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => (path.display().to_string(), text),
            Err(e) => {
                eprintln!("{}: cannot read: {e}", path.display());
                return Err(());
            }
        },
    };
    ValidConfig::from_json(&text).map_err(|problems| {
        for problem in problems.iter() {
            eprintln!("{name}: {problem}");
        }
        eprintln!("{name}: {} problem(s)", problems.len());
    })
}
