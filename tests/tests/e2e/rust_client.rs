//! The extension through the Rust client the viewer and reports use.

use kpiscope_db::{open, OpenOptions};
use kpiscope_tests::extension;

#[test]
fn rust_client_loads_the_extension_and_runs_both_functions() {
    let options = OpenOptions { extension: Some(extension()), ..OpenOptions::default() };
    let connection = open(&options).expect("opens with the extension");
    let rows: i64 =
        connection.query_row("SELECT count(*) FROM generate_kpi_data()", [], |row| row.get(0)).expect("generates");
    assert_eq!(rows, 2880);
    connection.execute_batch("CREATE TABLE kpi AS FROM generate_kpi_data()").expect("creates");
    let flagged: i64 = connection
        .query_row("SELECT count(*) FROM detect_anomalies('kpi', value := 'revenue') WHERE is_anomaly", [], |row| {
            row.get(0)
        })
        .expect("detects");
    assert!(flagged > 0);
}

#[test]
fn rust_client_gets_errors_as_values_not_crashes() {
    let options = OpenOptions { extension: Some(extension()), ..OpenOptions::default() };
    let connection = open(&options).expect("opens with the extension");
    let err = connection
        .query_row("SELECT count(*) FROM generate_kpi_data(days := -5)", [], |row| row.get::<_, i64>(0))
        .unwrap_err()
        .to_string();
    assert!(err.contains("kpiscope: days must be between 1 and 3660, got -5"), "{err}");
    let alive: i64 = connection.query_row("SELECT 1", [], |row| row.get(0)).expect("still usable");
    assert_eq!(alive, 1);
}

#[test]
fn each_database_in_a_process_reads_its_own_tables() {
    // The extension is loaded once per process but registered per database: each
    // registration must read from its own database, not the first one that loaded it.
    let options = OpenOptions { extension: Some(extension()), ..OpenOptions::default() };
    let first = open(&options).expect("first database");
    let second = open(&options).expect("second database");
    first.execute_batch("CREATE TABLE kpi AS FROM generate_kpi_data(days := 30, anomalies := 0)").expect("first table");
    second
        .execute_batch("CREATE TABLE kpi AS FROM generate_kpi_data(days := 50, anomalies := 0)")
        .expect("second table");
    let days = |connection: &duckdb::Connection| -> i64 {
        connection
            .query_row("SELECT count(*) FROM detect_anomalies('kpi', value := 'revenue')", [], |row| row.get(0))
            .expect("detects")
    };
    assert_eq!((days(&first), days(&second)), (30, 50));
}

#[test]
fn replay_as_of_any_past_day_equals_the_live_result() {
    let options = OpenOptions { extension: Some(extension()), ..OpenOptions::default() };
    let connection = open(&options).expect("opens with the extension");
    connection.execute_batch("CREATE TABLE kpi AS FROM generate_kpi_data(days := 120)").expect("creates");
    type Verdict = (String, Option<f64>, bool, Option<i64>, String);
    let verdicts = |sql: &str| -> Vec<Verdict> {
        let mut stmt = connection.prepare(sql).expect("prepares");
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .expect("runs")
            .collect::<Result<_, _>>()
            .expect("rows")
    };
    let columns = "CAST(ts AS VARCHAR), score, is_anomaly, incident_id, explanation";
    let live = verdicts(&format!(
        "SELECT {columns} FROM detect_anomalies('kpi', value := 'revenue', cooldown := 2) ORDER BY ts"
    ));
    assert_eq!(live.len(), 120);
    for (day, prefix_end) in live.iter().map(|v| v.0.clone()).zip(1..) {
        let replay = verdicts(&format!(
            "SELECT {columns} FROM detect_anomalies('kpi', value := 'revenue', cooldown := 2, \
             as_of := DATE '{day}') ORDER BY ts"
        ));
        assert_eq!(replay, live[..prefix_end], "replay as of {day} differs from the live result");
    }
}
