//! The KPI model: what a team monitors, written once in `kpiscope.toml` and loaded by
//! `kpiscope refresh` into catalogue tables that drive the analyses, the tab views, the viewer
//! and the reports.
//!
//! ```toml
//! title = "Web shop"
//!
//! [source]
//! table = "daily_metrics"        # or query = "SELECT ...", or files = "data/*.parquet"
//! time = "date"
//! grain = "daily"                # daily, hourly or weekly
//! dimensions = ["country", "plan", "device"]
//!
//! [[kpis]]
//! key = "mrr"
//! label = "Monthly recurring revenue"
//! unit = "currency"
//! sum = "mrr"                    # or count = true, count_distinct = "user_id",
//!                                # or numerator = "paid" + denominator = "signups"
//! [kpis.detection]
//! sensitivity = "low"            # or leave it out and set
//!                                # alert_budget = "2 per month"
//! ```
//!
//! Parsing checks everything that can be checked without the data (names, one measure per
//! KPI, known methods); the database layer checks the columns against the source. Every error
//! names the line of the file it is about.

use serde::Deserialize;
use std::collections::BTreeSet;
use std::ops::Range;
use toml::Spanned;

/// Most dimensions a model may have (the deepest RCA search fixes all of them).
pub const MAX_DIMENSIONS: usize = 8;
/// Most KPIs in one model.
pub const MAX_KPIS: usize = 50;

/// A mistake in the model file, with the line it is on (1-based) when known.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct ModelError {
    /// Line of the file, 1-based.
    pub line: Option<usize>,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// A name in the file (a column, a key) and the line it was written on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    /// The name as written.
    pub name: String,
    /// Its line, 1-based.
    pub line: usize,
}

/// Where the data comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A table or view in the database.
    Table(String),
    /// A SELECT query over the database.
    Query(String),
    /// Files DuckDB reads natively: a path or glob, and how to read them.
    Files {
        /// Path or glob, as written (relative paths are relative to the model file).
        glob: String,
        /// `csv`, `parquet` or `json`.
        format: FileFormat,
    },
}

/// File formats a `files` source can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// `read_csv` (delimiter, header and types sniffed).
    Csv,
    /// `read_parquet`.
    Parquet,
    /// `read_json` (newline-delimited or an array).
    Json,
}

impl FileFormat {
    /// The DuckDB table function that reads this format.
    pub fn reader(self) -> &'static str {
        match self {
            Self::Csv => "read_csv",
            Self::Parquet => "read_parquet",
            Self::Json => "read_json",
        }
    }

    fn of(glob: &str, given: Option<&str>) -> Option<Self> {
        let name = given.map(str::to_ascii_lowercase).unwrap_or_else(|| {
            let lower = glob.to_ascii_lowercase();
            let lower = lower.strip_suffix(".gz").unwrap_or(&lower).to_string();
            lower.rsplit('.').next().unwrap_or_default().to_string()
        });
        match name.as_str() {
            "csv" | "tsv" | "txt" => Some(Self::Csv),
            "parquet" | "pq" => Some(Self::Parquet),
            "json" | "jsonl" | "ndjson" => Some(Self::Json),
            _ => None,
        }
    }
}

/// The time step of the data; named in the file as written here or by its step (`day`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr)]
#[strum(ascii_case_insensitive)]
pub enum Grain {
    /// One value per hour.
    #[strum(to_string = "hourly", serialize = "hour")]
    Hourly,
    /// One value per day.
    #[strum(to_string = "daily", serialize = "day")]
    Daily,
    /// One value per week (weeks start on Monday).
    #[strum(to_string = "weekly", serialize = "week")]
    Weekly,
}

impl Grain {
    /// The name written in the file.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Parses `hourly`, `daily` or `weekly` (or `hour`, `day`, `week`).
    pub fn parse(text: &str) -> Option<Self> {
        text.trim().parse().ok()
    }

    /// SQL placing a time value (`expression`) on the grain: a TIMESTAMP for hourly data, a
    /// DATE otherwise.
    pub fn truncate(self, expression: &str) -> String {
        match self {
            Self::Hourly => format!("date_trunc('hour', CAST({expression} AS TIMESTAMP))"),
            Self::Daily => format!("CAST({expression} AS DATE)"),
            Self::Weekly => format!("CAST(date_trunc('week', CAST({expression} AS DATE)) AS DATE)"),
        }
    }

    /// Steps in a week (the seasonal period of hourly data is a day; this is its weekly lag).
    pub fn steps_per_week(self) -> usize {
        match self {
            Self::Hourly => 168,
            Self::Daily => 7,
            Self::Weekly => 1,
        }
    }

    /// The SQL interval of one step.
    pub fn interval(self) -> &'static str {
        match self {
            Self::Hourly => "INTERVAL 1 HOUR",
            Self::Daily => "INTERVAL 1 DAY",
            Self::Weekly => "INTERVAL 7 DAY",
        }
    }

    /// The step's name for people: `hour`, `day`, `week`.
    pub fn step_name(self) -> &'static str {
        match self {
            Self::Hourly => "hour",
            Self::Daily => "day",
            Self::Weekly => "week",
        }
    }
}

pub use kpiscope_engine::units::Unit;

/// How a KPI is computed from the rows of one time step (and of one segment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Measure {
    /// The sum of a numeric column.
    Sum(Name),
    /// The number of rows.
    Count,
    /// The number of distinct values of a column (per time step and segment; not additive
    /// over segments, so a segment's share is of the sum of its parts).
    CountDistinct(Name),
    /// The ratio of two sums, e.g. orders / sessions.
    Ratio {
        /// Summed numerator column.
        numerator: Name,
        /// Summed denominator column.
        denominator: Name,
    },
}

impl Measure {
    /// The kind stored in the catalogue: `additive`, `distinct` or `ratio`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sum(_) | Self::Count => "additive",
            Self::CountDistinct(_) => "distinct",
            Self::Ratio { .. } => "ratio",
        }
    }

    /// SQL of the value over a set of rows, e.g. `sum("orders") / sum("sessions")`.
    pub fn value_sql(&self) -> String {
        match self {
            Self::Ratio { numerator, denominator } => {
                format!("sum({}) / sum({})", quote_ident(&numerator.name), quote_ident(&denominator.name))
            }
            other => other.numerator_sql(),
        }
    }

    /// SQL of the additive part over a set of rows: the sum, count or distinct count; for a
    /// ratio its numerator.
    pub fn numerator_sql(&self) -> String {
        match self {
            Self::Sum(column) => format!("sum({})", quote_ident(&column.name)),
            Self::Count => "count(*)".to_string(),
            Self::CountDistinct(column) => format!("count(DISTINCT {})", quote_ident(&column.name)),
            Self::Ratio { numerator, .. } => format!("sum({})", quote_ident(&numerator.name)),
        }
    }

    /// SQL of a ratio's denominator over a set of rows; `None` for other measures.
    pub fn denominator_sql(&self) -> Option<String> {
        match self {
            Self::Ratio { denominator, .. } => Some(format!("sum({})", quote_ident(&denominator.name))),
            _ => None,
        }
    }

    /// The columns it reads.
    pub fn columns(&self) -> Vec<&Name> {
        match self {
            Self::Sum(c) | Self::CountDistinct(c) => vec![c],
            Self::Count => Vec::new(),
            Self::Ratio { numerator, denominator } => vec![numerator, denominator],
        }
    }
}

/// Detection settings of one KPI, as the SQL functions take them (`None`: the default).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Detection {
    /// `method :=`.
    pub method: Option<String>,
    /// `sensitivity :=`.
    pub sensitivity: Option<String>,
    /// `direction :=`.
    pub direction: Option<String>,
    /// `min_delta :=`.
    pub min_delta: Option<f64>,
    /// `min_pct :=`.
    pub min_pct: Option<f64>,
    /// `cooldown :=`.
    pub cooldown: Option<u32>,
    /// `min_history :=`.
    pub min_history: Option<u32>,
    /// At most this many alerts (incidents) a period; without a `sensitivity`, refresh picks
    /// the most sensitive level that would have kept to it over the history.
    pub alert_budget: Option<AlertBudget>,
}

/// An alert budget: `"2 per month"`, `"1 per week"`, `"3 per day"`.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertBudget {
    /// As written (normalised spacing), for display.
    pub text: String,
    /// The same as alerts per month (30.4375 days).
    pub per_month: f64,
}

impl AlertBudget {
    /// Parses `<number> per day|week|month`.
    pub fn parse(text: &str) -> Result<AlertBudget, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let bad = || format!("alert_budget must read like \"2 per month\" (per day, week or month), got {text:?}");
        let [count, "per", period] = words.as_slice() else { return Err(bad()) };
        let count: f64 = count.parse().map_err(|_| bad())?;
        if !(count.is_finite() && count > 0.0 && count <= 1e6) {
            return Err(format!("alert_budget's count must be a number above 0, got {text:?}"));
        }
        let months_per_period = match *period {
            "day" => 1.0 / 30.4375,
            "week" => 7.0 / 30.4375,
            "month" => 1.0,
            _ => return Err(bad()),
        };
        Ok(AlertBudget { text: words.join(" "), per_month: count / months_per_period })
    }
}

impl Detection {
    /// The settings as named arguments of `detect_anomalies`, e.g. `, sensitivity := 'low'`.
    pub fn arguments(&self) -> String {
        let mut out = String::new();
        for (name, value) in
            [("method", &self.method), ("sensitivity", &self.sensitivity), ("direction", &self.direction)]
        {
            if let Some(value) = value {
                out.push_str(&format!(", {name} := {}", quote_literal(value)));
            }
        }
        for (name, value) in [("min_delta", self.min_delta), ("min_pct", self.min_pct)] {
            if let Some(value) = value {
                out.push_str(&format!(", {name} := {value:?}"));
            }
        }
        for (name, value) in [("cooldown", self.cooldown), ("min_history", self.min_history)] {
            if let Some(value) = value {
                out.push_str(&format!(", {name} := {value}"));
            }
        }
        out
    }
}

/// One KPI.
#[derive(Debug, Clone, PartialEq)]
pub struct Kpi {
    /// Key: lower-case letters, digits and underscores.
    pub key: String,
    /// Name for people.
    pub label: String,
    /// How values are shown.
    pub unit: Unit,
    /// How it is computed.
    pub measure: Measure,
    /// Whether a rise is good news.
    pub higher_is_better: bool,
    /// Detection settings.
    pub detection: Detection,
    /// Line of its `key`.
    pub line: usize,
}

/// One node of the driver tree: a KPI, its parent (none for the root) and, for leaves, the SQL
/// aggregate of its value over a set of rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Driver {
    /// The node's name.
    pub kpi: String,
    /// Its parent; `None` for the root.
    pub parent: Option<String>,
    /// Leaves: the aggregate SQL of the value.
    pub expression: Option<String>,
    /// Leaves: what to check when this driver moved (shown in the Actions tab and the report).
    pub action: Option<String>,
    /// Line of the node.
    pub line: usize,
}

/// A parsed, checked model.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// Title for the viewer and the reports.
    pub title: String,
    /// Where the data comes from.
    pub source: Source,
    /// The time column.
    pub time: Name,
    /// The time step.
    pub grain: Grain,
    /// Dimension columns, in order.
    pub dimensions: Vec<Name>,
    /// A table of known events (day, name, suppress), if any.
    pub events: Option<String>,
    /// KPIs, in display order.
    pub kpis: Vec<Kpi>,
    /// The driver tree for what-if and change decomposition (empty: none).
    pub drivers: Vec<Driver>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    title: Option<String>,
    source: Spanned<RawSource>,
    #[serde(default)]
    kpis: Vec<Spanned<RawKpi>>,
    #[serde(default)]
    drivers: Vec<Spanned<RawDriver>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    table: Option<Spanned<String>>,
    query: Option<Spanned<String>>,
    files: Option<Spanned<String>>,
    format: Option<Spanned<String>>,
    time: Option<Spanned<String>>,
    grain: Option<Spanned<String>>,
    #[serde(default)]
    dimensions: Vec<Spanned<String>>,
    events: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKpi {
    key: Spanned<String>,
    label: Option<String>,
    unit: Option<Spanned<String>>,
    sum: Option<Spanned<String>>,
    count: Option<Spanned<bool>>,
    count_distinct: Option<Spanned<String>>,
    numerator: Option<Spanned<String>>,
    denominator: Option<Spanned<String>>,
    higher_is_better: Option<bool>,
    detection: Option<Spanned<RawDetection>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDetection {
    method: Option<String>,
    sensitivity: Option<String>,
    direction: Option<String>,
    min_delta: Option<f64>,
    min_pct: Option<f64>,
    cooldown: Option<u32>,
    min_history: Option<u32>,
    alert_budget: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDriver {
    kpi: Spanned<String>,
    parent: Option<String>,
    expression: Option<String>,
    action: Option<String>,
}

/// Turns byte offsets into 1-based lines.
struct Lines<'a>(&'a str);

impl Lines<'_> {
    fn of(&self, span: Range<usize>) -> usize {
        self.0[..span.start.min(self.0.len())].matches('\n').count() + 1
    }

    fn name(&self, spanned: &Spanned<String>) -> Name {
        Name { name: spanned.get_ref().trim().to_string(), line: self.of(spanned.span()) }
    }
}

fn error(line: usize, message: impl Into<String>) -> ModelError {
    ModelError { line: Some(line), message: message.into() }
}

fn is_key(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !text.starts_with(|c: char| c.is_ascii_digit())
}

/// `revenue_per_user` -> `Revenue per user`.
fn label_of(key: &str) -> String {
    let words = key.replace('_', " ");
    let mut chars = words.chars();
    chars.next().map(|c| c.to_uppercase().collect::<String>() + chars.as_str()).unwrap_or_default()
}

impl Model {
    /// Parses and checks a model file's text.
    pub fn parse(text: &str) -> Result<Model, ModelError> {
        let raw: RawModel = toml::from_str(text).map_err(|e| ModelError {
            line: e.span().map(|s| Lines(text).of(s)),
            message: e.message().trim().to_string(),
        })?;
        let lines = Lines(text);
        let source_line = lines.of(raw.source.span());
        let source_raw = raw.source.into_inner();
        let given = [&source_raw.table, &source_raw.query, &source_raw.files].iter().filter(|s| s.is_some()).count();
        if given != 1 {
            return Err(error(
                source_line,
                "[source] needs exactly one of table = \"name\", query = \"SELECT ...\" or files = \"data/*.parquet\"",
            ));
        }
        let source = if let Some(table) = &source_raw.table {
            Source::Table(nonempty(&lines, table, "table")?)
        } else if let Some(query) = &source_raw.query {
            let sql = nonempty(&lines, query, "query")?;
            Source::Query(sql.trim_end_matches(';').to_string())
        } else {
            let files = source_raw.files.as_ref().expect("counted above");
            let glob = nonempty(&lines, files, "files")?;
            let format =
                FileFormat::of(&glob, source_raw.format.as_ref().map(|f| f.get_ref().as_str())).ok_or_else(|| {
                    error(
                        lines.of(files.span()),
                        format!("cannot tell how to read {glob:?}: add format = \"csv\", \"parquet\" or \"json\""),
                    )
                })?;
            Source::Files { glob, format }
        };
        let time = source_raw.time.as_ref().map(|t| lines.name(t)).filter(|t| !t.name.is_empty()).ok_or_else(|| {
            error(source_line, "[source] needs time = \"column\": the column holding each row's time")
        })?;
        let grain = match &source_raw.grain {
            None => Grain::Daily,
            Some(g) => Grain::parse(g.get_ref()).ok_or_else(|| {
                error(lines.of(g.span()), format!("grain must be daily, hourly or weekly, got {:?}", g.get_ref()))
            })?,
        };
        let dimensions: Vec<Name> = source_raw.dimensions.iter().map(|d| lines.name(d)).collect();
        if dimensions.len() > MAX_DIMENSIONS {
            return Err(error(source_line, format!("at most {MAX_DIMENSIONS} dimensions, got {}", dimensions.len())));
        }
        let mut seen = BTreeSet::new();
        for d in &dimensions {
            if d.name.is_empty() {
                return Err(error(d.line, "a dimension name is empty"));
            }
            if d.name == time.name {
                return Err(error(d.line, format!("{:?} is the time column; it cannot also be a dimension", d.name)));
            }
            if !seen.insert(d.name.clone()) {
                return Err(error(d.line, format!("dimension {:?} is listed twice", d.name)));
            }
        }
        let events = source_raw.events.as_ref().map(|e| e.get_ref().trim().to_string()).filter(|e| !e.is_empty());
        if raw.kpis.is_empty() {
            return Err(ModelError {
                line: None,
                message: "the model has no KPIs: add at least one [[kpis]] table with a key and a measure".into(),
            });
        }
        if raw.kpis.len() > MAX_KPIS {
            return Err(ModelError { line: None, message: format!("at most {MAX_KPIS} KPIs, got {}", raw.kpis.len()) });
        }
        let mut keys = BTreeSet::new();
        let mut kpis = Vec::new();
        for spanned in raw.kpis {
            let kpi = kpi(&lines, spanned)?;
            if !keys.insert(kpi.key.clone()) {
                return Err(error(kpi.line, format!("KPI key {:?} is used twice", kpi.key)));
            }
            kpis.push(kpi);
        }
        let drivers = drivers(&lines, raw.drivers)?;
        Ok(Model {
            title: raw.title.map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).unwrap_or_else(|| "KPIs".into()),
            source,
            time,
            grain,
            dimensions,
            events,
            kpis,
            drivers,
        })
    }

    /// Every column the model reads (time, dimensions, KPI measures), each once, in order.
    pub fn columns(&self) -> Vec<&Name> {
        let mut out: Vec<&Name> = vec![&self.time];
        out.extend(&self.dimensions);
        for kpi in &self.kpis {
            out.extend(kpi.measure.columns());
        }
        let mut seen = BTreeSet::new();
        out.retain(|n| seen.insert(n.name.clone()));
        out
    }
}

fn nonempty(lines: &Lines, value: &Spanned<String>, what: &str) -> Result<String, ModelError> {
    let text = value.get_ref().trim();
    if text.is_empty() {
        return Err(error(lines.of(value.span()), format!("{what} is empty")));
    }
    Ok(text.to_string())
}

fn kpi(lines: &Lines, spanned: Spanned<RawKpi>) -> Result<Kpi, ModelError> {
    let at = lines.of(spanned.span());
    let raw = spanned.into_inner();
    let key = lines.name(&raw.key);
    if !is_key(&key.name) {
        return Err(error(
            key.line,
            format!(
                "KPI key {:?} must be lower-case letters, digits and underscores (e.g. \"conversion_rate\")",
                key.name
            ),
        ));
    }
    let measures = [
        raw.sum.is_some(),
        raw.count.as_ref().is_some_and(|c| *c.get_ref()),
        raw.count_distinct.is_some(),
        raw.numerator.is_some() || raw.denominator.is_some(),
    ];
    if measures.iter().filter(|m| **m).count() != 1 {
        return Err(error(
            at,
            format!(
                "KPI {:?} needs exactly one measure: sum = \"column\", count = true, count_distinct = \"column\", \
                 or numerator = \"column\" with denominator = \"column\"",
                key.name
            ),
        ));
    }
    let measure = if let Some(sum) = &raw.sum {
        Measure::Sum(lines.name(sum))
    } else if raw.count.is_some() {
        Measure::Count
    } else if let Some(column) = &raw.count_distinct {
        Measure::CountDistinct(lines.name(column))
    } else {
        match (&raw.numerator, &raw.denominator) {
            (Some(n), Some(d)) => Measure::Ratio { numerator: lines.name(n), denominator: lines.name(d) },
            _ => {
                return Err(error(
                    at,
                    format!(
                        "KPI {:?} is a ratio: give both numerator = \"column\" and denominator = \"column\"",
                        key.name
                    ),
                ))
            }
        }
    };
    for column in measure.columns() {
        if column.name.is_empty() {
            return Err(error(column.line, format!("KPI {:?}: a column name is empty", key.name)));
        }
    }
    let unit = match &raw.unit {
        Some(u) => Unit::parse(u.get_ref()).ok_or_else(|| {
            error(lines.of(u.span()), format!("unit must be count, currency, percent or number, got {:?}", u.get_ref()))
        })?,
        None => match measure {
            Measure::Ratio { .. } => Unit::Percent,
            Measure::Count | Measure::CountDistinct(_) => Unit::Count,
            Measure::Sum(_) => Unit::Number,
        },
    };
    let detection = match raw.detection {
        None => Detection::default(),
        Some(spanned) => {
            let line = lines.of(spanned.span());
            let d = spanned.into_inner();
            let check =
                |result: Result<(), kpiscope_engine::EngineError>| result.map_err(|e| error(line, e.to_string()));
            if let Some(m) = &d.method {
                check(kpiscope_engine::detect::Method::parse(m).map(drop))?;
            }
            if let Some(s) = &d.sensitivity {
                check(kpiscope_engine::detect::Sensitivity::parse(s).map(drop))?;
            }
            if let Some(s) = &d.direction {
                check(kpiscope_engine::detect::Direction::parse(s).map(drop))?;
            }
            for (name, value) in [("min_delta", d.min_delta), ("min_pct", d.min_pct)] {
                if value.is_some_and(|v| !(v.is_finite() && v >= 0.0)) {
                    return Err(error(line, format!("{name} must be a number >= 0")));
                }
            }
            let alert_budget = match &d.alert_budget {
                Some(b) => Some(AlertBudget::parse(b.get_ref()).map_err(|e| error(lines.of(b.span()), e))?),
                None => None,
            };
            Detection {
                alert_budget,
                method: d.method,
                sensitivity: d.sensitivity,
                direction: d.direction,
                min_delta: d.min_delta,
                min_pct: d.min_pct,
                cooldown: d.cooldown,
                min_history: d.min_history,
            }
        }
    };
    Ok(Kpi {
        label: raw.label.map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).unwrap_or_else(|| label_of(&key.name)),
        key: key.name,
        unit,
        measure,
        higher_is_better: raw.higher_is_better.unwrap_or(true),
        detection,
        line: key.line,
    })
}

fn drivers(lines: &Lines, raw: Vec<Spanned<RawDriver>>) -> Result<Vec<Driver>, ModelError> {
    let drivers: Vec<Driver> = raw
        .into_iter()
        .map(|spanned| {
            let line = lines.of(spanned.span());
            let d = spanned.into_inner();
            Driver {
                kpi: d.kpi.into_inner().trim().to_string(),
                parent: d.parent.map(|p| p.trim().to_string()).filter(|p| !p.is_empty()),
                expression: d.expression.map(|e| e.trim().to_string()).filter(|e| !e.is_empty()),
                action: d.action.map(|a| a.trim().to_string()).filter(|a| !a.is_empty()),
                line,
            }
        })
        .collect();
    if drivers.is_empty() {
        return Ok(drivers);
    }
    let edges: Vec<(String, Option<String>)> = drivers.iter().map(|d| (d.kpi.clone(), d.parent.clone())).collect();
    let tree = kpiscope_engine::whatif::DriverTree::from_edges(&edges)
        .map_err(|e| error(drivers[0].line, format!("[[drivers]]: {e}")))?;
    for leaf in tree.leaves() {
        let driver = drivers.iter().find(|d| d.kpi == leaf).expect("a leaf of the tree is a driver");
        if driver.expression.is_none() {
            return Err(error(
                driver.line,
                format!("driver {leaf:?} is a leaf: give its expression, e.g. \"sum(visits) / count(DISTINCT day)\""),
            ));
        }
    }
    Ok(drivers)
}

/// Quotes an identifier for SQL.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a string literal for SQL.
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grains_parse_their_names_and_aliases_and_keep_one_name() {
        for (text, grain) in [("hourly", Grain::Hourly), (" Day ", Grain::Daily), ("WEEK", Grain::Weekly)] {
            assert_eq!(Grain::parse(text), Some(grain));
        }
        assert_eq!(Grain::Daily.name(), "daily");
        assert_eq!(Grain::parse("monthly"), None);
    }

    const SHOP: &str = r#"
title = "Web shop"

[source]
table = "daily_metrics"
time = "date"
grain = "daily"
dimensions = ["country", "plan", "device"]

[[kpis]]
key = "signups"
count_distinct = "user_id"

[[kpis]]
key = "conversion"
label = "Paid conversion"
numerator = "paid"
denominator = "signups"

[[kpis]]
key = "mrr"
unit = "currency"
sum = "mrr"
[kpis.detection]
sensitivity = "low"
cooldown = 3
"#;

    #[test]
    fn a_model_reads_its_source_kpis_and_settings() {
        let model = Model::parse(SHOP).unwrap();
        assert_eq!(model.title, "Web shop");
        assert_eq!(model.source, Source::Table("daily_metrics".into()));
        assert_eq!(model.grain, Grain::Daily);
        assert_eq!(model.dimensions.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), ["country", "plan", "device"]);
        let [signups, conversion, mrr] = &model.kpis[..] else { panic!("three KPIs") };
        assert_eq!(
            (signups.label.as_str(), signups.unit, signups.measure.kind()),
            ("Signups", Unit::Count, "distinct")
        );
        assert_eq!(signups.measure.value_sql(), "count(DISTINCT \"user_id\")");
        assert_eq!(conversion.unit, Unit::Percent);
        assert_eq!(conversion.measure.value_sql(), "sum(\"paid\") / sum(\"signups\")");
        assert_eq!(mrr.detection.arguments(), ", sensitivity := 'low', cooldown := 3");
        assert_eq!(mrr.line, 21);
        let columns: Vec<&str> = model.columns().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(columns, ["date", "country", "plan", "device", "user_id", "paid", "signups", "mrr"]);
    }

    #[test]
    fn mistakes_are_refused_with_their_line_and_the_fix() {
        let err = |text: &str| Model::parse(text).unwrap_err();
        let no_measure = err("[source]\ntable = \"t\"\ntime = \"d\"\n\n[[kpis]]\nkey = \"x\"\n");
        assert_eq!(no_measure.line, Some(5));
        assert!(no_measure.message.contains("exactly one measure"), "{no_measure}");
        let half_ratio = err("[source]\ntable = \"t\"\ntime = \"d\"\n[[kpis]]\nkey = \"r\"\nnumerator = \"a\"\n");
        assert!(half_ratio.message.contains("give both numerator"), "{half_ratio}");
        let bad_key = err("[source]\ntable = \"t\"\ntime = \"d\"\n[[kpis]]\nkey = \"Sign Ups\"\ncount = true\n");
        assert_eq!(bad_key.line, Some(5));
        let twice = err(
            "[source]\ntable = \"t\"\ntime = \"d\"\ndimensions = [\"a\", \"a\"]\n[[kpis]]\nkey = \"k\"\ncount = true\n",
        );
        assert!(twice.to_string().starts_with("line 4: dimension \"a\" is listed twice"), "{twice}");
        let two_sources =
            err("[source]\ntable = \"t\"\nquery = \"SELECT 1\"\ntime = \"d\"\n[[kpis]]\nkey = \"k\"\ncount = true\n");
        assert!(two_sources.message.contains("exactly one of table"), "{two_sources}");
        let method = err("[source]\ntable = \"t\"\ntime = \"d\"\n[[kpis]]\nkey = \"k\"\ncount = true\n[kpis.detection]\nmethod = \"magic\"\n");
        assert!(method.message.contains("method must be one of"), "{method}");
        let typo = err("[source]\ntable = \"t\"\ntime = \"d\"\n[[kpis]]\nkey = \"k\"\nsumm = \"x\"\n");
        assert_eq!(typo.line, Some(6), "{typo}");
        assert!(err("[source]\nfiles = \"data/*.xlsx\"\ntime = \"d\"\n[[kpis]]\nkey = \"k\"\ncount = true\n")
            .message
            .contains("add format"));
    }

    #[test]
    fn an_alert_budget_reads_per_day_week_or_month_and_is_no_detection_argument() {
        let base = "[source]\ntable = \"t\"\ntime = \"d\"\n[[kpis]]\nkey = \"k\"\ncount = true\n[kpis.detection]\n";
        let model = Model::parse(&format!("{base}alert_budget = \"1  per week\"\n")).unwrap();
        let budget = model.kpis[0].detection.alert_budget.clone().unwrap();
        assert_eq!(budget.text, "1 per week");
        assert!((budget.per_month - 30.4375 / 7.0).abs() < 1e-12);
        assert_eq!(model.kpis[0].detection.arguments(), "");
        assert_eq!(AlertBudget::parse("2 per month").unwrap().per_month, 2.0);
        for bad in ["2", "two per month", "2 per year", "0 per day", "-1 per day", "inf per day"] {
            let err = Model::parse(&format!("{base}alert_budget = \"{bad}\"\n")).unwrap_err();
            assert_eq!(err.line, Some(8), "{bad}: {err}");
            assert!(err.message.starts_with("alert_budget"), "{bad}: {err}");
        }
    }

    #[test]
    fn files_get_their_reader_from_the_extension_and_grains_their_sql() {
        let model = Model::parse("[source]\nfiles = \"data/*.csv.gz\"\ntime = \"t\"\ngrain = \"hourly\"\n[[kpis]]\nkey = \"n\"\ncount = true\n").unwrap();
        assert_eq!(model.source, Source::Files { glob: "data/*.csv.gz".into(), format: FileFormat::Csv });
        assert_eq!(model.grain.truncate("\"t\""), "date_trunc('hour', CAST(\"t\" AS TIMESTAMP))");
        assert_eq!(Grain::Weekly.steps_per_week(), 1);
    }

    #[test]
    fn a_driver_tree_needs_one_root_and_expressions_on_its_leaves() {
        let base = "[source]\ntable = \"t\"\ntime = \"d\"\n[[kpis]]\nkey = \"k\"\ncount = true\n";
        let good = format!("{base}[[drivers]]\nkpi = \"revenue\"\n[[drivers]]\nkpi = \"orders\"\nparent = \"revenue\"\nexpression = \"sum(orders)\"\n");
        assert_eq!(Model::parse(&good).unwrap().drivers.len(), 2);
        let leaf =
            format!("{base}[[drivers]]\nkpi = \"revenue\"\n[[drivers]]\nkpi = \"orders\"\nparent = \"revenue\"\n");
        let err = Model::parse(&leaf).unwrap_err();
        assert!(err.message.contains("is a leaf"), "{err}");
        assert_eq!(err.line, Some(9));
    }
}
