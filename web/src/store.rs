//! The viewer's database handle: read-only, switched to the new file when `refresh` swaps it in.
//!
//! One in-memory DuckDB instance (the *hub*) lives as long as the server, with the extension
//! loaded once. The database file is `ATTACH`ed to it read-only, and each refreshed file is
//! attached anew as the next *generation*; the old one is detached (and its file closed) when
//! the last request reading it ends. Opening each file as an instance of its own would leak it:
//! the extension's side connections keep the instance they were loaded into alive for good
//! (docs/ARCHITECTURE.md, "The side connections"), so every refresh left a deleted file open.

use crate::error::AppError;
use duckdb::Connection;
use kpiscope_db::{open, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// Identity of the database file on disk: `refresh` replaces it by rename, which changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    inode: u64,
    modified: Option<SystemTime>,
}

impl Stamp {
    fn of(path: &Path) -> std::io::Result<Stamp> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path)?;
        Ok(Stamp { inode: meta.ino(), modified: meta.modified().ok() })
    }
}

/// One attached file; detached when the last session reading it is dropped.
struct Generation {
    stamp: Stamp,
    alias: String,
    hub: Mutex<Connection>,
}

impl Drop for Generation {
    fn drop(&mut self) {
        let hub = self.hub.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Err(error) = hub.execute_batch(&format!("DETACH {}", self.alias)) {
            eprintln!("kpiscope serve: could not detach {}: {error}", self.alias);
        }
    }
}

/// A connection for one request, reading one generation of the file (its default database).
pub struct Session {
    connection: Connection,
    generation: Arc<Generation>,
}

impl Session {
    /// The generation's name, unique for the life of the server: what a cached page is for.
    pub fn generation(&self) -> &str {
        &self.generation.alias
    }

    /// `table` qualified with this generation's database, for the extension's functions: they
    /// read through their own connections, which do not share this session's default database.
    pub fn source(&self, table: &str) -> String {
        format!("{}.main.{table}", self.generation.alias)
    }
}

impl std::ops::Deref for Session {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.connection
    }
}

/// The database file shared by all requests.
pub struct Store {
    path: PathBuf,
    live: bool,
    hub: Mutex<Connection>,
    current: Mutex<Option<Arc<Generation>>>,
    attached: std::sync::atomic::AtomicU64,
}

impl Store {
    /// Opens `path` read-only, loading the extension when given (for the interactive tabs).
    pub fn open(path: &Path, extension: Option<&Path>) -> Result<Store, AppError> {
        let hub = open(&OpenOptions { path: None, extension: extension.map(Path::to_path_buf), read_only: false })
            .map_err(|e| AppError::unavailable(e.to_string()))?;
        let store = Store {
            path: path.to_path_buf(),
            live: extension.is_some(),
            hub: Mutex::new(hub),
            current: Mutex::new(None),
            attached: Default::default(),
        };
        store.connection()?;
        Ok(store)
    }

    /// Whether the extension is loaded (live RCA, what-if and replay).
    pub fn has_extension(&self) -> bool {
        self.live
    }

    /// How many files are attached (the current one, plus older ones still being read).
    pub fn attached_files(&self) -> Result<i64, AppError> {
        let count = self.hub().query_row(
            "SELECT count(*) FROM duckdb_databases() WHERE database_name LIKE 'kpiscope_g%'",
            [],
            |row| row.get(0),
        )?;
        Ok(count)
    }

    /// A session on the current file, switching to a new generation if `refresh` replaced it.
    /// While the new file cannot be attached yet (refresh may still hold it), requests keep
    /// reading the previous one.
    pub fn connection(&self) -> Result<Session, AppError> {
        let generation = self.generation()?;
        let connection = self.hub().try_clone().map_err(AppError::internal)?;
        connection.execute_batch(&format!("USE {}", generation.alias)).map_err(AppError::internal)?;
        Ok(Session { connection, generation })
    }

    fn hub(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.hub.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn generation(&self) -> Result<Arc<Generation>, AppError> {
        let mut current = self.current.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let stamp = Stamp::of(&self.path);
        let fresh = match (&stamp, current.as_ref()) {
            (Ok(stamp), Some(generation)) => generation.stamp == *stamp,
            (Ok(_), None) => false,
            (Err(_), Some(_)) => true,
            (Err(error), None) => {
                eprintln!("kpiscope serve: database {} is not readable: {error}", self.path.display());
                return Err(unavailable());
            }
        };
        if !fresh {
            let stamp = stamp.map_err(AppError::internal)?;
            match self.attach(stamp) {
                Ok(generation) => *current = Some(Arc::new(generation)),
                Err(error) => {
                    eprintln!("kpiscope serve: cannot open {} yet: {error}", self.path.display());
                    if current.is_none() {
                        return Err(unavailable());
                    }
                }
            }
        }
        Ok(Arc::clone(current.as_ref().expect("attached above or earlier")))
    }

    fn attach(&self, stamp: Stamp) -> Result<Generation, duckdb::Error> {
        let n = self.attached.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let alias = format!("kpiscope_g{n}");
        let literal = self.path.display().to_string().replace('\'', "''");
        let hub = self.hub();
        hub.execute_batch(&format!("ATTACH '{literal}' AS {alias} (READ_ONLY)"))?;
        Ok(Generation { stamp, alias, hub: Mutex::new(hub.try_clone()?) })
    }
}

/// What a reader sees while no file can be read: no paths, no process ids (the log has them).
fn unavailable() -> AppError {
    AppError::unavailable(
        "The database cannot be read right now (a refresh may be replacing it). Try again in a moment.",
    )
}
