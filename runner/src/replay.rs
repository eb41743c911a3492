//! `twoleg replay`: the engine component driven in virtual time from a file of datagrams, for
//! comparing what it sends with the native engine's (the same seed and inputs must give the same
//! bytes).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use twoleg_core::config::ValidConfig;

use crate::host::{Datagram, Guest, Host, Output};

/// One datagram handed in.
#[derive(Debug, Deserialize)]
struct In {
    at_ms: u64,
    source: String,
    destination: String,
    text: String,
}

/// One datagram sent.
#[derive(Debug, Serialize)]
struct Out<'a> {
    at_ns: u64,
    source: &'a str,
    destination: &'a str,
    text: String,
}

pub(crate) fn run(
    config: &ValidConfig,
    seed: u64,
    until_ms: u64,
    input: &Path,
) -> anyhow::Result<()> {
    let file =
        std::fs::File::open(input).with_context(|| format!("reading {}", input.display()))?;
    let mut inputs = Vec::new();
    for line in BufReader::new(file).lines() {
        let line = line?;
        if !line.trim().is_empty() {
            inputs.push(serde_json::from_str::<In>(&line).context("reading an input line")?);
        }
    }
    let host = Host::new()?;
    let mut guest = host.instantiate(&config.config().to_json(), 0, seed)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut now = 0;
    let mut deadline = drain(&mut guest, now, &mut out)?;
    for input in inputs {
        let at = input.at_ms * 1_000_000;
        while deadline <= at {
            now = deadline;
            guest
                .handle_timeout(now)
                .map_err(|t| anyhow::anyhow!(t.0))?
                .map_err(anyhow::Error::msg)?;
            deadline = drain(&mut guest, now, &mut out)?;
        }
        now = at;
        let datagram = Datagram {
            source: input.source,
            destination: input.destination,
            contents: input.text.into_bytes(),
        };
        guest
            .handle_receive(now, &datagram)
            .map_err(|t| anyhow::anyhow!(t.0))?
            .map_err(anyhow::Error::msg)?;
        deadline = drain(&mut guest, now, &mut out)?;
    }
    while deadline <= until_ms * 1_000_000 {
        now = deadline;
        guest
            .handle_timeout(now)
            .map_err(|t| anyhow::anyhow!(t.0))?
            .map_err(anyhow::Error::msg)?;
        deadline = drain(&mut guest, now, &mut out)?;
    }
    Ok(())
}

fn drain(guest: &mut Guest, now: u64, out: &mut impl Write) -> anyhow::Result<u64> {
    loop {
        for output in guest.poll_outputs(256).map_err(|t| anyhow::anyhow!(t.0))? {
            match output {
                Output::Transmit(datagram) => {
                    let line = Out {
                        at_ns: now,
                        source: &datagram.source,
                        destination: &datagram.destination,
                        text: String::from_utf8_lossy(&datagram.contents).into_owned(),
                    };
                    writeln!(out, "{}", serde_json::to_string(&line)?)?;
                }
                Output::Event(_) => {}
                Output::Timeout(at) => return Ok(at),
            }
        }
    }
}
