//! `refresh`: the analyses, step by step, on a copy of the database swapped into place.

use crate::{open, run_script, DbError, OpenOptions, DEMO_DATA_SQL, REFRESH_SQL, VIEWS_SQL};
use duckdb::Connection;
use std::path::{Path, PathBuf};

/// One step of `sql/refresh.sql` (the text after a `-- step:` line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The step's name, for progress messages.
    pub name: String,
    /// Its SQL.
    pub sql: String,
}

/// The steps of `sql/refresh.sql` in order, then the tab views.
pub fn refresh_steps() -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    for line in REFRESH_SQL.lines() {
        if let Some(name) = line.strip_prefix("-- step:") {
            steps.push(Step { name: name.trim().to_string(), sql: String::new() });
        } else if let Some(step) = steps.last_mut() {
            step.sql.push_str(line);
            step.sql.push('\n');
        }
    }
    steps.push(Step { name: "tab views".to_string(), sql: VIEWS_SQL.to_string() });
    steps
}

/// Runs every step on an open connection (extension loaded), reporting `(index, total, name)`
/// before each.
pub fn run_refresh(connection: &Connection, mut progress: impl FnMut(usize, usize, &str)) -> Result<(), DbError> {
    let steps = refresh_steps();
    for (i, step) in steps.iter().enumerate() {
        progress(i + 1, steps.len(), &step.name);
        run_script(connection, &format!("sql/refresh.sql (step {})", step.name), &step.sql)?;
    }
    Ok(())
}

/// Refreshes a database file atomically for readers: the analyses run on a copy beside it,
/// which then replaces the original by `rename`. A reader holding the old file keeps a
/// consistent (old) state; the next one opens the new state. Rerunning gives the same tables.
pub fn refresh_file(db: &Path, extension: &Path, progress: impl FnMut(usize, usize, &str)) -> Result<(), DbError> {
    let staging = sibling(db, "refreshing");
    remove_database(&staging)?;
    copy(db, &staging)?;
    let wal = sibling(db, "wal");
    if wal.exists() {
        copy(&wal, &sibling(&staging, "wal"))?;
    }
    build(&staging, extension, |connection| run_refresh(connection, progress))?;
    std::fs::rename(&staging, db).map_err(|source| DbError::File { action: "replacing", path: db.into(), source })?;
    // The checkpoint folded the copied log into the file; a stale log beside it must not replay.
    remove_file(&wal)
}

/// Size of the synthetic demo data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Demo {
    /// Days of data.
    pub days: u32,
    /// Random seed.
    pub seed: u64,
    /// Anomalies to inject.
    pub anomalies: u32,
}

impl Default for Demo {
    fn default() -> Demo {
        Demo { days: 180, seed: 42, anomalies: 8 }
    }
}

/// Creates (or recreates) a demo database: synthetic KPIs, then every refresh step. Built
/// beside the target and renamed into place, so a reader never opens a half-built file.
pub fn create_demo(
    db: &Path,
    extension: &Path,
    demo: Demo,
    progress: impl FnMut(usize, usize, &str),
) -> Result<(), DbError> {
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| DbError::File {
            action: "creating",
            path: dir.into(),
            source,
        })?;
    }
    let staging = sibling(db, "building");
    remove_database(&staging)?;
    build(&staging, extension, |connection| {
        let sql = DEMO_DATA_SQL
            .replace("{days}", &demo.days.to_string())
            .replace("{seed}", &demo.seed.to_string())
            .replace("{anomalies}", &demo.anomalies.to_string());
        run_script(connection, "sql/demo_data.sql", &sql)?;
        run_refresh(connection, progress)
    })?;
    remove_database(db)?;
    std::fs::rename(&staging, db).map_err(|source| DbError::File {
        action: "moving into place",
        path: db.into(),
        source,
    })
}

/// Runs `work` on the staging file with the extension loaded and checkpoints it; on failure
/// the staging file is removed, so the file it was to replace stays as it was.
fn build(
    staging: &Path,
    extension: &Path,
    work: impl FnOnce(&Connection) -> Result<(), DbError>,
) -> Result<(), DbError> {
    let options =
        OpenOptions { path: Some(staging.to_path_buf()), extension: Some(extension.to_path_buf()), read_only: false };
    let result = open(&options).and_then(|connection| {
        work(&connection)?;
        run_script(&connection, "CHECKPOINT", "CHECKPOINT")
    });
    if result.is_err() {
        let _ = remove_database(staging);
    }
    result
}

/// `FILE.suffix` beside `FILE`.
pub(crate) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

fn copy(from: &Path, to: &Path) -> Result<(), DbError> {
    std::fs::copy(from, to).map(drop).map_err(|source| DbError::File { action: "copying", path: from.into(), source })
}

fn remove_file(path: &Path) -> Result<(), DbError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(DbError::File { action: "removing", path: path.into(), source: e })
        }
        _ => Ok(()),
    }
}

/// Removes a database file and its write-ahead log, if present.
pub fn remove_database(path: &Path) -> Result<(), DbError> {
    remove_file(path)?;
    remove_file(&sibling(path, "wal"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_is_split_into_named_steps_ending_with_the_views() {
        let steps = refresh_steps();
        assert!(steps.len() >= 10, "{}", steps.len());
        assert_eq!(steps.last().unwrap().name, "tab views");
        assert!(steps.iter().all(|s| !s.sql.trim().is_empty()), "every step has SQL");
        assert!(steps.iter().any(|s| s.sql.contains("CREATE OR REPLACE TABLE kpi_anomalies")));
    }

    #[test]
    fn sibling_appends_a_suffix() {
        assert_eq!(sibling(Path::new("/a/b.duckdb"), "wal"), PathBuf::from("/a/b.duckdb.wal"));
    }
}
