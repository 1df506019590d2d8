//! The feedback store: what people said about incidents in the viewer (confirmed, dismissed,
//! or cleared again, with a note), read by `refresh`, `alert` and the report.
//!
//! It is a JSON Lines file beside the database (`shop.feedback.jsonl` for `shop.duckdb`), one
//! record per line, appended and never rewritten. Not a table in the database: the viewer holds
//! that file read-only and `refresh` replaces it by a copy. Not a DuckDB file of its own
//! either: a process holding a DuckDB file for writing locks every other process out, so the
//! long-running viewer would block `refresh` from reading it, or the other way round. An
//! append of one short line needs no lock across processes, a reader sees whole records, and a
//! person can read (and audit) the file with any editor. The last record of an incident wins.

use crate::DbError;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Longest note kept, in characters (the form says so; longer ones are cut).
pub const NOTE_CHARS: usize = 500;

/// What a person said about an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A real anomaly: its time steps become labels the detectors are scored against.
    Confirmed,
    /// Noise: later incidents of the same segment and shape are suppressed.
    Dismissed,
    /// The earlier verdict withdrawn.
    Cleared,
}

impl Verdict {
    /// Parses the form's value.
    pub fn parse(text: &str) -> Option<Verdict> {
        match text {
            "confirmed" => Some(Verdict::Confirmed),
            "dismissed" => Some(Verdict::Dismissed),
            "cleared" => Some(Verdict::Cleared),
            _ => None,
        }
    }

    /// The stored name.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Confirmed => "confirmed",
            Verdict::Dismissed => "dismissed",
            Verdict::Cleared => "cleared",
        }
    }
}

/// One line of the store. An incident is named as `kpi_incidents` and the alert log name it:
/// KPI, first time step (as DuckDB prints it) and direction; `end` is its last step when the
/// verdict was given, the span a confirmation labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// When it was said (UTC, `YYYY-MM-DD HH:MM:SS`).
    pub at: String,
    /// KPI key.
    pub kpi: String,
    /// First time step of the incident.
    pub start: String,
    /// Last time step of the incident when the verdict was given.
    pub end: String,
    /// `up` or `down`.
    pub direction: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Free text, at most [`NOTE_CHARS`] characters, no control characters.
    #[serde(default)]
    pub note: String,
}

impl Record {
    /// The incident's key, as in the alert log: `kpi|start|direction`.
    pub fn key(&self) -> String {
        format!("{}|{}|{}", self.kpi, self.start, self.direction)
    }
}

/// A note as stored: control characters (line breaks included) become spaces, then it is
/// trimmed and cut to [`NOTE_CHARS`] characters.
pub fn clean_note(note: &str) -> String {
    let spaced: String = note.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    spaced.trim().chars().take(NOTE_CHARS).collect()
}

/// The store beside `db`: `shop.duckdb` -> `shop.feedback.jsonl`.
pub fn path(db: &Path) -> PathBuf {
    crate::companion(db, "feedback.jsonl")
}

/// What a store holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Feedback {
    /// The latest verdict of each incident (cleared ones left out), in the order given.
    pub records: Vec<Record>,
    /// Lines that are not a record (a line cut short by a crash, an edit by hand): skipped.
    pub unreadable: usize,
}

impl Feedback {
    /// The latest verdict on the incident with key `key`.
    pub fn of(&self, key: &str) -> Option<&Record> {
        self.records.iter().find(|r| r.key() == key)
    }

    /// Confirmed incidents as `kpi|start|end`, sorted: what the detector comparison is
    /// scored against besides `kpi_anomaly_labels`.
    pub fn confirmed(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .records
            .iter()
            .filter(|r| r.verdict == Verdict::Confirmed)
            .map(|r| format!("{}|{}|{}", r.kpi, r.start, r.end))
            .collect();
        keys.sort();
        keys
    }
}

/// Reads the store at `path`; a missing file is an empty store.
pub fn read(path: &Path) -> Result<Feedback, DbError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Feedback::default()),
        Err(source) => return Err(DbError::File { action: "reading", path: path.into(), source }),
    };
    let mut feedback = Feedback::default();
    let mut latest: Vec<Record> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<Record>(line) {
            Ok(record) => {
                latest.retain(|r| r.key() != record.key());
                latest.push(record);
            }
            Err(_) => feedback.unreadable += 1,
        }
    }
    feedback.records = latest.into_iter().filter(|r| r.verdict != Verdict::Cleared).collect();
    Ok(feedback)
}

/// Appends `record` to the store at `path` as one line, in one write, synced to disk. A
/// file whose last line was cut short gets a line break first, so that line stays the only
/// unreadable one. Callers in one process serialise their appends.
pub fn append(path: &Path, record: &Record) -> Result<(), DbError> {
    let failed = |source| DbError::File { action: "appending to", path: path.into(), source };
    let mut line = serde_json::to_string(record).map_err(|e| failed(std::io::Error::other(e)))?;
    line.push('\n');
    let cut_short = std::fs::read(path).map(|bytes| bytes.last().is_some_and(|b| *b != b'\n')).unwrap_or(false);
    if cut_short {
        line.insert(0, '\n');
    }
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(failed)?;
    file.write_all(line.as_bytes()).and_then(|()| file.sync_data()).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(start: &str, verdict: Verdict) -> Record {
        Record {
            at: "2026-12-03 08:00:00".into(),
            kpi: "revenue".into(),
            start: start.into(),
            end: start.into(),
            direction: "down".into(),
            verdict,
            note: String::new(),
        }
    }

    #[test]
    fn the_last_verdict_of_an_incident_wins_and_a_cleared_one_drops_it() {
        let dir = std::env::temp_dir().join(format!("kpiscope-feedback-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = path(&dir.join("shop.duckdb"));
        let _ = std::fs::remove_file(&store);
        assert_eq!(read(&store).unwrap(), Feedback::default(), "no file: no feedback");
        append(&store, &record("2024-05-01", Verdict::Dismissed)).unwrap();
        append(&store, &record("2024-06-01", Verdict::Dismissed)).unwrap();
        append(&store, &record("2024-05-01", Verdict::Confirmed)).unwrap();
        append(&store, &record("2024-06-01", Verdict::Cleared)).unwrap();
        let feedback = read(&store).unwrap();
        assert_eq!(feedback.records, vec![record("2024-05-01", Verdict::Confirmed)]);
        assert_eq!(feedback.confirmed(), vec!["revenue|2024-05-01|2024-05-01".to_string()]);
        assert_eq!(feedback.of("revenue|2024-05-01|down").map(|r| r.verdict), Some(Verdict::Confirmed));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_line_cut_short_is_skipped_and_the_next_append_stays_readable() {
        let dir = std::env::temp_dir().join(format!("kpiscope-feedback-cut-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = dir.join("x.feedback.jsonl");
        std::fs::write(&store, "{\"at\": \"2026-12-03\", \"kpi\": \"rev").unwrap();
        append(&store, &record("2024-05-01", Verdict::Dismissed)).unwrap();
        let feedback = read(&store).unwrap();
        assert_eq!((feedback.records.len(), feedback.unreadable), (1, 1));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn notes_lose_control_characters_and_are_cut_to_the_limit() {
        assert_eq!(clean_note("  promo\nended\t "), "promo ended");
        assert_eq!(clean_note(&"x".repeat(900)).chars().count(), NOTE_CHARS);
    }

    #[test]
    fn the_store_sits_beside_the_database() {
        assert_eq!(path(Path::new("/data/shop.duckdb")), PathBuf::from("/data/shop.feedback.jsonl"));
    }
}
