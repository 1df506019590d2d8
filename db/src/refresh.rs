//! `refresh`: the analyses the KPI model asks for, step by step, on a copy of the database
//! swapped into place.

use crate::feedback::{self, Feedback, Verdict};
use crate::model::{Incremental, Loaded};
use crate::{open, run_script, DbError, OpenOptions, DEMO_DATA_SQL, DEMO_MODEL, REFRESH_SQL, VIEWS_SQL};
use duckdb::Connection;
use kpiscope_model::quote_literal;
use std::path::{Path, PathBuf};

/// One step of a refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The step's name, for progress messages.
    pub name: String,
    /// Its SQL.
    pub sql: String,
}

impl Step {
    /// A named step.
    pub fn new(name: &str, sql: String) -> Step {
        Step { name: name.to_string(), sql }
    }
}

/// The steps every model ends with: those of `sql/refresh.sql` in order, then the tab views.
pub fn fixed_steps() -> Vec<Step> {
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

/// The KPIs with labelled anomalies in `kpi_anomaly_labels` (a label without a KPI counts for
/// every KPI); none before the table exists.
fn labelled_kpis(connection: &Connection, loaded: &Loaded, feedback: &Feedback) -> Result<Vec<String>, DbError> {
    let confirmed: Vec<&str> =
        feedback.records.iter().filter(|r| r.verdict == Verdict::Confirmed).map(|r| r.kpi.as_str()).collect();
    let script = |source| DbError::Script { script: "reading kpi_anomaly_labels".into(), source };
    let exists: i64 = connection
        .query_row(
            "SELECT count(*) FROM duckdb_columns() WHERE database_name = current_database() AND schema_name = 'main' \
             AND table_name = 'kpi_anomaly_labels' AND column_name IN ('ts', 'segment', 'kpi')",
            [],
            |r| r.get(0),
        )
        .map_err(script)?;
    let kpis: Vec<Option<String>> = if exists < 3 {
        Vec::new()
    } else {
        connection
            .prepare("SELECT DISTINCT kpi FROM kpi_anomaly_labels")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .map_err(script)?
    };
    let all = kpis.iter().any(Option::is_none);
    Ok(loaded
        .model
        .kpis
        .iter()
        .map(|k| k.key.clone())
        .filter(|k| all || kpis.contains(&Some(k.clone())) || confirmed.contains(&k.as_str()))
        .collect())
}

/// Where an incremental refresh of `loaded` can start, or why it cannot (then the refresh
/// is a full one): the previous refresh must have run this very model.
fn incremental_start(
    connection: &Connection,
    loaded: &Loaded,
    feedback: &Feedback,
) -> Result<Result<Incremental, String>, DbError> {
    let script = |source| DbError::Script { script: "reading the previous refresh".into(), source };
    let Some(previous) = Loaded::stored(connection)? else { return Ok(Err("no earlier refresh".into())) };
    if previous.text != loaded.text {
        return Ok(Err("the model changed since the last refresh".into()));
    }
    // Same model, other settings: an alert budget chose another sensitivity on the new data.
    let settings: Vec<(String, String)> = connection
        .prepare("SELECT kpi, detection FROM kpi_catalog ORDER BY position")
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .unwrap_or_default();
    let now: Vec<(String, String)> =
        loaded.model.kpis.iter().map(|k| (k.key.clone(), k.detection.arguments())).collect();
    if settings != now {
        return Ok(Err("an alert budget chose another sensitivity".into()));
    }
    let stamp: Option<(String, String, Option<String>)> = connection
        .query_row(
            "SELECT CAST(data_to AS VARCHAR), typeof(data_to), labels FROM kpi_refresh \
             WHERE EXISTS (SELECT 1 FROM duckdb_columns() WHERE table_name = 'kpi_refresh' AND column_name = 'labels')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map(Some)
        .or_else(|e| if matches!(e, duckdb::Error::QueryReturnedNoRows) { Ok(None) } else { Err(e) })
        .map_err(script)?;
    let Some((data_to, sql_type, labels)) = stamp else { return Ok(Err("the last refresh left no stamp".into())) };
    let since = format!("{sql_type} '{data_to}'");
    let (now, labelled_to): (String, Option<String>) = connection
        .query_row(
            "SELECT count(*) || ':' || coalesce(sum(hash(ts, segment, kpi, label)), 0), CAST(max(ts) AS VARCHAR) \
             FROM kpi_anomaly_labels",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(script)?;
    let before_since: bool = match labelled_to {
        Some(t) => connection
            .query_row(&format!("SELECT TIMESTAMP '{t}' < CAST({since} AS TIMESTAMP)"), [], |r| r.get(0))
            .map_err(script)?,
        None => true,
    };
    // Confirmed incidents label too: the comparison stands only if they are the ones it used.
    let confirmed_before: Option<Vec<String>> = connection
        .prepare(
            "SELECT kpi || '|' || start_ts || '|' || end_ts AS k FROM kpi_feedback WHERE verdict = 'confirmed' ORDER BY k",
        )
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .ok();
    let same_feedback = confirmed_before.unwrap_or_default() == feedback.confirmed();
    let confirmed_ends: Vec<String> = feedback
        .records
        .iter()
        .filter(|r| r.verdict == Verdict::Confirmed)
        .map(|r| format!("({})", quote_literal(&r.end)))
        .collect();
    let confirmed_before_since = match confirmed_ends.is_empty() {
        true => true,
        false => connection
            .query_row(
                &format!(
                    "SELECT bool_and(TRY_CAST(e AS TIMESTAMP) < CAST({since} AS TIMESTAMP)) FROM (VALUES {}) v(e)",
                    confirmed_ends.join(", ")
                ),
                [],
                |r| r.get::<_, Option<bool>>(0),
            )
            .map_err(script)?
            .unwrap_or(false),
    };
    let keep_detectors =
        labels.as_deref() == Some(now.as_str()) && before_since && same_feedback && confirmed_before_since;
    Ok(Ok(Incremental { since, keep_detectors }))
}

/// Runs every step of `loaded`'s refresh on an open connection (extension loaded), after
/// checking the model against the data, reporting `(index, total, name)` before each step.
/// `incremental` redoes only what the time steps since the last refresh change (see
/// [`Loaded::steps`]); without an earlier refresh of the same model it runs a full one and
/// says why in the first step's name.
/// `feedback` holds the verdicts given in the viewer.
pub fn run_refresh(
    connection: &Connection,
    loaded: &Loaded,
    incremental: bool,
    feedback: &Feedback,
    mut progress: impl FnMut(usize, usize, &str),
) -> Result<(), DbError> {
    loaded.check(connection)?;
    let (loaded, budget) = crate::budget::resolve(connection, loaded)?;
    let loaded = &loaded;
    let start = if incremental { Some(incremental_start(connection, loaded, feedback)?) } else { None };
    let labelled = labelled_kpis(connection, loaded, feedback)?;
    let mut steps = loaded.steps(&labelled, start.as_ref().and_then(|s| s.as_ref().ok()), feedback, &budget);
    if feedback.unreadable > 0 {
        if let Some(step) = steps.iter_mut().find(|s| s.name == "feedback") {
            step.name = format!("feedback ({} unreadable lines of the feedback file skipped)", feedback.unreadable);
        }
    }
    match &start {
        Some(Ok(i)) => steps[0].name = format!("{} (incremental from {})", steps[0].name, i.since),
        Some(Err(why)) => steps[0].name = format!("{} (full refresh: {why})", steps[0].name),
        None => {}
    }
    for (i, step) in steps.iter().enumerate() {
        progress(i + 1, steps.len(), &step.name);
        // One transaction per step: one log sync instead of one per statement (a refresh runs
        // ~290 statements). Not one for the whole refresh: the extension reads its sources
        // through its own connection, which sees only what earlier steps committed.
        let sql = format!("BEGIN TRANSACTION;\n{}\n;COMMIT;", step.sql);
        run_script(connection, &format!("refresh step {}", step.name), &sql)?;
    }
    Ok(())
}

/// Refreshes a database file atomically for readers: the analyses run on a copy beside it,
/// which then replaces the original by `rename`. A reader holding the old file keeps a
/// consistent (old) state; the next one opens the new state. Rerunning gives the same tables.
/// `model` is the model file to refresh with; without one, the model stored by the last
/// refresh is used.
pub fn refresh_file(
    db: &Path,
    extension: &Path,
    model: Option<&Path>,
    incremental: bool,
    progress: impl FnMut(usize, usize, &str),
) -> Result<(), DbError> {
    let given = model.map(Loaded::from_file).transpose()?;
    let feedback = feedback::read(&feedback::path(db))?;
    let staging = sibling(db, "refreshing");
    remove_database(&staging)?;
    copy(db, &staging)?;
    let wal = sibling(db, "wal");
    if wal.exists() {
        copy(&wal, &sibling(&staging, "wal"))?;
    }
    build(&staging, extension, |connection| {
        let loaded = match given {
            Some(loaded) => loaded,
            None => Loaded::stored(connection)?.ok_or(DbError::NoModel)?,
        };
        run_refresh(connection, &loaded, incremental, &feedback, progress)
    })?;
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
    // A demo rebuilt with the same seed has the same incidents: verdicts given on it still hold.
    let feedback = feedback::read(&feedback::path(db))?;
    build(&staging, extension, |connection| {
        let sql = DEMO_DATA_SQL
            .replace("{days}", &demo.days.to_string())
            .replace("{seed}", &demo.seed.to_string())
            .replace("{anomalies}", &demo.anomalies.to_string());
        run_script(connection, "examples/demo/data.sql", &sql)?;
        let loaded = Loaded::from_text(DEMO_MODEL.to_string(), "examples/demo/kpiscope.toml".into(), None)?;
        run_refresh(connection, &loaded, false, &feedback, progress)
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
    fn the_demo_model_plans_every_analysis_then_the_fixed_steps() {
        let loaded = Loaded::from_text(DEMO_MODEL.to_string(), "demo".into(), None).unwrap();
        let steps = loaded.steps(&["revenue".to_string()], None, &Feedback::default(), &[]);
        assert_eq!(steps.last().unwrap().name, "tab views");
        assert!(steps.iter().all(|s| !s.sql.trim().is_empty()), "every step has SQL");
        let all: String = steps.iter().map(|s| s.sql.as_str()).collect();
        for kpi in ["revenue", "orders", "sessions", "conversion_rate", "payment_success_rate"] {
            assert!(all.contains(&format!("SELECT '{kpi}' AS kpi, * FROM detect_anomalies('kpi_facts'")), "{kpi}");
            assert!(all.contains(&format!("'{kpi}' AS kpi, * FROM change_points")), "{kpi} change points");
        }
        assert_eq!(all.matches("FROM what_if('kpi_facts'").count(), 16, "4 levers x 4 changes");
        assert_eq!(all.matches("FROM compare_detectors(").count(), 1, "only the labelled KPI");
    }

    #[test]
    fn an_incremental_plan_replaces_only_the_new_steps_of_time_step_tables() {
        let loaded = Loaded::from_text(DEMO_MODEL.to_string(), "demo".into(), None).unwrap();
        let since = Incremental { since: "DATE '2025-06-30'".into(), keep_detectors: true };
        let steps = loaded.steps(&["revenue".to_string()], Some(&since), &Feedback::default(), &[]);
        let sql = |name: &str| steps.iter().find(|s| s.name.starts_with(name)).unwrap().sql.clone();
        for (step, table) in [
            ("anomalies per KPI", "kpi_anomalies"),
            ("anomalies per segment", "kpi_segment_anomalies"),
            ("root causes", "kpi_rca"),
            ("suggested actions", "kpi_actions"),
        ] {
            let text = sql(step);
            assert!(text.starts_with(&format!("DELETE FROM {table} WHERE ts >= DATE '2025-06-30';")), "{step}: {text}");
            assert!(!text.contains("CREATE OR REPLACE"), "{step}");
        }
        assert!(sql("root causes").contains("ts >= CAST(DATE ''2025-06-30'' AS TIMESTAMP) - INTERVAL 28 DAY"));
        assert!(sql("forecasts").starts_with("CREATE OR REPLACE TABLE kpi_forecast"));
        assert_eq!(sql("detector comparison"), "SELECT 1");
    }

    #[test]
    fn sibling_appends_a_suffix() {
        assert_eq!(sibling(Path::new("/a/b.duckdb"), "wal"), PathBuf::from("/a/b.duckdb.wal"));
    }
}
