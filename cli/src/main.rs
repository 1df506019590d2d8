//! `kpiscope`: one command in front of the whole product.
//!
//! - `kpiscope demo`: synthetic data -> extension -> analyses, into `demo/kpiscope.duckdb`.
//! - `kpiscope refresh --db FILE`: reruns the analyses over an existing database.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use kpiscope_db::{default_extension_path, open, run_script, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Parser)]
#[command(name = "kpiscope", version, about = "KPI anomaly detection, RCA and forecasting inside DuckDB")]
struct Cli {
    /// The extension to load (default: beside this binary, or $KPISCOPE_EXTENSION).
    #[arg(long, global = true)]
    extension: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the demo database from synthetic data and run every analysis on it.
    Demo {
        /// Database file to (re)create.
        #[arg(long, default_value = "demo/kpiscope.duckdb")]
        db: PathBuf,
        /// Days of data.
        #[arg(long, default_value_t = 180)]
        days: u32,
        /// Random seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Anomalies to inject.
        #[arg(long, default_value_t = 8)]
        anomalies: u32,
    },
    /// Rerun the analyses over the KPI tables of an existing database.
    Refresh {
        /// Database file.
        #[arg(long)]
        db: PathBuf,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let extension = cli.extension.unwrap_or_else(default_extension_path);
    match cli.command {
        Command::Demo { db, days, seed, anomalies } => demo(&db, &extension, days, seed, anomalies),
        Command::Refresh { db } => {
            if !db.is_file() {
                bail!("database {} does not exist", db.display());
            }
            refresh(&db, &extension)
        }
    }
}

fn demo(db: &Path, extension: &Path, days: u32, seed: u64, anomalies: u32) -> Result<()> {
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // Build beside the target and rename, so a reader never opens a half-built demo.
    let staging = db.with_extension("duckdb.building");
    remove_database(&staging)?;
    let started = Instant::now();
    {
        let connection = open(&OpenOptions {
            path: Some(staging.clone()),
            extension: Some(extension.to_path_buf()),
            read_only: false,
        })?;
        let sql = kpiscope_db::DEMO_DATA_SQL
            .replace("{days}", &days.to_string())
            .replace("{seed}", &seed.to_string())
            .replace("{anomalies}", &anomalies.to_string());
        eprintln!("kpiscope: generating {days} days of demo data (seed {seed}, {anomalies} anomalies)");
        run_script(&connection, "sql/demo_data.sql", &sql)?;
        eprintln!("kpiscope: running analyses");
        run_script(&connection, "sql/refresh.sql", kpiscope_db::REFRESH_SQL)?;
        print_scores(&connection)?;
        connection.execute_batch("CHECKPOINT")?;
    }
    remove_database(db)?;
    std::fs::rename(&staging, db).with_context(|| format!("moving {} into place", db.display()))?;
    eprintln!("kpiscope: wrote {} in {:.1}s", db.display(), started.elapsed().as_secs_f64());
    Ok(())
}

fn refresh(db: &Path, extension: &Path) -> Result<()> {
    let started = Instant::now();
    let connection = open(&OpenOptions {
        path: Some(db.to_path_buf()),
        extension: Some(extension.to_path_buf()),
        read_only: false,
    })?;
    run_script(&connection, "sql/refresh.sql", kpiscope_db::REFRESH_SQL)?;
    eprintln!("kpiscope: refreshed {} in {:.1}s", db.display(), started.elapsed().as_secs_f64());
    Ok(())
}

fn print_scores(connection: &duckdb::Connection) -> Result<()> {
    let mut stmt = connection.prepare(include_str!("../../sql/demo_scores.sql"))?;
    let rows = stmt.query_map([], |row| {
        Ok(format!(
            "  {:<12} tp {:>4}  fp {:>4}  fn {:>4}  precision {:.3}  recall {:.3}  f1 {:.3}",
            row.get::<_, String>(0)?,
            row.get::<_, i64>(1)?,
            row.get::<_, i64>(2)?,
            row.get::<_, i64>(3)?,
            row.get::<_, Option<f64>>(4)?.unwrap_or(f64::NAN),
            row.get::<_, Option<f64>>(5)?.unwrap_or(f64::NAN),
            row.get::<_, Option<f64>>(6)?.unwrap_or(f64::NAN),
        ))
    })?;
    println!("revenue anomalies vs injected labels:");
    for line in rows {
        println!("{}", line?);
    }
    Ok(())
}

/// Removes a database file and its write-ahead log, if present.
fn remove_database(path: &Path) -> Result<()> {
    for file in [path.to_path_buf(), PathBuf::from(format!("{}.wal", path.display()))] {
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", file.display())),
        }
    }
    Ok(())
}
