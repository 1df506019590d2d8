//! Shared pieces of the end-to-end tests: where things are, and the SQL logic test runner.
//!
//! Paths come from the environment `make test` sets (`KPISCOPE_EXTENSION`,
//! `KPISCOPE_DUCKDB_CLI`, `KPISCOPE_PYTHON`) and default to the repository layout. A missing
//! piece fails the test with a message saying how to build it: never a silent skip.

pub mod slt;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

fn required(var: &str, default: PathBuf, how: &str) -> PathBuf {
    let path = std::env::var_os(var).map(PathBuf::from).unwrap_or(default);
    assert!(path.is_file(), "{} not found at {} ({how})", var, path.display());
    path
}

/// The built extension.
pub fn extension() -> PathBuf {
    required("KPISCOPE_EXTENSION", repo_root().join("build/release/kpiscope.duckdb_extension"), "run `make build`")
}

/// The real DuckDB command-line client, from PyPI's duckdb-cli.
pub fn duckdb_cli() -> PathBuf {
    let default = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default()
        .join(".cache/kpiscope/venv-duckdb-1.5.6/bin/duckdb");
    required("KPISCOPE_DUCKDB_CLI", default, "run `make test`, which installs it")
}

/// The built `kpiscope` command.
pub fn kpiscope_bin() -> PathBuf {
    required("KPISCOPE_BIN", repo_root().join("build/release/kpiscope"), "run `make build`")
}

/// A fresh scratch directory for one test.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kpiscope-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir is writable");
    dir
}

/// A running `kpiscope serve`, stopped when dropped (pass or fail).
pub struct Server {
    child: Child,
    /// Its base URL, `http://127.0.0.1:PORT/`.
    pub url: String,
}

impl Server {
    /// Serves `db` on a free loopback port; waits until it listens.
    pub fn start(db: &Path) -> Server {
        let mut child = Command::new(kpiscope_bin())
            .args(["serve", "--addr", "127.0.0.1:0", "--db"])
            .arg(db)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kpiscope serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout piped")).read_line(&mut line).expect("server prints its URL");
        let url =
            line.split_whitespace().find(|w| w.starts_with("http://")).expect("URL in the first line").to_string();
        Server { child, url }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// GET `path` (relative to the base URL): the status and the body.
    pub fn get(&self, path: &str) -> (u16, String) {
        let url = format!("{}{}", self.url, path.trim_start_matches('/'));
        match ureq::get(&url).timeout(std::time::Duration::from_secs(60)).call() {
            Ok(response) => (response.status(), response.into_string().unwrap_or_default()),
            Err(ureq::Error::Status(code, response)) => (code, response.into_string().unwrap_or_default()),
            Err(error) => panic!("GET {url}: {error}"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
