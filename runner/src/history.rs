//! Call history on disk: one JSON record per line, appended and flushed as each call ends, read
//! back at start so a restart (or a kill) loses no finished call.
//!
//! The file stays bounded while running: once it holds `history.max_calls` records more than it
//! keeps (at least 10,000 more, so that at thousands of calls per second the rewrite stays
//! rare), it is rewritten with the newest ones (into a temporary file, then renamed over the
//! old one, so a kill at any moment leaves one whole file). At most
//! `max(2 × max_calls, max_calls + 10,000)` records are on disk, about 1 KB each.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use twoleg_core::status::{CallRecord, History};

/// Records the file may hold beyond those kept before it is compacted, at least.
const COMPACT_SLACK: usize = 10_000;

/// The history file and the newest records, bounded as the engine bounds its own.
pub(crate) struct HistoryStore {
    path: PathBuf,
    file: File,
    history: History,
    /// Records in the file now.
    in_file: usize,
    limit: usize,
    /// Records in the file at which to compact it next.
    compact_at: usize,
}

impl HistoryStore {
    /// Opens (or creates) `dir/history.jsonl`. A torn or unreadable line is skipped with a
    /// warning; if the file holds more than `limit` records it is rewritten with the newest.
    pub(crate) fn open(dir: &Path, limit: usize) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join("history.jsonl");
        let mut history = History::new(limit);
        let mut in_file = 0;
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
                        in_file += 1;
                        history.push(record);
                    }
                    Err(e) => {
                        tracing::warn!(file = %path.display(), line = number + 1, error = %e, "skipping a torn history record");
                    }
                }
            }
        }
        let file = open_append(&path)?;
        let mut store = Self {
            path,
            file,
            history,
            in_file,
            limit,
            compact_at: limit + limit.max(COMPACT_SLACK),
        };
        if store.in_file > limit {
            store.compact()?;
        } else {
            // A torn last line from a kill must not glue onto the next record.
            store.file.write_all(b"\n").context("writing history")?;
        }
        tracing::info!(file = %store.path.display(), records = store.history.len(), "call history loaded");
        Ok(store)
    }

    /// Appends a finished call and writes it to the file; compacts the file once it holds
    /// `limit.max(COMPACT_SLACK)` records beyond the limit.
    pub(crate) fn append(&mut self, record: CallRecord) {
        match serde_json::to_string(&record) {
            Ok(line) => match writeln!(self.file, "{line}") {
                Ok(()) => self.in_file += 1,
                Err(e) => {
                    tracing::error!(file = %self.path.display(), error = %e, "could not write a history record")
                }
            },
            Err(e) => tracing::error!(error = %e, "could not serialise a history record"),
        }
        self.history.push(record);
        if self.in_file >= self.compact_at
            && let Err(e) = self.compact()
        {
            // Not again at every record (a full disk would make each append a rewrite).
            self.compact_at = self.in_file + self.limit.max(COMPACT_SLACK);
            tracing::error!(file = %self.path.display(), error = %format!("{e:#}"), "could not compact call history");
        }
    }

    /// Records, newest first.
    pub(crate) fn newest_first(&self) -> impl Iterator<Item = &CallRecord> {
        self.history.iter().rev()
    }

    /// Rewrites the file with the records kept (newest `limit`), atomically.
    fn compact(&mut self) -> anyhow::Result<()> {
        let temporary = self.path.with_extension("jsonl.tmp");
        let mut file =
            File::create(&temporary).with_context(|| format!("writing {}", temporary.display()))?;
        let mut text = String::new();
        for record in self.history.iter() {
            text.push_str(&serde_json::to_string(record)?);
            text.push('\n');
        }
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temporary, &self.path)
            .with_context(|| format!("replacing {}", self.path.display()))?;
        // The rename itself survives a power loss once the directory is on disk.
        if let Some(dir) = self.path.parent() {
            File::open(dir).and_then(|dir| dir.sync_all())?;
        }
        self.file = open_append(&self.path)?;
        self.in_file = self.history.len();
        self.compact_at = self.limit + self.limit.max(COMPACT_SLACK);
        tracing::debug!(file = %self.path.display(), records = self.in_file, "call history compacted");
        Ok(())
    }
}

fn open_append(path: &Path) -> anyhow::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))
}
