//! The extension in the real `duckdb` command-line client, as a SQL user meets it.

use kpiscope_tests::{duckdb_cli, extension, scratch_dir};
use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs a script through `duckdb -unsigned` on stdin, the way a user pastes SQL.
fn run_script(database: Option<&std::path::Path>, script: &str) -> Output {
    let mut command = Command::new(duckdb_cli());
    command.args(["-unsigned", "-csv", "-noheader"]);
    if let Some(db) = database {
        command.arg(db);
    }
    let mut child =
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("duckdb CLI starts");
    let load = format!("LOAD '{}';\n", extension().display());
    child.stdin.take().expect("stdin").write_all((load + script).as_bytes()).expect("script written");
    child.wait_with_output().expect("duckdb CLI finishes")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn cli_loads_the_extension_and_generates_2880_rows() {
    let out = run_script(None, "SELECT count(*) FROM generate_kpi_data();\n");
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "2880");
}

#[test]
fn cli_refuses_the_extension_without_unsigned() {
    let out = Command::new(duckdb_cli())
        .args(["-c", &format!("LOAD '{}'", extension().display())])
        .output()
        .expect("duckdb CLI runs");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("unsigned"), "stderr: {}", text(&out.stderr));
}

#[test]
fn cli_detects_anomalies_in_a_database_file() {
    let db = scratch_dir("cli-file").join("kpi.duckdb");
    let script = "CREATE TABLE kpi AS FROM generate_kpi_data();\n\
                  SELECT count(*) FILTER (is_anomaly), count(*) FROM detect_anomalies('kpi', value := 'revenue');\n";
    let out = run_script(Some(&db), script);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let counts: Vec<u32> = text(&out.stdout).trim().split(',').map(|n| n.parse().expect("a count")).collect();
    assert_eq!(counts[1], 180);
    assert!((8..=30).contains(&counts[0]), "flagged {} of 180 days", counts[0]);
}

#[test]
fn every_bad_input_errors_cleanly_and_the_cli_survives() {
    let cases = [
        ("SELECT * FROM detect_anomalies('missing', value := 'revenue');", "kpiscope: cannot read source 'missing'"),
        (
            "SELECT * FROM detect_anomalies('kpi', ts := 'nope', value := 'revenue');",
            "kpiscope: ts column 'nope' not found",
        ),
        (
            "SELECT * FROM detect_anomalies('kpi', value := 'channel');",
            "kpiscope: value column 'channel' must be numeric",
        ),
        ("SELECT * FROM detect_anomalies('kpi', ts := 'region', value := 'revenue');", "must be a DATE or TIMESTAMP"),
        ("SELECT * FROM detect_anomalies('kpi', value := NULL);", "kpiscope: value must not be NULL"),
        (
            "SELECT * FROM detect_anomalies('kpi', value := 'revenue', period := -3);",
            "kpiscope: period must be between 1 and 1000, got -3",
        ),
        (
            "SELECT * FROM detect_anomalies('kpi', value := 'revenue', method := 'x');",
            "kpiscope: method must be one of",
        ),
        ("SELECT * FROM generate_kpi_data(days := 0);", "kpiscope: days must be between 1 and 3660, got 0"),
        (
            "SELECT * FROM generate_kpi_data(anomalies := 500);",
            "kpiscope: anomalies must be between 0 and 21 for 180 days",
        ),
        ("SELECT * FROM generate_kpi_data(days := 'many');", "Could not convert string 'many'"),
    ];
    let mut script = String::from("CREATE TABLE kpi AS FROM generate_kpi_data(days := 40, anomalies := 0);\n");
    for (sql, _) in &cases {
        script.push_str(sql);
        script.push('\n');
    }
    // Awkward-but-valid inputs in the same session: NULL/NaN values, one row, empty table.
    script.push_str(
        "CREATE TABLE odd AS SELECT * FROM (VALUES (DATE '2024-01-01', NULL), (DATE '2024-01-02', 'NaN'::DOUBLE)) t(day, v);\n\
         SELECT count(*) FROM detect_anomalies('odd', value := 'v');\n\
         CREATE TABLE nothing (day DATE, v DOUBLE);\n\
         SELECT count(*) FROM detect_anomalies('nothing', value := 'v');\n\
         SELECT 'still alive';\n",
    );
    let out = run_script(None, &script);
    let stderr = text(&out.stderr);
    // Exit code 1 means "some statement failed"; a crash would be a signal or another code.
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    for (sql, message) in &cases {
        assert!(stderr.contains(message), "no '{message}' for {sql}\nstderr: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "a panic leaked: {stderr}");
    assert_eq!(text(&out.stdout).lines().collect::<Vec<_>>(), ["2", "0", "still alive"]);
}
