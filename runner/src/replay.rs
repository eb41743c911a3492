//! `twoleg replay`: the engine component driven in virtual time from a file of datagrams, for
//! comparing what it sends with the native engine's (the same seed and inputs must give the same
//! bytes). The loop is the simulator's [`twoleg_sim::replay`], the one every test uses.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use anyhow::Context;
use twoleg_core::Instant;
use twoleg_core::config::ValidConfig;
use twoleg_sim::ReplayIn;

use crate::host::Host;

pub(crate) fn run(
    config: &ValidConfig,
    seed: u64,
    until_ms: u64,
    input: &Path,
) -> anyhow::Result<()> {
    let file =
        std::fs::File::open(input).with_context(|| format!("reading {}", input.display()))?;
    let mut inputs = Vec::new();
    for (number, line) in BufReader::new(file).lines().enumerate() {
        let line = line?;
        if !line.trim().is_empty() {
            inputs.push(
                serde_json::from_str::<ReplayIn>(&line)
                    .with_context(|| format!("reading input line {}", number + 1))?,
            );
        }
    }
    inputs.sort_by_key(|input| input.at_ms);
    let host = Host::new()?;
    let guest = host.instantiate(config, 0, seed)?;
    let out = twoleg_sim::replay(guest, &inputs, Instant::from_millis(until_ms))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let stdout = std::io::stdout();
    let mut stdout = stdout.lock();
    for line in out {
        writeln!(stdout, "{}", serde_json::to_string(&line)?)?;
    }
    Ok(())
}
