//! Call history on disk: one JSON record per line, appended and flushed as each call ends, read
//! back at start so a restart (or a kill) loses no finished call.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use twoleg_core::status::CallRecord;

/// The history file and the newest records, bounded.
pub(crate) struct HistoryStore {
    path: PathBuf,
    file: File,
    records: VecDeque<CallRecord>,
    limit: usize,
}

impl HistoryStore {
    /// Opens (or creates) `dir/history.jsonl`. A torn or unreadable line is skipped with a
    /// warning; if the file holds more than `limit` records it is rewritten with the newest.
    pub(crate) fn open(dir: &Path, limit: usize) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join("history.jsonl");
        let mut records = VecDeque::new();
        let mut total = 0;
        if path.exists() {
            let file = File::open(&path).with_context(|| format!("reading {}", path.display()))?;
            for (number, line) in BufReader::new(file).lines().enumerate() {
                let Ok(line) = line else {
                    tracing::warn!(file = %path.display(), line = number + 1, "skipping a history line that is not text");
                    continue;
                };
                if line.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<CallRecord>(&line) {
                    Ok(record) => {
                        total += 1;
                        records.push_back(record);
                        if records.len() > limit {
                            records.pop_front();
                        }
                    }
                    Err(e) => {
                        tracing::warn!(file = %path.display(), line = number + 1, error = %e, "skipping a torn history record");
                    }
                }
            }
            if total > limit {
                rewrite(&path, &records)?;
            }
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        // A torn last line from a kill must not glue onto the next record.
        file.write_all(b"\n").context("writing history")?;
        tracing::info!(file = %path.display(), records = records.len(), "call history loaded");
        Ok(Self {
            path,
            file,
            records,
            limit,
        })
    }

    /// Appends a finished call and flushes it to the file.
    pub(crate) fn append(&mut self, record: CallRecord) {
        match serde_json::to_string(&record) {
            Ok(line) => {
                if let Err(e) = writeln!(self.file, "{line}").and_then(|()| self.file.flush()) {
                    tracing::error!(file = %self.path.display(), error = %e, "could not write a history record");
                }
            }
            Err(e) => tracing::error!(error = %e, "could not serialise a history record"),
        }
        self.records.push_back(record);
        if self.records.len() > self.limit {
            self.records.pop_front();
        }
    }

    /// Records, newest first.
    pub(crate) fn newest_first(&self) -> impl Iterator<Item = &CallRecord> {
        self.records.iter().rev()
    }
}

fn rewrite(path: &Path, records: &VecDeque<CallRecord>) -> anyhow::Result<()> {
    let temporary = path.with_extension("jsonl.tmp");
    let mut file =
        File::create(&temporary).with_context(|| format!("writing {}", temporary.display()))?;
    for record in records {
        writeln!(file, "{}", serde_json::to_string(record)?)?;
    }
    file.sync_all()?;
    std::fs::rename(&temporary, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}
