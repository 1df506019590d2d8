//! The report exporter: one command a scheduler can run, Markdown + PDF + ZIP from the same
//! refreshed database the viewer shows.
//!
//! Everything is read from the tab views (no extension needed). Files get deterministic names
//! (`kpiscope-report_<as-of>.<ext>`), are written to a temporary name and renamed, and each
//! export is recorded in the database's `kpi_reports` table when the file is writable.

mod archive;
mod data;
mod pdf;

pub use data::{ReportData, PERIOD_DAYS};

use chrono::NaiveDate;
use kpiscope_db::{open, OpenOptions};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Markdown.
    Markdown,
    /// PDF.
    Pdf,
    /// ZIP of Markdown, PDF, chart SVGs, CSV extracts and a manifest.
    Zip,
}

impl Format {
    /// File extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Markdown => "md",
            Format::Pdf => "pdf",
            Format::Zip => "zip",
        }
    }

    /// Parses `md`, `pdf` or `zip`.
    pub fn parse(text: &str) -> Result<Format, ReportError> {
        match text.trim() {
            "md" | "markdown" => Ok(Format::Markdown),
            "pdf" => Ok(Format::Pdf),
            "zip" => Ok(Format::Zip),
            other => Err(ReportError::UnknownFormat(other.to_string())),
        }
    }
}

/// What to export.
#[derive(Debug, Clone)]
pub struct Options {
    /// The refreshed database.
    pub db: PathBuf,
    /// Output directory (created if missing).
    pub out: PathBuf,
    /// Last day the report covers; default the last day of data.
    pub as_of: Option<NaiveDate>,
    /// KPI keys; empty for all.
    pub kpis: Vec<String>,
    /// Formats to write.
    pub formats: Vec<Format>,
}

/// Why an export failed; each maps to its own exit code.
#[derive(Debug, Error)]
pub enum ReportError {
    /// The database file is missing.
    #[error("database {0} does not exist")]
    MissingDatabase(PathBuf),
    /// The database cannot be opened or read.
    #[error("cannot read the database: {0}")]
    Database(String),
    /// The database has no refreshed tables.
    #[error("the database has not been refreshed: run `kpiscope refresh --db FILE` first")]
    NotRefreshed,
    /// Nothing to report for the day asked.
    #[error("no data for {as_of}: the database covers {from} to {to}")]
    NoData {
        /// Day asked.
        as_of: NaiveDate,
        /// First day of data.
        from: NaiveDate,
        /// Last day of data.
        to: NaiveDate,
    },
    /// A KPI not in the catalogue.
    #[error("unknown KPI {kpi:?}; choose from {known}")]
    UnknownKpi {
        /// What was asked.
        kpi: String,
        /// What exists.
        known: String,
    },
    /// A format other than md, pdf, zip.
    #[error("unknown format {0:?}; choose md, pdf or zip")]
    UnknownFormat(String),
    /// The output directory cannot be written.
    #[error("cannot write to {path}: {source}")]
    Unwritable {
        /// File or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A template or archive failed to render (a bug of ours).
    #[error("cannot render the report: {0}")]
    Render(String),
}

impl ReportError {
    /// The process exit code for this failure (documented in the README).
    pub fn exit_code(&self) -> i32 {
        match self {
            ReportError::MissingDatabase(_) | ReportError::Database(_) => 3,
            ReportError::NotRefreshed | ReportError::NoData { .. } => 4,
            ReportError::Unwritable { .. } => 5,
            ReportError::UnknownKpi { .. } | ReportError::UnknownFormat(_) => 2,
            ReportError::Render(_) => 1,
        }
    }
}

impl From<duckdb::Error> for ReportError {
    fn from(error: duckdb::Error) -> ReportError {
        ReportError::Database(error.to_string())
    }
}

/// A file the export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Path.
    pub path: PathBuf,
    /// Format.
    pub format: &'static str,
    /// Size.
    pub bytes: u64,
    /// SHA-256, hex.
    pub sha256: String,
}

/// The file name of a report: `kpiscope-report_<as-of>.<ext>`.
pub fn file_name(as_of: &str, format: Format) -> String {
    format!("kpiscope-report_{as_of}.{}", format.extension())
}

/// The folder of a report's charts, beside its Markdown on disk and inside the ZIP, so the
/// `.md` shows them either way; one per day, so an older report keeps its own charts.
pub fn charts_dir(as_of: &str) -> String {
    format!("kpiscope-report_{as_of}_charts")
}

/// Hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Renders the Markdown report.
pub fn markdown(data: &ReportData) -> Result<String, ReportError> {
    let mut env = minijinja::Environment::new();
    env.add_template("report.md", include_str!("../templates/report.md"))
        .map_err(|e| ReportError::Render(e.to_string()))?;
    let template = env.get_template("report.md").map_err(|e| ReportError::Render(e.to_string()))?;
    template
        .render(minijinja::context! { r => data, charts => charts_dir(&data.as_of) })
        .map_err(|e| ReportError::Render(e.to_string()))
}

/// Renders the PDF report.
pub fn pdf(data: &ReportData) -> Vec<u8> {
    pdf::render(data)
}

/// Exports the report; logs each file on stderr and returns what it wrote.
pub fn export(options: &Options) -> Result<Vec<Written>, ReportError> {
    if !options.db.is_file() {
        return Err(ReportError::MissingDatabase(options.db.clone()));
    }
    let data = {
        let connection = open(&OpenOptions { path: Some(options.db.clone()), extension: None, read_only: true })
            .map_err(|e| ReportError::Database(e.to_string()))?;
        // A report without the alert log still says everything else; the reason is logged.
        let sent = kpiscope_alerts::sent(&kpiscope_alerts::log_path(&options.db)).unwrap_or_else(|e| {
            eprintln!("kpiscope: the report leaves out the alerts sent: {e}");
            Vec::new()
        });
        ReportData::load(&connection, options.as_of, &options.kpis, &sent)?
    };
    std::fs::create_dir_all(&options.out)
        .map_err(|source| ReportError::Unwritable { path: options.out.clone(), source })?;
    let md = markdown(&data)?;
    let pdf = pdf(&data);
    let mut written = Vec::new();
    for format in &options.formats {
        let bytes = match format {
            Format::Markdown => md.clone().into_bytes(),
            Format::Pdf => pdf.clone(),
            Format::Zip => archive::zip(&data, &md, &pdf)?,
        };
        let path = options.out.join(file_name(&data.as_of, *format));
        if *format == Format::Markdown {
            let dir = options.out.join(charts_dir(&data.as_of));
            std::fs::create_dir_all(&dir).map_err(|source| ReportError::Unwritable { path: dir.clone(), source })?;
            for chart in data.charts() {
                write_atomically(&dir.join(&chart.file), chart.figure.to_svg().as_bytes())?;
            }
        }
        write_atomically(&path, &bytes)?;
        eprintln!("kpiscope: wrote {} ({} bytes)", path.display(), bytes.len());
        written.push(Written {
            path,
            format: format.extension(),
            bytes: bytes.len() as u64,
            sha256: sha256_hex(&bytes),
        });
    }
    register(&options.db, &data.title(), &data.as_of, &written);
    Ok(written)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let unwritable = |source| ReportError::Unwritable { path: path.to_path_buf(), source };
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".partial");
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, bytes).map_err(unwritable)?;
    std::fs::rename(&temporary, path).map_err(|source| {
        let _ = std::fs::remove_file(&temporary);
        unwritable(source)
    })
}

/// Records the export in `kpi_reports` for BI tools and the reports-center view. Best effort:
/// a database held open by the viewer cannot take a writer, and the files are what matter.
fn register(db: &Path, title: &str, as_of: &str, written: &[Written]) {
    let result = (|| -> Result<(), Box<dyn std::error::Error>> {
        let connection = open(&OpenOptions { path: Some(db.to_path_buf()), extension: None, read_only: false })?;
        for file in written {
            let name = file.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            connection.execute("DELETE FROM kpi_reports WHERE file = ?", [&name])?;
            connection.execute(
                "INSERT INTO kpi_reports (report, as_of, format, file, bytes, sha256, created_at)
                 VALUES (?, ?::DATE, ?, ?, ?, ?, now()::TIMESTAMP)",
                duckdb::params![title, as_of, file.format, name, file.bytes as i64, file.sha256],
            )?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        eprintln!("kpiscope: reports written but not recorded in kpi_reports ({e})");
    }
}
