//! The viewer in a real browser: `kpiscope serve` on loopback, every tab opened in headless
//! Chromium (Debian's `chromium`, which `make test` installs), the rendered DOM checked for
//! its chart and table, and a screenshot of each tab written to `build/screenshots/`.

use kpiscope_tests::{kpiscope_bin, repo_root, scratch_dir, Server};
use std::path::{Path, PathBuf};
use std::process::Command;

const TABS: [&str; 13] = [
    "",
    "anomalies",
    "rca",
    "reports",
    "ml-rca",
    "change-points",
    "forecast",
    "trends",
    "compare",
    "what-if",
    "models",
    "replay",
    "actions",
];

fn chromium() -> PathBuf {
    let path = std::env::var_os("KPISCOPE_CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(path.is_file(), "chromium not found at {} (make test installs Debian's chromium)", path.display());
    path
}

fn browse(profile: &Path, args: &[&str], url: &str) -> std::process::Output {
    Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1280,1600",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium runs")
}

#[test]
fn every_tab_renders_in_headless_chromium_with_chart_and_table() {
    let scratch = scratch_dir("viewer");
    let db = scratch.join("demo.duckdb");
    let demo = Command::new(kpiscope_bin()).args(["demo", "--db"]).arg(&db).output().expect("kpiscope runs");
    assert!(demo.status.success(), "{}", String::from_utf8_lossy(&demo.stderr));
    let server = Server::start(&db);
    let base = &server.url;
    let shots = repo_root().join("build/screenshots");
    std::fs::create_dir_all(&shots).expect("build/ is writable");
    for tab in TABS {
        let url = format!("{base}{tab}");
        let dom = browse(&scratch.join("profile"), &["--dump-dom"], &url);
        let html = String::from_utf8_lossy(&dom.stdout);
        assert!(dom.status.success(), "{url}: {}", String::from_utf8_lossy(&dom.stderr));
        assert!(html.contains("Data as of 2024-06-28"), "{url}: no data stamp in\n{html}");
        assert!(html.contains("<table>"), "{url}: no table");
        if tab == "reports" {
            assert!(html.contains("kpiscope-report_2024-06-28.pdf"), "{url}: the demo's reports are listed");
        } else {
            assert!(html.contains("<svg") && html.contains("class=\"chart\""), "{url}: no chart");
        }
        let name = if tab.is_empty() { "overview" } else { tab };
        let png = shots.join(format!("{name}.png"));
        let _ = std::fs::remove_file(&png);
        let shot = browse(&scratch.join("profile"), &[&format!("--screenshot={}", png.display())], &url);
        assert!(shot.status.success(), "{url}: {}", String::from_utf8_lossy(&shot.stderr));
        let bytes = std::fs::read(&png).expect("screenshot written");
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 20_000,
            "{name}.png looks blank ({} bytes)",
            bytes.len()
        );
    }
}
