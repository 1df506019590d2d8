//! The viewer's database handle: read-only, reopened when `refresh` swaps a new file in.

use crate::error::AppError;
use duckdb::Connection;
use kpiscope_db::{open, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// Identity of the database file on disk: `refresh` replaces it by rename, which changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    inode: u64,
    modified: Option<SystemTime>,
}

impl Stamp {
    fn of(path: &Path) -> Result<Stamp, AppError> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path)
            .map_err(|e| AppError::unavailable(format!("database {} is not readable: {e}", path.display())))?;
        Ok(Stamp { inode: meta.ino(), modified: meta.modified().ok() })
    }
}

/// A read-only database shared by all requests.
pub struct Store {
    path: PathBuf,
    extension: Option<PathBuf>,
    current: Mutex<Option<(Stamp, Connection)>>,
}

impl Store {
    /// Opens `path` read-only, loading the extension when given (for the interactive tabs).
    pub fn open(path: &Path, extension: Option<&Path>) -> Result<Store, AppError> {
        let store =
            Store { path: path.to_path_buf(), extension: extension.map(Path::to_path_buf), current: Mutex::new(None) };
        store.connection()?;
        Ok(store)
    }

    /// Whether the extension is loaded (live RCA, what-if and replay).
    pub fn has_extension(&self) -> bool {
        self.extension.is_some()
    }

    /// A connection to the current file, reopening it if `refresh` replaced it.
    pub fn connection(&self) -> Result<Connection, AppError> {
        let stamp = Stamp::of(&self.path)?;
        let mut current = self.current.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if current.as_ref().is_none_or(|(seen, _)| *seen != stamp) {
            let connection = open(&OpenOptions {
                path: Some(self.path.clone()),
                extension: self.extension.clone(),
                read_only: true,
            })
            .map_err(|e| AppError::unavailable(e.to_string()))?;
            *current = Some((stamp, connection));
        }
        let (_, connection) = current.as_ref().expect("opened above");
        connection.try_clone().map_err(AppError::internal)
    }
}
