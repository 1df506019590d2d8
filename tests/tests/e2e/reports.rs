//! `kpiscope report` as cron runs it: files, their content, and every failure's exit code.
//! The PDF is checked the way a reader meets it: rendered by poppler's `pdftoppm` (pages
//! exist and are not blank) and read by `pdftotext` (the text is real and selectable).

use kpiscope_tests::{kpiscope_bin, repo_root, scratch_dir};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn poppler(tool: &str) -> PathBuf {
    let path = PathBuf::from("/usr/bin").join(tool);
    assert!(path.is_file(), "{tool} not found (make test installs Debian's poppler-utils)");
    path
}

fn kpiscope(args: &[&str]) -> Output {
    Command::new(kpiscope_bin()).args(args).output().expect("kpiscope runs")
}

/// A demo database (which also exports its reports beside it).
fn demo(name: &str) -> (PathBuf, PathBuf) {
    let dir = scratch_dir(name);
    let db = dir.join("demo.duckdb");
    let out = kpiscope(&["demo", "--db", db.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (dir, db)
}

fn report(db: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["report", "--db", db.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    kpiscope(&args)
}

/// The refresh time changes on every run; everything else in the report is a function of the data.
fn normalise(markdown: &str) -> String {
    markdown
        .lines()
        .map(|line| match line.find(", refreshed ") {
            Some(i) => format!("{}, refreshed <time> |", &line[..i]),
            None => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn report_markdown_matches_the_snapshot_of_the_demo() {
    let (dir, db) = demo("report-md");
    let out = dir.join("out");
    let run = report(&db, &out, &["--format", "md"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let markdown = std::fs::read_to_string(out.join("kpiscope-report_2024-06-28.md")).expect("markdown written");
    let snapshot_path = repo_root().join("tests/snapshots/report_2024-06-28.md");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&snapshot_path, normalise(&markdown)).expect("snapshot written");
    }
    let snapshot = std::fs::read_to_string(&snapshot_path).expect("snapshot exists (UPDATE_SNAPSHOTS=1 writes it)");
    assert_eq!(normalise(&markdown), snapshot, "rerun with UPDATE_SNAPSHOTS=1 if the change is intended");
    // The five reports of the seed app are sections named for what they hold.
    for section in [
        "## 1. Executive summary",
        "## 2. Business overview",
        "## 3. Anomaly summary",
        "## 4. Root-cause summary",
        "## 5. Recommendations",
    ] {
        assert!(markdown.contains(section), "{section}");
    }
    assert!(!out.join("kpiscope-report_2024-06-28.pdf").exists(), "only the format asked for");
    // Standalone: every chart the Markdown shows is an SVG file beside it.
    let images: Vec<&str> = markdown
        .lines()
        .filter(|l| l.starts_with("!["))
        .filter_map(|l| l.split("](").nth(1)?.strip_suffix(')'))
        .collect();
    assert!(images.len() >= 5, "{images:?}");
    for image in images {
        let svg = std::fs::read_to_string(out.join(image)).unwrap_or_else(|e| panic!("{image}: {e}"));
        assert!(svg.starts_with("<svg"), "{image}");
    }
}

#[test]
fn report_pdf_renders_to_non_blank_pages_with_selectable_text() {
    let (dir, db) = demo("report-pdf");
    let out = dir.join("out");
    let run = report(&db, &out, &["--format", "pdf"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let pdf = out.join("kpiscope-report_2024-06-28.pdf");

    let text = Command::new(poppler("pdftotext")).arg(&pdf).arg("-").output().expect("pdftotext runs");
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    for needle in [
        "KPI report, 2024-06-01 to 2024-06-28",
        "1. Executive summary",
        "98% of the gap comes from channel=Web and",
        "4. Root-cause summary",
        "5. Recommendations",
        "Appendix: methodology",
    ] {
        assert!(text.contains(needle), "{needle:?} not in the PDF text:\n{text}");
    }
    let pages: usize = text
        .split("page 1 of ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("page numbers in the footer");
    assert!(pages >= 4, "{pages} pages");
    assert!(text.contains(&format!("page {pages} of {pages}")));

    // The creation date is the refresh the report reads (printpdf alone writes 1970-01-01).
    let connection = duckdb::Connection::open_with_flags(
        &db,
        duckdb::Config::default().access_mode(duckdb::AccessMode::ReadOnly).unwrap(),
    )
    .unwrap();
    let refreshed: String = connection
        .query_row("SELECT strftime(refreshed_at, '%Y-%m-%dT%H:%M:%S') FROM kpi_refresh", [], |r| r.get(0))
        .unwrap();
    let info = Command::new(poppler("pdfinfo")).arg("-isodates").arg(&pdf).output().expect("pdfinfo runs");
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(
        info.lines().any(|l| l.starts_with("CreationDate:") && l.ends_with(&format!("{refreshed}Z"))),
        "creation date {refreshed} not in:\n{info}"
    );

    // Recommendations are wrapped paragraphs, not table cells: every incident's action in the
    // period is in the text whole.
    let actions: Vec<String> = connection
        .prepare(
            "SELECT action FROM tab_incidents WHERE action IS NOT NULL
             AND CAST(end_ts AS DATE) >= '2024-06-01' AND CAST(start_ts AS DATE) <= '2024-06-28'",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(!actions.is_empty(), "the demo's June has incidents with actions");
    for action in actions {
        let action = action.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains(&action), "{action:?} not whole in the PDF text:\n{text}");
    }

    let prefix = dir.join("page");
    let render = Command::new(poppler("pdftoppm"))
        .args(["-r", "30", "-gray"])
        .arg(&pdf)
        .arg(&prefix)
        .output()
        .expect("pdftoppm runs");
    assert!(render.status.success(), "{}", String::from_utf8_lossy(&render.stderr));
    let mut rendered: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("page"))
        .collect();
    rendered.sort();
    assert_eq!(rendered.len(), pages, "pdftoppm renders every page");
    for page in rendered {
        let ink = ink_share(&std::fs::read(&page).unwrap());
        assert!(ink > 0.01, "{} is blank ({ink:.4} of pixels inked)", page.display());
    }
}

/// Share of pixels darker than near-white in a binary PGM (what `pdftoppm -gray` writes).
fn ink_share(pgm: &[u8]) -> f64 {
    // Header: "P5", width, height, maxval, each separated by whitespace, then the pixels.
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 {
        while pgm[at].is_ascii_whitespace() {
            at += 1;
        }
        let start = at;
        while !pgm[at].is_ascii_whitespace() {
            at += 1;
        }
        fields.push(String::from_utf8_lossy(&pgm[start..at]).into_owned());
    }
    assert_eq!(fields[0], "P5", "pdftoppm -gray writes binary PGM");
    let pixels = &pgm[at + 1..];
    pixels.iter().filter(|p| **p < 235).count() as f64 / pixels.len() as f64
}

#[test]
fn report_zip_holds_every_file_with_the_checksums_of_its_manifest() {
    let (dir, db) = demo("report-zip");
    let out = dir.join("out");
    let run = report(&db, &out, &["--kpi", "revenue,conversion_rate"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("wrote") && stderr.contains(".zip"), "logs to stderr: {stderr}");
    let file = std::fs::File::open(out.join("kpiscope-report_2024-06-28.zip")).expect("zip written");
    let mut archive = zip::ZipArchive::new(file).expect("a valid zip");
    let mut read = |name: &str| -> Vec<u8> {
        let mut bytes = Vec::new();
        archive.by_name(name).unwrap_or_else(|_| panic!("{name} in the zip")).read_to_end(&mut bytes).unwrap();
        bytes
    };
    let manifest: serde_json::Value = serde_json::from_slice(&read("manifest.json")).expect("manifest is JSON");
    assert_eq!(manifest["as_of"], "2024-06-28");
    assert_eq!(manifest["kpis"], serde_json::json!(["revenue", "conversion_rate"]));
    let files = manifest["files"].as_array().expect("files listed");
    let names: Vec<&str> = files.iter().map(|f| f["name"].as_str().unwrap()).collect();
    for expected in [
        "kpiscope-report_2024-06-28.md",
        "kpiscope-report_2024-06-28.pdf",
        "kpiscope-report_2024-06-28_charts/kpi_revenue.svg",
        "kpiscope-report_2024-06-28_charts/kpi_conversion_rate.svg",
        "data/anomalies.csv",
        "data/root_causes.csv",
        "data/actions.csv",
        "data/forecast.csv",
    ] {
        assert!(names.contains(&expected), "{expected} missing from {names:?}");
    }
    assert!(!names.contains(&"kpiscope-report_2024-06-28_charts/kpi_orders.svg"), "only the KPIs asked for");
    for entry in files {
        let bytes = read(entry["name"].as_str().unwrap());
        assert_eq!(bytes.len() as u64, entry["bytes"].as_u64().unwrap());
        let digest: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(digest, entry["sha256"].as_str().unwrap(), "{}", entry["name"]);
    }
    // The Markdown in the zip is the Markdown on disk, and every chart it shows is an SVG in
    // the zip at the path it links (so it renders unzipped).
    let markdown = read("kpiscope-report_2024-06-28.md");
    assert_eq!(markdown, std::fs::read(out.join("kpiscope-report_2024-06-28.md")).unwrap());
    let markdown = String::from_utf8(markdown).unwrap();
    let images: Vec<&str> = markdown
        .lines()
        .filter(|l| l.starts_with("!["))
        .filter_map(|l| l.split("](").nth(1)?.strip_suffix(')'))
        .collect();
    assert!(!images.is_empty());
    for image in images {
        assert!(String::from_utf8(read(image)).unwrap().starts_with("<svg"), "{image}");
    }
}

#[test]
fn report_as_of_an_earlier_day_covers_the_28_days_before_it() {
    let (dir, db) = demo("report-as-of");
    let out = dir.join("out");
    let run = report(&db, &out, &["--as-of", "2024-05-10", "--format", "md"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let markdown = std::fs::read_to_string(out.join("kpiscope-report_2024-05-10.md")).unwrap();
    assert!(markdown.starts_with("# KPI report, 2024-04-13 to 2024-05-10"));
    assert!(markdown.contains("2024-05-08"), "the payment failure of May 6-8 is in the period");
    assert!(!markdown.contains("2024-06-21"), "nothing after the as-of day");
}

#[test]
fn report_failures_exit_with_their_own_codes_and_messages() {
    let (dir, db) = demo("report-errors");
    let out = dir.join("out");
    let cases: Vec<(Output, i32, &str)> = vec![
        (report(Path::new("/nonexistent/x.duckdb"), &out, &[]), 3, "does not exist"),
        (report(&db, &out, &["--as-of", "2030-01-01"]), 4, "no data for 2030-01-01"),
        (report(&db, &out, &["--kpi", "nps"]), 2, "unknown KPI \"nps\""),
        (report(&db, &out, &["--format", "docx"]), 2, "unknown format \"docx\""),
        (report(&db, Path::new("/proc/kpiscope-reports"), &[]), 5, "cannot write to /proc/kpiscope-reports"),
    ];
    for (output, code, message) in cases {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(code), "{message}: {stderr}");
        assert!(stderr.contains(message), "{stderr}");
    }
    // A database that was never refreshed.
    let raw = dir.join("raw.duckdb");
    let connection =
        kpiscope_db::open(&kpiscope_db::OpenOptions { path: Some(raw.clone()), ..Default::default() }).unwrap();
    connection.execute_batch("CREATE TABLE t AS SELECT 1 AS x").unwrap();
    drop(connection);
    let output = report(&raw, &out, &[]);
    assert_eq!(output.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&output.stderr).contains("has not been refreshed"));
    assert!(
        !out.exists()
            || std::fs::read_dir(&out).unwrap().all(|e| !e.unwrap().path().to_string_lossy().ends_with(".partial"))
    );
}
