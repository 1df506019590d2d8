//! `kpiscope`: one command in front of the whole product.
//!
//! - `kpiscope demo`: synthetic data -> extension -> analyses, into `demo/kpiscope.duckdb`.
//! - `kpiscope init --source TABLE_OR_FILES`: proposes a KPI model (`kpiscope.toml`).
//! - `kpiscope refresh --db FILE [--model kpiscope.toml]`: runs the model's analyses, atomically.
//! - `kpiscope serve --db FILE`: the web viewer.
//! - `kpiscope report --db FILE --out DIR`: Markdown, PDF and ZIP reports (exit codes in the README).
//! - `kpiscope alert --db FILE --config alerts.toml`: each new incident once per channel.

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use clap::{Parser, Subcommand};
use kpiscope_db::{create_demo, default_extension_path, open, refresh_file, Demo, OpenOptions};
use kpiscope_reports::{export, Format, Options};
use kpiscope_web::{Access, AppState};
use std::net::SocketAddr;
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
    /// Build the demo database from synthetic data, run every analysis on it, and export the
    /// reports to `reports/` beside it.
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
    /// Propose a KPI model (kpiscope.toml) from a table of a database, or from files.
    Init {
        /// A table or view of --db, or a path or glob of CSV, Parquet or JSON files.
        #[arg(long)]
        source: String,
        /// Database holding the table (not needed for files).
        #[arg(long)]
        db: Option<PathBuf>,
        /// Where to write the model.
        #[arg(long, default_value = "kpiscope.toml")]
        out: PathBuf,
        /// Overwrite an existing model file.
        #[arg(long)]
        force: bool,
    },
    /// Run the analyses of a KPI model over a database: load the model (or reuse the one stored
    /// by the last refresh), check it against the data, materialise every tab.
    Refresh {
        /// Database file.
        #[arg(long)]
        db: PathBuf,
        /// The KPI model (default: the model stored by the last refresh).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Redo only what the time steps since the last refresh change (the source's history
        /// must be unchanged); falls back to a full refresh when the model changed.
        #[arg(long)]
        incremental: bool,
    },
    /// Serve the dashboard tabs over a refreshed database (read-only).
    Serve {
        /// Database file.
        #[arg(long)]
        db: PathBuf,
        /// Address to listen on (port 0 picks a free port; the URL is printed).
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// Directory of exported reports for the reports center (default: `reports/` beside the database).
        #[arg(long)]
        reports: Option<PathBuf>,
        /// Serve without the extension: the precomputed views only, no live RCA, what-if or replay.
        #[arg(long)]
        no_extension: bool,
    },
    /// Export the report (Markdown, PDF, ZIP) for a day; for cron and systemd timers.
    Report {
        /// Database file (refreshed).
        #[arg(long)]
        db: PathBuf,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Last day covered (YYYY-MM-DD); default the last day of data.
        #[arg(long)]
        as_of: Option<NaiveDate>,
        /// KPIs to include (repeat or comma-separate); default all.
        #[arg(long = "kpi", value_delimiter = ',')]
        kpis: Vec<String>,
        /// Formats: md, pdf, zip.
        #[arg(long, value_delimiter = ',', default_value = "md,pdf,zip")]
        format: Vec<String>,
    },
    /// Send every new incident once to each configured channel (webhook, Slack, Teams, email); for
    /// cron and systemd timers, after `refresh`. Exit code 1 when a channel stayed down.
    Alert {
        /// Database file (refreshed).
        #[arg(long)]
        db: PathBuf,
        /// The channels (README: "Alerts").
        #[arg(long, default_value = "alerts.toml")]
        config: PathBuf,
        /// The log of what was sent (default: `<db stem>.alerts.duckdb` beside the database).
        #[arg(long)]
        log: Option<PathBuf>,
        /// Print the messages instead of sending them; records nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print how many alerts each channel would have had over the whole history, per KPI
        /// and per month; sends and records nothing.
        #[arg(long, conflicts_with = "dry_run")]
        history: bool,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let extension = cli.extension.unwrap_or_else(default_extension_path);
    match cli.command {
        Command::Demo { db, days, seed, anomalies } => demo(&db, &extension, Demo { days, seed, anomalies }),
        Command::Init { source, db, out, force } => init(&source, db.as_deref(), &out, force),
        Command::Refresh { db, model, incremental } => {
            require_file(&db)?;
            refresh(&db, &extension, model.as_deref(), incremental)
        }
        Command::Report { db, out, as_of, kpis, format } => report(db, out, as_of, kpis, &format),
        Command::Alert { db, config, log, dry_run, history } => {
            require_file(&db)?;
            if history {
                alert_history(&db, &config)
            } else {
                alert(&db, &config, log, dry_run)
            }
        }
        Command::Serve { db, addr, reports, no_extension } => {
            require_file(&db)?;
            let reports = reports.unwrap_or_else(|| beside(&db, "reports"));
            let live = !no_extension && extension.is_file();
            if !no_extension && !live {
                eprintln!(
                    "kpiscope: no extension at {}: serving the stored views only (no live RCA, what-if or replay)",
                    extension.display()
                );
            }
            serve(&db, live.then_some(extension.as_path()), reports, addr)
        }
    }
}

/// Runs the exporter; a failure exits with the code of its kind (README: "Reports").
fn report(db: PathBuf, out: PathBuf, as_of: Option<NaiveDate>, kpis: Vec<String>, format: &[String]) -> Result<()> {
    let started = Instant::now();
    let result = format
        .iter()
        .map(|f| Format::parse(f))
        .collect::<Result<Vec<_>, _>>()
        .and_then(|formats| export(&Options { db, out, as_of, kpis, formats }));
    match result {
        Ok(written) => {
            eprintln!("kpiscope: {} report files in {:.1}s", written.len(), started.elapsed().as_secs_f64());
            Ok(())
        }
        Err(e) => {
            eprintln!("kpiscope: error: {e}");
            std::process::exit(e.exit_code());
        }
    }
}

fn alert(db: &Path, config: &Path, log: Option<PathBuf>, dry_run: bool) -> Result<()> {
    let config = kpiscope_alerts::Config::from_file(config)?;
    let log = log.unwrap_or_else(|| kpiscope_alerts::log_path(db));
    let outcomes = kpiscope_alerts::run(db, &log, &config, dry_run, |line| println!("{line}"))?;
    let mut failed = false;
    for (channel, o) in &outcomes {
        let verb = if dry_run { "would send" } else { "sent" };
        eprintln!(
            "kpiscope: {channel}: {verb} {}, failed {}, history recorded unsent {}, dismissed or suppressed {}",
            o.sent, o.failed, o.baseline, o.suppressed
        );
        failed |= o.failed > 0;
    }
    if failed {
        // The other channels went out; a rerun retries only what failed.
        std::process::exit(1);
    }
    Ok(())
}

fn alert_history(db: &Path, config: &Path) -> Result<()> {
    let config = kpiscope_alerts::Config::from_file(config)?;
    for (channel, kpi, incidents, months) in kpiscope_alerts::history(db, &config)? {
        let rate = if months > 0.0 { format!("{:.1} a month", incidents as f64 / months) } else { "-".into() };
        println!("{channel}\t{kpi}\t{incidents} incidents in {months:.1} months\t{rate}");
    }
    Ok(())
}

fn require_file(db: &Path) -> Result<()> {
    if !db.is_file() {
        bail!("database {} does not exist", db.display());
    }
    Ok(())
}

/// `name` in the directory of `db`.
fn beside(db: &Path, name: &str) -> PathBuf {
    db.parent().unwrap_or(Path::new(".")).join(name)
}

fn serve(db: &Path, extension: Option<&Path>, reports: PathBuf, addr: SocketAddr) -> Result<()> {
    let mut state = AppState::new(db, extension, Some(reports)).map_err(|e| anyhow::anyhow!("{}", e.message))?;
    state.allow_feedback(Access::for_listener(addr.ip().is_loopback(), std::env::var("KPISCOPE_VIEWER_SECRET").ok()));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(kpiscope_web::serve(state, addr)).with_context(|| format!("serving on {addr}"))
}

fn demo(db: &Path, extension: &Path, demo: Demo) -> Result<()> {
    let started = Instant::now();
    eprintln!(
        "kpiscope: generating {} days of demo data (seed {}, {} anomalies)",
        demo.days, demo.seed, demo.anomalies
    );
    create_demo(db, extension, demo, progress)?;
    eprintln!("kpiscope: wrote {} in {:.1}s", db.display(), started.elapsed().as_secs_f64());
    {
        let connection = open(&OpenOptions { path: Some(db.to_path_buf()), extension: None, read_only: true })?;
        print_scores(&connection)?;
    }
    let formats = vec![Format::Markdown, Format::Pdf, Format::Zip];
    let options = Options { db: db.to_path_buf(), out: beside(db, "reports"), as_of: None, kpis: Vec::new(), formats };
    export(&options).context("exporting the demo reports")?;
    Ok(())
}

fn refresh(db: &Path, extension: &Path, model: Option<&Path>, incremental: bool) -> Result<()> {
    let started = Instant::now();
    refresh_file(db, extension, model, incremental, progress)?;
    eprintln!("kpiscope: refreshed {} in {:.1}s", db.display(), started.elapsed().as_secs_f64());
    Ok(())
}

fn init(source: &str, db: Option<&Path>, out: &Path, force: bool) -> Result<()> {
    use kpiscope_db::model::{propose, Proposal};
    if out.exists() && !force {
        bail!("{} exists; pass --force to overwrite it", out.display());
    }
    let path = Path::new(source);
    let is_files = db.is_none() || source.contains(['/', '*']) || path.is_file();
    let (proposal, from, connection) = if is_files {
        let lower = source.to_ascii_lowercase();
        let reader = if lower.contains(".parquet") {
            "read_parquet"
        } else if lower.contains(".json") {
            "read_json"
        } else {
            "read_csv"
        };
        // The model file says the path relative to itself; DuckDB reads it from here.
        let base = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let absolute = std::path::absolute(path)?;
        let relative = pathdiff(&absolute, &std::path::absolute(base)?);
        let from = format!("{reader}('{}')", absolute.display().to_string().replace('\'', "''"));
        (Proposal::Files(relative), from, open(&OpenOptions::default())?)
    } else {
        let db = db.expect("checked above");
        require_file(db)?;
        let from = format!("query_table('{}')", source.replace('\'', "''"));
        let connection = open(&OpenOptions { path: Some(db.to_path_buf()), extension: None, read_only: true })?;
        (Proposal::Table(source.to_string()), from, connection)
    };
    let text = propose(&connection, &proposal, &from)?;
    std::fs::write(out, &text).with_context(|| format!("writing {}", out.display()))?;
    eprintln!(
        "kpiscope: wrote {}; edit it, then run: kpiscope refresh --db FILE --model {}",
        out.display(),
        out.display()
    );
    Ok(())
}

/// `path` relative to `base` when it lies below it, else absolute.
fn pathdiff(path: &Path, base: &Path) -> String {
    path.strip_prefix(base).map_or_else(|_| path.display().to_string(), |p| p.display().to_string())
}

fn print_scores(connection: &duckdb::Connection) -> Result<()> {
    let mut stmt = connection.prepare(kpiscope_db::DEMO_SCORES_SQL)?;
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

/// Progress of a refresh, on stderr: each step as it starts, with how long the one before took.
fn progress(step: usize, steps: usize, name: &str) {
    use std::sync::Mutex;
    static LAST: Mutex<Option<Instant>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    let took = last.filter(|_| step > 1).map(|t| format!(" (previous step {:.2}s)", t.elapsed().as_secs_f64()));
    eprintln!("kpiscope: [{step}/{steps}] {name}{}", took.unwrap_or_default());
    *last = Some(Instant::now());
}
