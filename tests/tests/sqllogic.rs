//! Runs every `tests/sql/*.test` file against the built extension and prints
//! `N passed, N failed`. A file whose `require kpiscope` cannot load fails; nothing skips.

use kpiscope_tests::{extension, repo_root, slt};

fn main() {
    let extension = extension();
    let mut files: Vec<_> = std::fs::read_dir(repo_root().join("tests/sql"))
        .expect("tests/sql exists")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "test"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .test files in tests/sql");
    let (mut passed, mut failed) = (0, 0);
    for file in &files {
        let report = slt::run_file(file, &extension);
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        println!("{name}: {} passed, {} failed", report.passed, report.failures.len());
        for failure in &report.failures {
            println!("  FAIL {name}:{failure}");
        }
        passed += report.passed;
        failed += report.failures.len();
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
