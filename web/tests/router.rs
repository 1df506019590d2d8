//! Router tests: every route through `oneshot` against a refreshed demo database, and bad
//! parameters that must end in a 4xx, never a 500.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use kpiscope_db::{create_demo, default_extension_path, refresh_file, Demo};
use kpiscope_web::{app, AppState, TABS};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use tower::ServiceExt;

/// One refreshed demo database for the whole file (read-only use only).
fn demo_db() -> PathBuf {
    static DB: OnceLock<PathBuf> = OnceLock::new();
    DB.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-router").join("demo.duckdb");
        create_demo(&path, &default_extension_path(), Demo::default(), |_, _, _| {}).expect("demo database builds");
        path
    })
    .clone()
}

fn state(live: bool) -> Arc<AppState> {
    let extension = default_extension_path();
    Arc::new(AppState::new(&demo_db(), live.then_some(extension.as_path()), None).expect("viewer opens the database"))
}

async fn get(state: &Arc<AppState>, uri: &str) -> (StatusCode, String) {
    let response =
        app(Arc::clone(state)).oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.expect("router answers");
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn tab_url(slug: &str) -> String {
    if slug == "overview" {
        "/".to_string()
    } else {
        format!("/{slug}")
    }
}

#[tokio::test]
async fn every_tab_renders_with_its_chart_table_and_data_stamp() {
    let state = state(true);
    for (slug, title) in TABS {
        let (status, body) = get(&state, &tab_url(slug)).await;
        assert_eq!(status, StatusCode::OK, "{slug}: {body}");
        assert!(body.contains(&format!("<h1>{}</h1>", title.replace('&', "&amp;"))), "{slug} title");
        assert!(body.contains("Data as of 2024-06-28"), "{slug} stamp");
        assert!(body.contains("<table>"), "{slug} has a table");
        if slug != "reports" {
            assert!(body.contains("<svg"), "{slug} has a chart");
        }
        assert!(body.contains("aria-current=\"page\""), "{slug} marks its tab");
    }
}

#[tokio::test]
async fn tabs_work_without_the_extension_from_the_views_alone() {
    let state = state(false);
    for (slug, _) in TABS {
        let (status, body) = get(&state, &tab_url(slug)).await;
        assert_eq!(status, StatusCode::OK, "{slug}: {body}");
    }
    let (status, body) = get(&state, "/what-if?lever_sessions=10").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("need the extension"), "{body}");
}

#[tokio::test]
async fn anomaly_rows_drill_down_to_their_root_causes() {
    let state = state(true);
    let (_, body) = get(&state, "/anomalies?kpi=revenue").await;
    assert!(body.contains("rca?kpi=revenue&amp;day=2024-06-21\">2024-06-21</a>"), "link to the RCA of a flagged day");
    let (status, body) = get(&state, "/rca?kpi=revenue&day=2024-06-21").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("of the gap comes from channel=Web &amp; cohort=Repeat"), "{body}");
    assert!(body.contains("Trend of channel=Web &amp; cohort=Repeat"));
}

#[tokio::test]
async fn live_tabs_call_the_extension() {
    let state = state(true);
    // A day without stored RCA is computed on demand.
    let (status, body) = get(&state, "/rca?kpi=conversion_rate&day=2024-03-10").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("computed live by the extension"), "{body}");
    // +10% sessions is +10% revenue in a product driver tree.
    let (status, body) = get(&state, "/what-if?lever_sessions=10").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("(+10.0%)"), "{body}");
    // Replay as of an anomalous day flags it with only the data known then.
    let (status, body) = get(&state, "/replay?kpi=revenue&as_of=2024-06-21").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("replayed live") && body.contains("major anomaly"), "{body}");
    assert!(body.contains("the same as the stored walk-forward verdict"), "replay is exact: {body}");
}

#[tokio::test]
async fn bad_parameters_are_refused_with_400_and_never_reach_sql() {
    let state = state(true);
    let cases = [
        ("/anomalies?kpi=bogus", "unknown KPI"),
        ("/anomalies?kpi=revenue'%3B%20DROP%20TABLE%20kpi_daily%3B--", "unknown KPI"),
        ("/rca?day=2024-13-45", "must be a date"),
        ("/rca?day=1999-01-01", "outside the data"),
        ("/rca?day=2024-06-21'%20OR%201%3D1", "must be a date"),
        ("/rca?segment=channel%3DApp'%20OR%20'1'%3D'1", "no segment"),
        ("/rca?segment=channel%3DKiosk", "the data holds channel=App, channel=Web"),
        ("/rca?segment=country%3DFR", "segment must look like"),
        ("/trends?dimension=channel%3Bselect", "unknown dimension"),
        ("/compare?compare=yesterday", "must be a date"),
        ("/what-if?lever_sessions=abc", "must be a percent"),
        ("/what-if?lever_aov=1e308", "must be a percent"),
        ("/replay?as_of=2030-01-01", "outside the data"),
    ];
    for (uri, message) in cases {
        let (status, body) = get(&state, uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert!(body.contains(message), "{uri}: {body}");
    }
    // The table is still there.
    let (status, _) = get(&state, "/").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn hostile_values_in_any_parameter_never_give_a_500() {
    let state = state(true);
    let names = ["kpi", "day", "compare", "as_of", "segment", "dimension", "lever_sessions", "lever_aov"];
    let values = ["", "%27", "%00", "-1", "NaN", "9999-99-99", "%3Cscript%3E", "a%20%26%20b%3Dc", "channel%3D"];
    for (slug, _) in TABS {
        for name in names {
            for value in values {
                let uri = format!("{}?{name}={value}", tab_url(slug));
                let (status, body) = get(&state, &uri).await;
                assert!(status == StatusCode::OK || status == StatusCode::BAD_REQUEST, "{uri}: {status} {body}");
                assert!(!body.contains("<script>"), "{uri} reflects markup");
            }
        }
    }
}

#[tokio::test]
async fn unknown_pages_views_and_files_are_404() {
    let state = state(true);
    for uri in [
        "/nope",
        "/csv/kpi_daily",
        "/csv/tab_anomalies%3B%20DROP%20TABLE%20x",
        "/reports/files/..%2F..%2Fetc%2Fpasswd",
        "/reports/files/demo.duckdb",
    ] {
        let (status, _) = get(&state, uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
    }
}

#[tokio::test]
async fn csv_downloads_filter_by_kpi() {
    let state = state(true);
    let (status, body) = get(&state, "/csv/tab_anomalies?kpi=orders").await;
    assert_eq!(status, StatusCode::OK);
    let mut lines = body.lines();
    assert!(lines.next().unwrap().starts_with("kpi,label,ts,value"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 180);
    assert!(rows.iter().all(|r| r.starts_with("orders,")));
    let (status, _) = get(&state, "/csv/tab_anomalies?kpi=nope").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_refresh_swapped_in_underneath_is_picked_up() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-swap");
    let db = dir.join("swap.duckdb");
    let demo = Demo { days: 60, seed: 7, anomalies: 2 };
    create_demo(&db, &default_extension_path(), demo, |_, _, _| {}).unwrap();
    let state = Arc::new(AppState::new(&db, None, None).unwrap());
    let stamp = |body: &str| body.split("refreshed ").nth(1).unwrap().split('<').next().unwrap().to_string();
    let (_, before) = get(&state, "/").await;
    // The stamp has whole seconds.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    refresh_file(&db, &default_extension_path(), None, false, |_, _, _| {}).unwrap();
    let (status, after) = get(&state, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(stamp(&before), stamp(&after), "the viewer reads the refreshed file");
}

#[tokio::test]
async fn reports_center_lists_and_serves_only_report_files() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-reports");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("kpiscope-report_2024-06-28.pdf"), b"%PDF-1.7 test").unwrap();
    std::fs::write(dir.join("secrets.txt"), b"no").unwrap();
    let state = Arc::new(AppState::new(&demo_db(), None, Some(dir)).unwrap());
    let (status, body) = get(&state, "/reports").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("kpiscope-report_2024-06-28.pdf") && !body.contains("secrets.txt"), "{body}");
    let response = app(Arc::clone(&state))
        .oneshot(Request::get("/reports/files/kpiscope-report_2024-06-28.pdf").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/pdf");
    assert_eq!(response.into_body().collect().await.unwrap().to_bytes().as_ref(), b"%PDF-1.7 test");
    let (status, _) = get(&state, "/reports/files/secrets.txt").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn error_pages_keep_the_layout_and_navigation() {
    let state = state(true);
    let (status, body) = get(&state, "/rca?day=2030-01-01").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("<nav>") && body.contains("href=\"/anomalies\""), "navigation on the error page: {body}");
    assert!(body.contains("class=\"error\"") && body.contains("<style>"), "styled: {body}");
}

#[test]
fn an_unreadable_database_is_a_503_without_paths_or_process_ids() {
    let missing = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-router-missing").join("gone.duckdb");
    let Err(error) = AppState::new(&missing, None, None) else { panic!("a missing file cannot be served") };
    assert_eq!(error.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(!error.message.contains("gone.duckdb") && !error.message.contains("PID"), "{}", error.message);
}
