//! The `kpiscope` command: the demo database, and its failure modes.

use kpiscope_tests::{kpiscope_bin, scratch_dir};
use std::process::Command;

#[test]
fn demo_builds_a_database_that_plain_duckdb_can_read() {
    let db = scratch_dir("demo").join("demo.duckdb");
    let out = Command::new(kpiscope_bin()).args(["demo", "--db"]).arg(&db).output().expect("kpiscope runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("daily total") && stdout.contains("per segment"), "{stdout}");

    // A BI tool opens the file read-only without the extension.
    let options = kpiscope_db::OpenOptions { path: Some(db), extension: None, read_only: true };
    let connection = kpiscope_db::open(&options).expect("opens read-only without the extension");
    let count = |sql: &str| -> i64 { connection.query_row(sql, [], |row| row.get(0)).expect(sql) };
    assert_eq!(count("SELECT count(*) FROM kpi_daily"), 2880);
    assert_eq!(count("SELECT count(*) FROM kpi_anomalies"), 5 * 180);
    assert_eq!(count("SELECT count(*) FROM kpi_segment_anomalies"), 5 * 2880);
    assert!(count("SELECT count(*) FROM kpi_rca WHERE rank = 1") > 0);
    assert_eq!(count("SELECT count(*) FROM kpi_forecast"), 5 * 30);
    assert_eq!(count("SELECT count(*) FROM kpi_model_comparison"), 5 * 3);
    // Every detector scored against the demo's labels, ranked 1..9; the default ranks near the top.
    assert_eq!(count("SELECT count(DISTINCT rank) FROM kpi_detector_comparison WHERE tp + fn > 0"), 9);
    assert!(count("SELECT rank FROM kpi_detector_comparison WHERE method = 'auto'") <= 3);
    assert_eq!(count("SELECT count(*) FROM kpi_what_if WHERE kpi = 'revenue'"), 16);
    assert_eq!(count("SELECT count(*) FROM kpi_change_points"), 5 * 180);
    assert!(count("SELECT count(*) FROM kpi_anomalies WHERE is_anomaly AND kpi = 'revenue'") > 0);
}

#[test]
fn refresh_of_a_missing_database_fails_with_a_message() {
    let out = Command::new(kpiscope_bin())
        .args(["refresh", "--db", "/nonexistent/kpi.duckdb"])
        .output()
        .expect("kpiscope runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}

#[test]
fn refresh_reruns_the_analyses_idempotently() {
    let db = scratch_dir("refresh").join("kpi.duckdb");
    let demo = Command::new(kpiscope_bin()).args(["demo", "--db"]).arg(&db).output().expect("kpiscope runs");
    assert!(demo.status.success());
    for _ in 0..2 {
        let out = Command::new(kpiscope_bin()).args(["refresh", "--db"]).arg(&db).output().expect("kpiscope runs");
        assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    }
    let options = kpiscope_db::OpenOptions { path: Some(db), extension: None, read_only: true };
    let connection = kpiscope_db::open(&options).expect("opens");
    let rows: i64 = connection.query_row("SELECT count(*) FROM kpi_anomalies", [], |r| r.get(0)).expect("count");
    assert_eq!(rows, 5 * 180);
}

#[test]
fn refresh_swaps_atomically_while_a_reader_holds_the_file() {
    let db = scratch_dir("refresh-reader").join("kpi.duckdb");
    let demo = Command::new(kpiscope_bin()).args(["demo", "--db"]).arg(&db).output().expect("kpiscope runs");
    assert!(demo.status.success());
    let options = kpiscope_db::OpenOptions { path: Some(db.clone()), extension: None, read_only: true };
    let reader = kpiscope_db::open(&options).expect("reader opens");
    let stamp = |c: &duckdb::Connection| -> String {
        c.query_row("SELECT refreshed_at::VARCHAR FROM kpi_refresh", [], |r| r.get(0)).expect("stamp")
    };
    let before = stamp(&reader);
    std::thread::sleep(std::time::Duration::from_millis(50));
    let out = Command::new(kpiscope_bin()).args(["refresh", "--db"]).arg(&db).output().expect("kpiscope runs");
    assert!(out.status.success(), "refresh beside a reader: {}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[1/") && stderr.contains("tab views"), "progress on stderr: {stderr}");
    // The open reader keeps its consistent, old state; a new reader sees the new one.
    assert_eq!(stamp(&reader), before);
    let fresh = kpiscope_db::open(&options).expect("new reader opens");
    assert_ne!(stamp(&fresh), before);
    assert!(!db.with_extension("duckdb.refreshing").exists(), "no staging file left behind");
}

#[test]
fn refresh_honours_the_events_table_and_keeps_it() {
    let db = scratch_dir("refresh-events").join("kpi.duckdb");
    let demo = Command::new(kpiscope_bin()).args(["demo", "--db"]).arg(&db).output().expect("kpiscope runs");
    assert!(demo.status.success());
    let writer = kpiscope_db::OpenOptions { path: Some(db.clone()), extension: None, read_only: false };
    let flagged_on_june_21 = |options: &kpiscope_db::OpenOptions| -> bool {
        let connection = kpiscope_db::open(options).expect("opens");
        connection
            .query_row(
                "SELECT is_anomaly FROM kpi_anomalies WHERE kpi = 'revenue' AND ts = DATE '2024-06-21'",
                [],
                |r| r.get(0),
            )
            .expect("a verdict for the day")
    };
    assert!(flagged_on_june_21(&writer), "the injected traffic drop is flagged");
    kpiscope_db::open(&writer)
        .expect("opens")
        .execute_batch("INSERT INTO kpi_events VALUES (DATE '2024-06-21', 'tracking outage', true)")
        .expect("event added");
    let out = Command::new(kpiscope_bin()).args(["refresh", "--db"]).arg(&db).output().expect("kpiscope runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!flagged_on_june_21(&writer), "suppressed by the event after refresh");
    let events: i64 = kpiscope_db::open(&writer)
        .expect("opens")
        .query_row("SELECT count(*) FROM kpi_events", [], |r| r.get(0))
        .expect("count");
    assert_eq!(events, 1, "the events table survives the refresh");
}
