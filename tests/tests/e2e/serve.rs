//! `kpiscope serve` while `kpiscope refresh` replaces its database: every request answered,
//! the old files closed, and nothing about the server's files or process in what a reader sees.

use kpiscope_tests::{kpiscope_bin, scratch_dir, Server};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Files the process holds open that have been deleted (replaced by a refresh).
fn deleted_files(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc is readable")
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .map(|target| target.display().to_string())
        .filter(|target| target.ends_with(" (deleted)"))
        .collect()
}

#[test]
fn serve_follows_refreshes_closing_each_replaced_file() {
    let db = scratch_dir("serve-refresh").join("demo.duckdb");
    let demo = Command::new(kpiscope_bin()).args(["demo", "--db"]).arg(&db).output().expect("kpiscope runs");
    assert!(demo.status.success(), "{}", String::from_utf8_lossy(&demo.stderr));
    let server = Arc::new(Server::start(&db));
    let (status, _) = server.get("/replay");
    assert_eq!(status, 200);

    // Readers keep asking for a live tab and a stored one while refreshes swap the file.
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|k| {
            let (server, stop) = (Arc::clone(&server), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut answers = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    answers.push(server.get(if k == 0 { "/replay?as_of=2024-06-20" } else { "/anomalies" }));
                }
                answers
            })
        })
        .collect();
    for _ in 0..5 {
        let out = Command::new(kpiscope_bin()).args(["refresh", "--db"]).arg(&db).output().expect("kpiscope runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    stop.store(true, Ordering::Relaxed);
    let answers: Vec<(u16, String)> = readers.into_iter().flat_map(|r| r.join().expect("reader thread")).collect();
    assert!(answers.len() >= 10, "readers were answered during the refreshes: {}", answers.len());
    for (status, body) in &answers {
        assert!(*status == 200 || *status == 503, "status {status}: {body}");
        assert!(!body.contains(&db.display().to_string()) && !body.contains("PID"), "a path or pid leaked: {body}");
    }
    // After the last refresh the server reads the new file, and holds none of the old ones.
    let (status, body) = server.get("/replay");
    assert_eq!(status, 200, "{body}");
    let leaked = deleted_files(server.pid());
    assert!(leaked.is_empty(), "replaced database files still open: {leaked:?}");
}
