//! `kpiscope alert`: every new incident of a refreshed database, once per channel (generic
//! webhook, Slack or Microsoft Teams incoming webhook, email over SMTP), recorded in a log so
//! that a rerun sends nothing twice and retries only what failed.
//!
//! The log is a small DuckDB file of its own beside the database (`shop.alerts.duckdb` for
//! `shop.duckdb`), not a table in it: `kpiscope refresh` replaces the database file by a
//! refreshed copy, and a record written between its copy and its rename would be lost, so the
//! incident would be sent again.

use duckdb::{params, Connection};
use kpiscope_db::catalog::format_value;
use kpiscope_db::{open, DbError, OpenOptions};
use kpiscope_engine::detect::Severity;
use serde::Deserialize;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What can go wrong before or while alerting.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// The configuration file cannot be read or parsed.
    #[error("alert config {path}: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where.
        message: String,
    },
    /// A database (the refreshed one or the log) cannot be opened.
    #[error(transparent)]
    Open(#[from] DbError),
    /// A database (the refreshed one or the log) cannot be read or written.
    #[error("{what}: {source}")]
    Database {
        /// What was being done.
        what: String,
        /// DuckDB's error.
        source: duckdb::Error,
    },
}

fn database(what: &str) -> impl Fn(duckdb::Error) -> AlertError + '_ {
    move |source| AlertError::Database { what: what.to_string(), source }
}

/// The refreshed database, read-only (the viewer may hold it open too).
fn open_refreshed(db: &Path) -> Result<Connection, AlertError> {
    Ok(open(&OpenOptions { path: Some(db.to_path_buf()), read_only: true, ..Default::default() })?)
}

/// A channel's kind: the payload it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Any HTTP endpoint: the documented JSON body (`schema: kpiscope.alert/1`).
    Webhook,
    /// A Slack incoming webhook: `text` plus one mrkdwn section.
    Slack,
    /// A Microsoft Teams (Workflows) incoming webhook: one Adaptive Card.
    Teams,
    /// Email over SMTP: a plain-text message per incident.
    Email,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    viewer_url: Option<String>,
    retries: Option<u32>,
    retry_delay_ms: Option<u64>,
    #[serde(default, rename = "channel")]
    channels: Vec<ChannelFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelFile {
    name: String,
    kind: Kind,
    url: Option<String>,
    url_env: Option<String>,
    #[serde(default)]
    kpis: Vec<String>,
    min_severity: Option<String>,
    smtp_host: Option<String>,
    smtp_port: Option<u16>,
    starttls: Option<bool>,
    ca_file: Option<PathBuf>,
    username_env: Option<String>,
    password_env: Option<String>,
    from: Option<String>,
    #[serde(default)]
    to: Vec<String>,
}

/// Where a channel's messages go.
#[derive(Debug, Clone)]
pub enum Target {
    /// An HTTP endpoint that takes a JSON POST.
    Http(String),
    /// An SMTP server.
    Smtp(Smtp),
}

/// An email channel's server and addresses. Credentials come from the environment only.
#[derive(Debug, Clone)]
pub struct Smtp {
    /// Server name.
    pub host: String,
    /// Port (default 587, submission).
    pub port: u16,
    /// Upgrade to TLS with STARTTLS before sending (default true; false only for a relay on
    /// the same host).
    pub starttls: bool,
    /// An extra certificate authority (PEM) to trust for STARTTLS, besides the bundled web
    /// roots: for a relay whose certificate an internal CA signed.
    pub ca_pem: Option<Vec<u8>>,
    /// User name and password, from `username_env` and `password_env`.
    pub credentials: Option<(String, String)>,
    /// Sender.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
}

/// One place alerts go.
#[derive(Debug, Clone)]
pub struct Channel {
    /// Its name in the log and in messages.
    pub name: String,
    /// Its payload.
    pub kind: Kind,
    /// Where messages go.
    pub target: Target,
    /// The KPIs it gets (empty: all).
    pub kpis: Vec<String>,
    /// The least peak severity it gets.
    pub min_severity: Severity,
}

impl Channel {
    /// Whether `incident` goes to this channel: its KPI is listed (or none are) and its peak
    /// severity reaches the channel's least.
    pub fn routes(&self, incident: &Incident) -> bool {
        (self.kpis.is_empty() || self.kpis.contains(&incident.kpi))
            && severity(&incident.severity).is_some_and(|s| s >= self.min_severity)
    }
}

/// How many alerts the current settings would have sent over the whole history: per channel
/// and KPI, the incidents it routes and the months the data spans (the alert budget's
/// measure: compare the rate a month with what the team can act on).
pub fn history(db: &Path, config: &Config) -> Result<Vec<(String, String, usize, f64)>, AlertError> {
    let con = open_refreshed(db)?;
    let incidents = incidents(&con)?;
    let months: f64 = con
        .query_row(
            "SELECT coalesce(date_diff('second', min(ts)::TIMESTAMP, max(ts)::TIMESTAMP), 0) / 86400.0 / 30.4375 \
             FROM kpi_anomalies",
            [],
            |r| r.get(0),
        )
        .map_err(database("reading the data's span"))?;
    let mut rows = Vec::new();
    for channel in &config.channels {
        let mut per_kpi: Vec<(String, usize)> = Vec::new();
        for incident in incidents.iter().filter(|i| channel.routes(i)) {
            match per_kpi.iter_mut().find(|(k, _)| *k == incident.kpi) {
                Some((_, n)) => *n += 1,
                None => per_kpi.push((incident.kpi.clone(), 1)),
            }
        }
        per_kpi.sort();
        rows.extend(per_kpi.into_iter().map(|(kpi, n)| (channel.name.clone(), kpi, n, months)));
    }
    Ok(rows)
}

/// The alert configuration: channels, the viewer's address for links, retries.
#[derive(Debug, Clone)]
pub struct Config {
    /// The channels.
    pub channels: Vec<Channel>,
    /// The viewer's base URL (`http://host:8080`), for a link to each incident's day.
    pub viewer_url: Option<String>,
    /// Further attempts after a failed one.
    pub retries: u32,
    /// The wait before the first retry; it doubles for each further one.
    pub retry_delay: Duration,
}

impl Config {
    /// Reads `alerts.toml`. Webhook URLs embed secrets, so `url_env` names an environment
    /// variable that holds one instead of writing it into the file.
    pub fn from_file(path: &Path) -> Result<Config, AlertError> {
        let error = |message: String| AlertError::Config { path: path.into(), message };
        let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
        let file: ConfigFile = toml::from_str(&text).map_err(|e| error(e.to_string()))?;
        let mut channels = Vec::new();
        for c in file.channels {
            if channels.iter().any(|k: &Channel| k.name == c.name) {
                return Err(error(format!("two channels are named '{}'", c.name)));
            }
            let env = |var: &str| {
                std::env::var(var)
                    .map_err(|_| error(format!("channel '{}': environment variable {var} is not set", c.name)))
            };
            let target = if c.kind == Kind::Email {
                let host = c.smtp_host.clone().ok_or_else(|| error(format!("channel '{}' needs smtp_host", c.name)))?;
                let from = c.from.clone().ok_or_else(|| error(format!("channel '{}' needs from", c.name)))?;
                if c.to.is_empty() {
                    return Err(error(format!("channel '{}' needs at least one address in to", c.name)));
                }
                let credentials = match (&c.username_env, &c.password_env) {
                    (Some(u), Some(p)) => Some((env(u)?, env(p)?)),
                    (None, None) => None,
                    _ => return Err(error(format!("channel '{}' needs both username_env and password_env", c.name))),
                };
                let port = c.smtp_port.unwrap_or(587);
                let starttls = c.starttls.unwrap_or(true);
                let ca_pem = match &c.ca_file {
                    Some(_) if !starttls => {
                        return Err(error(format!("channel '{}': ca_file needs starttls = true", c.name)))
                    }
                    // Relative to the configuration file, like the paths in a KPI model.
                    Some(file) => {
                        Some(std::fs::read(path.parent().unwrap_or(Path::new(".")).join(file)).map_err(|e| {
                            error(format!("channel '{}': cannot read ca_file {}: {e}", c.name, file.display()))
                        })?)
                    }
                    None => None,
                };
                Target::Smtp(Smtp { host, port, starttls, ca_pem, credentials, from, to: c.to })
            } else {
                let url = match (c.url, c.url_env) {
                    (Some(url), None) => url,
                    (None, Some(var)) => env(&var)?,
                    _ => return Err(error(format!("channel '{}' needs exactly one of url and url_env", c.name))),
                };
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(error(format!("channel '{}': the url must start with http:// or https://", c.name)));
                }
                Target::Http(url)
            };
            let min_severity = match c.min_severity.as_deref() {
                None => Severity::Minor,
                Some(text) => severity(text).filter(|s| *s != Severity::None).ok_or_else(|| {
                    error(format!("channel '{}': min_severity must be minor, major or critical, got '{text}'", c.name))
                })?,
            };
            channels.push(Channel { name: c.name, kind: c.kind, target, kpis: c.kpis, min_severity });
        }
        if channels.is_empty() {
            return Err(error("no [[channel]] is configured".into()));
        }
        Ok(Config {
            channels,
            viewer_url: file.viewer_url.map(|u| u.trim_end_matches('/').to_string()),
            retries: file.retries.unwrap_or(3).min(10),
            retry_delay: Duration::from_millis(file.retry_delay_ms.unwrap_or(1000).min(60_000)),
        })
    }
}

fn severity(text: &str) -> Option<Severity> {
    [Severity::None, Severity::Minor, Severity::Major, Severity::Critical].into_iter().find(|s| s.as_str() == text)
}

/// One incident as an alert says it.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    /// Stable across refreshes: KPI, first time step and direction (incident numbers are not).
    pub key: String,
    /// The KPI's key.
    pub kpi: String,
    /// The KPI's label.
    pub label: String,
    /// Unit (`percent` values are shares).
    pub unit: String,
    /// First time step.
    pub start: String,
    /// Last time step so far.
    pub end: String,
    /// `up` or `down`.
    pub direction: String,
    /// Peak severity.
    pub severity: String,
    /// The time step of the peak, with its actual and expected value.
    pub peak: String,
    /// Actual value at the peak.
    pub actual: Option<f64>,
    /// Expected value at the peak.
    pub expected: Option<f64>,
    /// The worst relative deviation (0.15 = 15%).
    pub deviation: Option<f64>,
    /// The root-cause segments at the peak with their share of the change.
    pub causes: Vec<(String, Option<f64>)>,
    /// The suggested action.
    pub action: Option<String>,
    /// Whether it runs through the latest time step of the data.
    pub ongoing: bool,
    /// Why it is not sent: dismissed in the viewer, or suppressed by a dismissed incident of
    /// the same shape (`kpi_incidents.suppression`).
    pub silenced: Option<String>,
}

/// The incidents of a refreshed database (open on `con`), oldest first.
pub fn incidents(con: &Connection) -> Result<Vec<Incident>, AlertError> {
    let read = database("reading incidents (run `kpiscope refresh` first)");
    let mut stmt = con
        .prepare(
            "WITH latest AS (SELECT max(ts) AS t FROM kpi_anomalies),
             peak AS (
               SELECT i.*, a.ts AS peak_ts, a.value, a.expected FROM kpi_incidents i
               JOIN kpi_anomalies a ON a.kpi = i.kpi AND a.is_anomaly AND a.ts BETWEEN i.start_ts AND i.end_ts
               QUALIFY row_number() OVER (PARTITION BY i.incident ORDER BY a.score DESC, a.ts) = 1)
             SELECT p.kpi || '|' || CAST(p.start_ts AS VARCHAR) || '|' || p.direction, p.kpi, c.label, c.unit,
                    CAST(p.start_ts AS VARCHAR), CAST(p.end_ts AS VARCHAR), p.direction, p.peak_severity,
                    CAST(p.peak_ts AS VARCHAR), p.value, p.expected, p.worst_deviation_pct, p.action,
                    p.end_ts = (SELECT t FROM latest),
                    CASE WHEN p.feedback = 'dismissed' THEN 'dismissed in the viewer' ELSE p.suppression END
             FROM peak p JOIN kpi_catalog c USING (kpi) ORDER BY p.start_ts, c.position",
        )
        .map_err(&read)?;
    let mut found: Vec<Incident> = stmt
        .query_map([], |r| {
            Ok(Incident {
                key: r.get(0)?,
                kpi: r.get(1)?,
                label: r.get(2)?,
                unit: r.get(3)?,
                start: r.get(4)?,
                end: r.get(5)?,
                direction: r.get(6)?,
                severity: r.get::<_, Option<String>>(7)?.unwrap_or_else(|| "minor".into()),
                peak: r.get(8)?,
                actual: r.get(9)?,
                expected: r.get(10)?,
                deviation: r.get(11)?,
                causes: Vec::new(),
                action: r.get(12)?,
                ongoing: r.get::<_, Option<bool>>(13)?.unwrap_or(false),
                silenced: r.get(14)?,
            })
        })
        .map_err(&read)?
        .collect::<Result<_, _>>()
        .map_err(&read)?;
    let mut causes = con
        .prepare(
            "SELECT segment, explanatory_power FROM kpi_rca WHERE kpi = ? AND CAST(ts AS VARCHAR) = ? AND is_root_cause \
             ORDER BY rank LIMIT 3",
        )
        .map_err(&read)?;
    for incident in &mut found {
        incident.causes = causes
            .query_map(params![incident.kpi, incident.peak], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(&read)?
            .collect::<Result<_, _>>()
            .map_err(&read)?;
    }
    Ok(found)
}

/// A KPI value in its unit, as the viewer and the report show it; `n/a` when missing.
fn number(value: Option<f64>, unit: &str) -> String {
    value.map_or_else(|| "n/a".to_string(), |v| format_value(unit, v))
}

impl Incident {
    fn link(&self, viewer: Option<&str>) -> Option<String> {
        viewer.map(|base| format!("{base}/rca?kpi={}&day={}", self.kpi, self.peak))
    }

    /// One line for chat channels and `--dry-run`.
    pub fn summary(&self, viewer: Option<&str>) -> String {
        let deviation = self.deviation.map_or(String::new(), |d| format!(" {:+.1}%", d * 100.0));
        let causes: Vec<String> = self
            .causes
            .iter()
            .map(|(segment, share)| match share {
                Some(s) => format!("{segment} ({:.0}%)", s * 100.0),
                None => segment.clone(),
            })
            .collect();
        let mut text = format!(
            "{} {}{} on {} ({}): actual {} vs expected {}",
            self.label,
            self.direction,
            deviation,
            self.peak,
            self.severity,
            number(self.actual, &self.unit),
            number(self.expected, &self.unit)
        );
        if !causes.is_empty() {
            text.push_str(&format!(". Root causes: {}", causes.join("; ")));
        }
        if let Some(action) = &self.action {
            text.push_str(&format!(". {action}"));
        }
        if let Some(link) = self.link(viewer) {
            text.push_str(&format!(" {link}"));
        }
        text
    }

    /// The JSON body a channel of `kind` gets.
    pub fn payload(&self, kind: Kind, viewer: Option<&str>) -> Value {
        let summary = self.summary(viewer);
        match kind {
            Kind::Webhook => json!({
                "schema": "kpiscope.alert/1",
                "incident": self.key,
                "kpi": self.kpi,
                "label": self.label,
                "unit": self.unit,
                "start": self.start,
                "end": self.end,
                "peak": self.peak,
                "direction": self.direction,
                "severity": self.severity,
                "actual": self.actual,
                "expected": self.expected,
                "deviation_pct": self.deviation,
                "root_causes": self.causes.iter().map(|(s, share)| json!({"segment": s, "share": share})).collect::<Vec<_>>(),
                "action": self.action,
                "url": self.link(viewer),
                "summary": summary,
            }),
            Kind::Slack => json!({
                "text": summary,
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": format!("*kpiscope*: {summary}")}}],
            }),
            Kind::Email => json!({
                "subject": format!("kpiscope: {} {} on {} ({})", self.label, self.direction, self.peak, self.severity),
                "text": summary,
            }),
            Kind::Teams => json!({
                "type": "message",
                "attachments": [{
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "content": {
                        "type": "AdaptiveCard",
                        "version": "1.4",
                        "body": [
                            {"type": "TextBlock", "weight": "Bolder", "text": format!("kpiscope: {} {}", self.label, self.direction)},
                            {"type": "TextBlock", "wrap": true, "text": summary},
                        ],
                    },
                }],
            }),
        }
    }
}

/// What one run did, per channel.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Outcome {
    /// Messages delivered (or printed, in a dry run).
    pub sent: usize,
    /// Messages that failed after every retry.
    pub failed: usize,
    /// Incidents older than the first run, recorded without sending.
    pub baseline: usize,
    /// Incidents not sent because they were dismissed in the viewer or are suppressed by a
    /// dismissed one (recorded nowhere: clearing the verdict makes them due again).
    pub suppressed: usize,
}

/// One row of the alert log: what went to a channel for an incident, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The incident's key (`kpi|start|direction`).
    pub incident: String,
    /// The channel's name.
    pub channel: String,
    /// `sent`, `failed` or `baseline` (recorded on a channel's first run without sending).
    pub status: String,
    /// When (UTC, `YYYY-MM-DD HH:MM`).
    pub at: String,
}

/// What the alert log at `log` records, oldest first; nothing when there is no log yet. The
/// log is opened read-only for as long as the read takes (see [`open_log`] for the writer).
pub fn sent(log: &Path) -> Result<Vec<Sent>, AlertError> {
    if !log.exists() {
        return Ok(Vec::new());
    }
    let con = open(&OpenOptions { path: Some(log.to_path_buf()), read_only: true, ..Default::default() })?;
    let read = database("reading the alert log");
    let mut stmt = con
        .prepare(
            "SELECT incident, channel, status, strftime(sent_at, '%Y-%m-%d %H:%M') FROM kpi_alerts \
             ORDER BY sent_at, channel",
        )
        .map_err(&read)?;
    let rows = stmt
        .query_map([], |r| Ok(Sent { incident: r.get(0)?, channel: r.get(1)?, status: r.get(2)?, at: r.get(3)? }))
        .map_err(&read)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(&read)?;
    Ok(rows)
}

/// The alerts of one incident in words: `slack sent 2026-12-03 08:00; email failed ...`.
pub fn describe(sent: &[Sent], incident: &str) -> String {
    let parts: Vec<String> = sent
        .iter()
        .filter(|s| s.incident == incident)
        .map(|s| match s.status.as_str() {
            "baseline" => format!("{} not sent (history before its first run)", s.channel),
            status => format!("{} {status} {}", s.channel, s.at),
        })
        .collect();
    parts.join("; ")
}

/// The log file beside `db`: `shop.duckdb` -> `shop.alerts.duckdb`.
pub fn log_path(db: &Path) -> PathBuf {
    kpiscope_db::companion(db, "alerts.duckdb")
}

/// Sends every incident not yet sent to each channel it is routed to. On a channel's first
/// run, only incidents still ongoing at the latest time step are sent; older ones are
/// recorded as `baseline` (a new channel must not receive years of history). Each result is
/// recorded right after its attempt, so a crash can at worst repeat the one message in flight;
/// the webhook body carries the stable `incident` key for receivers that deduplicate.
/// `dry_run` prints the messages and records nothing.
pub fn run(
    db: &Path,
    log: &Path,
    config: &Config,
    dry_run: bool,
    mut print: impl FnMut(&str),
) -> Result<Vec<(String, Outcome)>, AlertError> {
    let incidents = incidents(&open_refreshed(db)?)?;
    // A dry run before any real one must not create the log: it reads an empty one instead.
    let path = (!dry_run || log.exists()).then(|| log.to_path_buf());
    let store = open_log(path)?;
    store
        .execute_batch(
            "CREATE TABLE IF NOT EXISTS kpi_alerts (incident VARCHAR, channel VARCHAR, kpi VARCHAR, sent_at TIMESTAMP, \
             status VARCHAR, attempts INTEGER, response VARCHAR, PRIMARY KEY (incident, channel));",
        )
        .map_err(database("creating the alert log"))?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(15)))
        .http_status_as_error(false)
        .build()
        .into();
    let viewer = config.viewer_url.as_deref();
    let mut outcomes = Vec::new();
    for channel in &config.channels {
        let logged = database("reading the alert log");
        let done: Vec<String> = store
            .prepare("SELECT incident FROM kpi_alerts WHERE channel = ? AND status IN ('sent', 'baseline')")
            .and_then(|mut s| s.query_map([&channel.name], |r| r.get(0))?.collect())
            .map_err(&logged)?;
        let first_run: bool = store
            .query_row("SELECT count(*) = 0 FROM kpi_alerts WHERE channel = ?", [&channel.name], |r| r.get(0))
            .map_err(&logged)?;
        let mut outcome = Outcome::default();
        for incident in &incidents {
            if !channel.routes(incident) || done.contains(&incident.key) {
                continue;
            }
            if let Some(why) = &incident.silenced {
                outcome.suppressed += 1;
                if dry_run {
                    print(&format!("[{}] not sent, {}: {} {}", channel.name, why, incident.label, incident.start));
                }
                continue;
            }
            let (status, attempts, response) = if first_run && !incident.ongoing {
                outcome.baseline += 1;
                ("baseline", 0, String::new())
            } else {
                let body = incident.payload(channel.kind, viewer);
                if dry_run {
                    print(&format!("[{}] {}", channel.name, body));
                    outcome.sent += 1;
                    continue;
                }
                let (ok, attempts, response) = send(&agent, &channel.target, &body, config);
                if ok {
                    outcome.sent += 1;
                } else {
                    outcome.failed += 1;
                    print(&format!("[{}] failed after {attempts} attempts: {response}", channel.name));
                }
                (if ok { "sent" } else { "failed" }, attempts, response)
            };
            if dry_run {
                continue;
            }
            store
                .execute(
                    "INSERT OR REPLACE INTO kpi_alerts VALUES (?, ?, ?, now()::TIMESTAMP, ?, ?, ?)",
                    params![incident.key, channel.name, incident.kpi, status, attempts, response],
                )
                .map_err(database("recording an alert"))?;
        }
        outcomes.push((channel.name.clone(), outcome));
    }
    Ok(outcomes)
}

/// Opens the log for writing. The viewer reads it for a moment on each anomalies page, and
/// DuckDB refuses a writer while a reader holds the file, so a lock conflict is retried for
/// up to ten seconds.
fn open_log(path: Option<PathBuf>) -> Result<Connection, AlertError> {
    let mut waited = Duration::ZERO;
    loop {
        match open(&OpenOptions { path: path.clone(), ..Default::default() }) {
            Err(DbError::Open { source, .. }) if source.to_string().contains("lock") && waited < LOG_LOCK_WAIT => {
                std::thread::sleep(Duration::from_millis(100));
                waited += Duration::from_millis(100);
            }
            other => return Ok(other?),
        }
    }
}

/// How long [`open_log`] waits for a reader of the log to let go.
const LOG_LOCK_WAIT: Duration = Duration::from_secs(10);

/// Delivers `body` to `target`, retrying failures (a connection error, a non-2xx answer, an
/// SMTP refusal) with a doubling delay: whether it was delivered, the attempts made and the
/// last response.
fn send(agent: &ureq::Agent, target: &Target, body: &Value, config: &Config) -> (bool, i32, String) {
    let mut delay = config.retry_delay;
    let mut last = String::new();
    for attempt in 1..=config.retries + 1 {
        let result = match target {
            Target::Http(url) => post(agent, url, &body.to_string()),
            Target::Smtp(smtp) => mail(smtp, body),
        };
        match result {
            Ok(response) => return (true, attempt as i32, response),
            Err(response) => last = response,
        }
        if attempt <= config.retries {
            std::thread::sleep(delay);
            delay *= 2;
        }
    }
    (false, config.retries as i32 + 1, last)
}

fn post(agent: &ureq::Agent, url: &str, body: &str) -> Result<String, String> {
    let mut response = agent.post(url).content_type("application/json").send(body).map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    let said = format!("{status} {}", text.chars().take(200).collect::<String>());
    if (200..300).contains(&status) {
        Ok(said)
    } else {
        Err(said)
    }
}

fn mail(smtp: &Smtp, body: &Value) -> Result<String, String> {
    use lettre::message::header::ContentType;
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    use lettre::{Message, SmtpTransport, Transport};
    let address = |a: &str| a.parse().map_err(|e| format!("address '{a}': {e}"));
    let mut message = Message::builder()
        .from(address(&smtp.from)?)
        .subject(body["subject"].as_str().unwrap_or("kpiscope alert"))
        .header(ContentType::TEXT_PLAIN);
    for to in &smtp.to {
        message = message.to(address(to)?);
    }
    let message = message.body(body["text"].as_str().unwrap_or_default().to_string()).map_err(|e| e.to_string())?;
    let mut builder = SmtpTransport::builder_dangerous(&smtp.host);
    if smtp.starttls {
        let mut tls = TlsParameters::builder(smtp.host.clone());
        if let Some(pem) = &smtp.ca_pem {
            tls = tls.add_root_certificate(Certificate::from_pem(pem).map_err(|e| format!("ca_file: {e}"))?);
        }
        builder = builder.tls(Tls::Required(tls.build().map_err(|e| e.to_string())?));
    }
    let mut builder = builder.port(smtp.port).timeout(Some(Duration::from_secs(15)));
    if let Some((user, password)) = &smtp.credentials {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    let response = builder.build().send(&message).map_err(|e| e.to_string())?;
    Ok(format!("{} {}", response.code(), response.message().collect::<Vec<_>>().join(" ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident() -> Incident {
        Incident {
            key: "conversion_rate|2024-03-01|down".into(),
            kpi: "conversion_rate".into(),
            label: "Conversion rate".into(),
            unit: "percent".into(),
            start: "2024-03-01".into(),
            end: "2024-03-02".into(),
            direction: "down".into(),
            severity: "critical".into(),
            peak: "2024-03-02".into(),
            actual: Some(0.021),
            expected: Some(0.031),
            deviation: Some(-0.3226),
            causes: vec![("channel=Web".into(), Some(0.8)), ("region=North".into(), None)],
            action: Some("Check the checkout for channel=Web.".into()),
            ongoing: true,
            silenced: None,
        }
    }

    #[test]
    fn a_summary_reads_shares_as_percent_and_names_causes_action_and_link() {
        let text = incident().summary(Some("http://127.0.0.1:8080"));
        assert_eq!(
            text,
            "Conversion rate down -32.3% on 2024-03-02 (critical): actual 2.1% vs expected 3.1%. Root causes: \
             channel=Web (80%); region=North. Check the checkout for channel=Web. \
             http://127.0.0.1:8080/rca?kpi=conversion_rate&day=2024-03-02"
        );
    }

    #[test]
    fn each_kind_gets_its_documented_body() {
        let webhook = incident().payload(Kind::Webhook, None);
        assert_eq!(webhook["schema"], "kpiscope.alert/1");
        assert_eq!(webhook["root_causes"][0]["segment"], "channel=Web");
        assert!(webhook["url"].is_null());
        assert!(incident().payload(Kind::Slack, None)["text"].as_str().unwrap().starts_with("Conversion rate down"));
        let teams = incident().payload(Kind::Teams, None);
        assert_eq!(teams["attachments"][0]["content"]["type"], "AdaptiveCard");
    }

    #[test]
    fn a_config_refuses_secrets_it_cannot_find_and_unknown_severities() {
        let dir = std::env::temp_dir().join(format!("kpiscope-alerts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("alerts.toml");
        let cases = [
            ("[[channel]]\nname = 'a'\nkind = 'slack'\nurl_env = 'KPISCOPE_NO_SUCH_VARIABLE'\n", "is not set"),
            ("[[channel]]\nname = 'a'\nkind = 'webhook'\nurl = 'ftp://x'\n", "must start with http"),
            ("[[channel]]\nname = 'a'\nkind = 'webhook'\nurl = 'http://x'\nmin_severity = 'huge'\n", "min_severity"),
            ("[[channel]]\nname = 'a'\nkind = 'pager'\nurl = 'http://x'\n", "unknown variant"),
            ("viewer_url = 'http://v'\n", "no [[channel]]"),
            ("[[channel]]\nname = 'm'\nkind = 'email'\nsmtp_host = 'h'\nfrom = 'a@b.c'\n", "at least one address"),
            ("[[channel]]\nname = 'm'\nkind = 'email'\nsmtp_host = 'h'\nfrom = 'a@b.c'\nto = ['x@y.z']\nusername_env = 'U'\n", "both username_env"),
        ];
        for (text, message) in cases {
            std::fs::write(&file, text).unwrap();
            let err = Config::from_file(&file).unwrap_err().to_string();
            assert!(err.contains(message), "{text}: {err}");
        }
        std::fs::write(&file, "[[channel]]\nname = 'a'\nkind = 'teams'\nurl = 'https://x'\nmin_severity = 'major'\n")
            .unwrap();
        let config = Config::from_file(&file).unwrap();
        assert_eq!((config.retries, config.channels[0].min_severity), (3, Severity::Major));
        assert_eq!(log_path(Path::new("/data/shop.duckdb")), PathBuf::from("/data/shop.alerts.duckdb"));
    }
}
