//! The KPI model in the database: `kpiscope.toml` checked against the data, stored in
//! catalogue tables, and the refresh steps generated from it.
//!
//! Table functions take constant arguments, so the per-KPI statements are built here from the
//! model; no KPI, column or dimension name is written anywhere else. The tables refresh writes
//! have fixed schemas (a `kpi` column, a `segment` label, `dimension` / `member` pairs), so the
//! tab views in `sql/views.sql`, the viewer and the reports read any model the same way.

use crate::feedback::Feedback;
use crate::refresh::Step;
use crate::DbError;
use duckdb::Connection;
use kpiscope_model::{quote_ident, quote_literal, Grain, Measure, Model, ModelError, Source};
use std::path::Path;

/// Most distinct values a dimension may have: a dimension splits the data into segments a
/// person reads; an id column belongs in `count_distinct`.
pub const MAX_MEMBERS: i64 = 10_000;

/// Names a dimension may not take: the fixed columns of the tables refresh writes and of the
/// detection output they carry.
const RESERVED: &[&str] = &[
    "kpi",
    "ts",
    "segment",
    "num",
    "den",
    "value",
    "expected",
    "lower",
    "upper",
    "score",
    "is_anomaly",
    "severity",
    "incident_id",
    "incident_start",
    "explanation",
    "dimension",
    "member",
];

/// Changes of each lever in the what-if grid.
const LEVER_CHANGES: [f64; 4] = [-0.1, -0.05, 0.05, 0.1];

/// A model ready to refresh: the parsed file, its text, and the SQL its source is read with.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The model.
    pub model: Model,
    /// The file's text (stored in `kpi_model`, so later refreshes need no file).
    pub text: String,
    /// The FROM target of the source: a quoted table, a parenthesised query or a file reader
    /// with an absolute path.
    pub from: String,
    /// Where the model came from, for messages (`kpiscope.toml`, or `the stored model`).
    pub origin: String,
}

fn model_error(origin: &str, error: ModelError) -> DbError {
    DbError::Model { origin: origin.to_string(), line: error.line, message: error.message }
}

impl Loaded {
    /// Reads and parses a model file; relative file sources are resolved against its folder.
    pub fn from_file(path: &Path) -> Result<Loaded, DbError> {
        let text = std::fs::read_to_string(path).map_err(|source| DbError::File {
            action: "reading",
            path: path.into(),
            source,
        })?;
        let origin = path.display().to_string();
        let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        Loaded::from_text(text, origin, Some(base))
    }

    /// Parses a model's text; `base` resolves relative file sources.
    pub fn from_text(text: String, origin: String, base: Option<&Path>) -> Result<Loaded, DbError> {
        let model = Model::parse(&text).map_err(|e| model_error(&origin, e))?;
        let from = match &model.source {
            Source::Table(name) => format!("query_table({})", quote_literal(name)),
            Source::Query(sql) => format!("({sql})"),
            Source::Files { glob, format } => {
                let path = Path::new(glob);
                let absolute = match base {
                    Some(base) if path.is_relative() => {
                        let base = std::fs::canonicalize(base).unwrap_or_else(|_| base.to_path_buf());
                        base.join(path)
                    }
                    _ => path.to_path_buf(),
                };
                format!("{}({})", format.reader(), quote_literal(&absolute.display().to_string()))
            }
        };
        Ok(Loaded { model, text, from, origin })
    }

    /// The model stored by the last refresh of this database.
    pub fn stored(connection: &Connection) -> Result<Option<Loaded>, DbError> {
        let exists: i64 = connection
            .query_row(
                "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'kpi_model' AND schema_name = 'main'",
                [],
                |r| r.get(0),
            )
            .map_err(|source| DbError::Script { script: "reading the stored model".into(), source })?;
        if exists == 0 {
            return Ok(None);
        }
        let (text, from): (String, String) = connection
            .query_row("SELECT model, source_sql FROM kpi_model", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|source| DbError::Script { script: "reading the stored model".into(), source })?;
        let mut loaded = Loaded::from_text(text, "the stored model (kpi_model)".into(), None)?;
        loaded.from = from;
        Ok(Some(loaded))
    }

    fn error(&self, line: Option<usize>, message: impl Into<String>) -> DbError {
        DbError::Model { origin: self.origin.clone(), line, message: message.into() }
    }

    /// Checks the model against the data: the source reads, every column exists with a fitting
    /// type, and every dimension has at most [`MAX_MEMBERS`] values.
    pub fn check(&self, connection: &Connection) -> Result<(), DbError> {
        let model = &self.model;
        let columns: Vec<(String, String)> = connection
            .prepare(&format!("DESCRIBE SELECT * FROM {}", self.from))
            .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
            .map_err(|e| self.error(None, format!("cannot read the source: {}", e.to_string().trim())))?;
        let listing = columns.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ");
        let type_of = |name: &kpiscope_model::Name| -> Result<&str, DbError> {
            columns.iter().find(|(n, _)| *n == name.name).map(|(_, t)| t.as_str()).ok_or_else(|| {
                self.error(
                    Some(name.line),
                    format!("column {:?} not found in the source; columns are: {listing}", name.name),
                )
            })
        };
        let time_type = type_of(&model.time)?;
        let temporal = time_type.starts_with("DATE") || time_type.starts_with("TIMESTAMP");
        if !temporal && time_type != "VARCHAR" {
            return Err(self.error(
                Some(model.time.line),
                format!(
                    "time column {:?} must be a DATE, TIMESTAMP or text of dates, but it is {time_type}",
                    model.time.name
                ),
            ));
        }
        if model.grain == Grain::Hourly && time_type == "DATE" {
            return Err(self.error(
                Some(model.time.line),
                format!(
                    "grain is hourly but {:?} is a DATE: use grain = \"daily\" or a TIMESTAMP column",
                    model.time.name
                ),
            ));
        }
        for dimension in &model.dimensions {
            type_of(dimension)?;
            if RESERVED.contains(&dimension.name.as_str()) {
                return Err(self.error(
                    Some(dimension.line),
                    format!(
                        "dimension name {:?} is reserved for the tables refresh writes; rename it in a query source, \
                         e.g. query = \"SELECT *, {} AS {}_name FROM ...\"",
                        dimension.name,
                        quote_ident(&dimension.name),
                        dimension.name
                    ),
                ));
            }
            let members: i64 = connection
                .query_row(
                    &format!("SELECT count(DISTINCT {}) FROM {}", quote_ident(&dimension.name), self.from),
                    [],
                    |r| r.get(0),
                )
                .map_err(|e| self.error(Some(dimension.line), e.to_string()))?;
            if members > MAX_MEMBERS {
                return Err(self.error(
                    Some(dimension.line),
                    format!(
                        "dimension {:?} has {members} values (at most {MAX_MEMBERS}): a dimension splits the data into \
                         segments to read; count an id column with count_distinct instead",
                        dimension.name
                    ),
                ));
            }
        }
        for kpi in &model.kpis {
            for column in kpi.measure.columns() {
                let sql_type = type_of(column)?;
                let numeric = [
                    "INT",
                    "BIGINT",
                    "HUGEINT",
                    "SMALLINT",
                    "TINYINT",
                    "UINT",
                    "UBIGINT",
                    "USMALLINT",
                    "UTINYINT",
                    "UHUGEINT",
                    "FLOAT",
                    "DOUBLE",
                    "DECIMAL",
                    "INTEGER",
                ]
                .iter()
                .any(|t| sql_type.starts_with(t));
                if !numeric && !matches!(kpi.measure, Measure::CountDistinct(_)) {
                    return Err(self.error(
                        Some(column.line),
                        format!(
                            "KPI {:?} sums {:?}, which is {sql_type}, not a number: a ratio's parts and sums must be numeric columns",
                            kpi.key, column.name
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The refresh steps for this model, in order. `labelled` lists the KPIs with labelled
    /// anomalies (their detectors are scored against them). With `incremental`, the tables
    /// whose rows each belong to one time step (facts, leaves, members, detection, root causes,
    /// actions) redo the time steps from the last one of the previous refresh on, and an
    /// unchanged detector comparison is kept; forecasts and everything else read across the
    /// history are recomputed.
    /// `feedback` is what people said about incidents in the viewer (see [`crate::feedback`]);
    /// `budget` the alert budgets' counts (see [`crate::budget`]).
    pub fn steps(
        &self,
        labelled: &[String],
        incremental: Option<&Incremental>,
        feedback: &Feedback,
        budget: &[crate::budget::Level],
    ) -> Vec<Step> {
        let plan = Plan { model: &self.model, since: incremental.map(|i| i.since.clone()) };
        let detectors = match incremental {
            Some(i) if i.keep_detectors => {
                Step::new("detector comparison (kept: the labels are unchanged)", "SELECT 1".to_string())
            }
            _ => Step::new("detector comparison", plan.detector_comparison(labelled)),
        };
        let mut steps = vec![
            Step::new("KPI model", self.catalogue()),
            Step::new("facts", plan.facts(&self.from)),
            Step::new("leaves and members", plan.leaves_and_members()),
            Step::new("anomalies per KPI", plan.anomalies()),
            Step::new("anomalies per segment", plan.segment_anomalies()),
            Step::new("root causes", plan.root_causes()),
            Step::new("decision tree", plan.trees()),
            Step::new("forecasts", plan.forecasts()),
            Step::new("model comparison", plan.model_comparison()),
            Step::new("feedback", Plan::feedback(feedback)),
            Step::new("alert budget", crate::budget::table(budget)),
            detectors,
            Step::new("change points", plan.change_points()),
            Step::new("what-if grid", plan.what_if()),
            Step::new("suggested actions", plan.actions()),
        ];
        steps.extend(crate::refresh::fixed_steps());
        steps
    }

    /// The catalogue tables, filled from the model.
    fn catalogue(&self) -> String {
        let model = &self.model;
        let (kind, source) = match &model.source {
            Source::Table(name) => ("table", name.clone()),
            Source::Query(sql) => ("query", sql.clone()),
            Source::Files { glob, .. } => ("files", glob.clone()),
        };
        let mut sql = format!(
            "CREATE OR REPLACE TABLE kpi_model AS SELECT {title} AS title, {kind} AS source_kind, {source} AS source, \
             {from} AS source_sql, {time} AS time_column, {grain} AS grain, {events} AS events, \
             {model_text} AS model, now()::TIMESTAMP AS loaded_at;\n\
             COMMENT ON TABLE kpi_model IS 'The KPI model refresh ran with: its source, time column and grain, and the model file itself.';\n",
            title = quote_literal(&model.title),
            kind = quote_literal(kind),
            source = quote_literal(&source),
            from = quote_literal(&self.from),
            time = quote_literal(&model.time.name),
            grain = quote_literal(model.grain.name()),
            events = quote_literal(model.events.as_deref().unwrap_or("kpi_events")),
            model_text = quote_literal(&self.text),
        );
        sql.push_str(
            "CREATE OR REPLACE TABLE kpi_catalog (kpi VARCHAR PRIMARY KEY, label VARCHAR, unit VARCHAR, kind VARCHAR, \
             expression VARCHAR, numerator VARCHAR, denominator VARCHAR, higher_is_better BOOLEAN, position INTEGER, \
             detection VARCHAR);\n",
        );
        for (i, kpi) in model.kpis.iter().enumerate() {
            sql.push_str(&format!(
                "INSERT INTO kpi_catalog VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {});\n",
                quote_literal(&kpi.key),
                quote_literal(&kpi.label),
                quote_literal(kpi.unit.name()),
                quote_literal(kpi.measure.kind()),
                quote_literal(&kpi.measure.value_sql()),
                quote_literal(&kpi.measure.numerator_sql()),
                kpi.measure.denominator_sql().map_or("NULL".into(), |d| quote_literal(&d)),
                kpi.higher_is_better,
                i + 1,
                quote_literal(&kpi.detection.arguments()),
            ));
        }
        sql.push_str(
            "COMMENT ON TABLE kpi_catalog IS 'KPIs analysed by refresh: label, unit (count, currency, percent, number), kind \
             (additive, distinct, ratio), the SQL of its value, numerator and denominator, which way is good, its detection settings.';\n\
             CREATE OR REPLACE TABLE kpi_dimensions (dimension VARCHAR, position INTEGER);\n",
        );
        for (i, d) in model.dimensions.iter().enumerate() {
            sql.push_str(&format!("INSERT INTO kpi_dimensions VALUES ({}, {});\n", quote_literal(&d.name), i + 1));
        }
        sql.push_str(
            "COMMENT ON TABLE kpi_dimensions IS 'The dimensions segments are made of, in order.';\n\
             CREATE OR REPLACE TABLE kpi_drivers (kpi VARCHAR, parent VARCHAR, expression VARCHAR, action VARCHAR);\n",
        );
        for d in &model.drivers {
            let text = |v: &Option<String>| v.as_ref().map_or("NULL".into(), |v| quote_literal(v));
            sql.push_str(&format!(
                "INSERT INTO kpi_drivers VALUES ({}, {}, {}, {});\n",
                quote_literal(&d.kpi),
                text(&d.parent),
                text(&d.expression),
                text(&d.action)
            ));
        }
        sql.push_str(
            "COMMENT ON TABLE kpi_drivers IS 'The driver tree of what-if and change decomposition: each node, its parent, and for leaves the SQL of its value and what to check when it moves.';\n\
             CREATE TABLE IF NOT EXISTS kpi_events (day DATE, name VARCHAR, suppress BOOLEAN DEFAULT true);\n\
             COMMENT ON TABLE kpi_events IS 'Known events by day: suppress = true keeps that day from being flagged; every event is named in the explanations.';\n\
             CREATE TABLE IF NOT EXISTS kpi_anomaly_labels (ts TIMESTAMP, segment VARCHAR, kpi VARCHAR, label VARCHAR);\n\
             COMMENT ON TABLE kpi_anomaly_labels IS 'Confirmed anomalies: time step, segment (as in kpi_segment_anomalies), KPI (NULL: every KPI) and a free-text label; refresh scores every detector against them.';\n",
        );
        sql
    }
}

/// The baseline root causes compare each anomalous time step with.
const RCA_BASELINE: &str = "same_weekday_4w";
/// How far back [`RCA_BASELINE`] reads: the same time of each of the four weeks before.
const RCA_BASELINE_LOOKBACK: &str = "INTERVAL 28 DAY";

/// What an incremental refresh starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incremental {
    /// SQL literal of the last time step of the previous refresh (redone: it may have been
    /// partial then).
    pub since: String,
    /// Whether the detector comparison is unchanged: the labels are the same and all lie
    /// before `since`.
    pub keep_detectors: bool,
}

/// Builds each step's SQL from the model.
pub(crate) struct Plan<'a> {
    pub(crate) model: &'a Model,
    /// Incremental refresh: the first time step to redo.
    pub(crate) since: Option<String>,
}

impl Plan<'_> {
    fn time(&self) -> String {
        quote_ident(&self.model.time.name)
    }

    fn dimension_list(&self) -> String {
        let names: Vec<String> = self.model.dimensions.iter().map(|d| quote_literal(&d.name)).collect();
        format!("[{}]", names.join(", "))
    }

    /// SQL of a leaf's label, `a=x & b=y`, over the dimension columns (NULL already 'NULL').
    fn segment_label(&self) -> String {
        if self.model.dimensions.is_empty() {
            return "'all'".to_string();
        }
        let parts: Vec<String> = self
            .model
            .dimensions
            .iter()
            .map(|d| format!("{} || {}", quote_literal(&format!("{}=", d.name)), quote_ident(&d.name)))
            .collect();
        format!("concat_ws(' & ', {})", parts.join(", "))
    }

    fn dimension_columns(&self) -> String {
        self.model.dimensions.iter().map(|d| format!("{}, ", quote_ident(&d.name))).collect()
    }

    /// A SQL string literal holding a query over one KPI's leaves.
    fn leaves_of(&self, key: &str) -> String {
        Self::leaves_where(key, "true")
    }

    /// [`leaves_of`](Self::leaves_of) limited to the rows meeting `condition`.
    fn leaves_where(key: &str, condition: &str) -> String {
        quote_literal(&format!("(SELECT * FROM kpi_leaves WHERE kpi = {} AND {condition})", quote_literal(key)))
    }

    /// [`leaves_of`](Self::leaves_of) limited, in an incremental refresh, to what root causes
    /// from `since` on compare against: [`RCA_BASELINE_LOOKBACK`] before it.
    fn baseline_leaves_of(&self, key: &str) -> String {
        match &self.since {
            None => self.leaves_of(key),
            Some(since) => {
                Self::leaves_where(key, &format!("ts >= CAST({since} AS TIMESTAMP) - {RCA_BASELINE_LOOKBACK}"))
            }
        }
    }

    /// `metric := 'num'`, or the ratio's numerator and denominator.
    fn leaf_measure(measure: &Measure) -> &'static str {
        match measure {
            Measure::Ratio { .. } => "numerator := 'num', denominator := 'den'",
            _ => "metric := 'num'",
        }
    }

    fn leaf_value(measure: &Measure) -> &'static str {
        match measure {
            Measure::Ratio { .. } => "sum(num) / sum(den)",
            _ => "sum(num)",
        }
    }

    pub(crate) fn events(&self) -> String {
        quote_literal(self.model.events.as_deref().unwrap_or("kpi_events"))
    }

    /// One statement per KPI, joined by UNION ALL into one table.
    fn union(&self, table: &str, per_kpi: impl Fn(&kpiscope_model::Kpi) -> String, comment: &str) -> String {
        let parts: Vec<String> = self.model.kpis.iter().map(per_kpi).collect();
        format!(
            "CREATE OR REPLACE TABLE {table} AS\n{};\nCOMMENT ON TABLE {table} IS {};\n",
            parts.join("\nUNION ALL BY NAME\n"),
            quote_literal(comment)
        )
    }

    /// A table whose rows belong to one time step each (`time` column): built whole, or, in
    /// an incremental refresh, its rows from `since` on replaced. `select` is the SELECT
    /// building it, given the condition that limits the time steps it reads.
    fn by_time(&self, table: &str, time: &str, select: impl Fn(&str) -> String, comment: &str) -> String {
        match &self.since {
            None => format!(
                "CREATE OR REPLACE TABLE {table} AS\n{};\nCOMMENT ON TABLE {table} IS {};\n",
                select("true"),
                quote_literal(comment)
            ),
            Some(since) => format!(
                "DELETE FROM {table} WHERE {time} >= {since};\nINSERT INTO {table} BY NAME\n{};\n",
                select(&format!("{time} >= {since}"))
            ),
        }
    }

    /// [`by_time`](Self::by_time) over one statement per KPI.
    fn by_time_per_kpi(
        &self,
        table: &str,
        time: &str,
        per_kpi: impl Fn(&kpiscope_model::Kpi, &str) -> String,
        comment: &str,
    ) -> String {
        self.by_time(
            table,
            time,
            |filter| {
                self.model.kpis.iter().map(|k| per_kpi(k, filter)).collect::<Vec<_>>().join("\nUNION ALL BY NAME\n")
            },
            comment,
        )
    }

    fn facts(&self, from: &str) -> String {
        self.by_time(
            "kpi_facts",
            &self.time(),
            |filter| self.facts_select(from, filter),
            &format!(
                "The source rows refresh analysed: time on the {} grain, dimensions as text, the measured columns.",
                self.model.grain.name()
            ),
        )
    }

    /// The SELECT of `kpi_facts` over the time steps `filter` (on the time column) keeps.
    pub(crate) fn facts_select(&self, from: &str, filter: &str) -> String {
        let model = self.model;
        let raw = format!("TRY_CAST({} AS TIMESTAMP)", self.time());
        let mut columns = vec![format!("{} AS {}", model.grain.truncate(&raw), self.time())];
        for d in &model.dimensions {
            columns.push(format!("coalesce(CAST({0} AS VARCHAR), 'NULL') AS {0}", quote_ident(&d.name)));
        }
        let fixed: Vec<&str> =
            std::iter::once(model.time.name.as_str()).chain(model.dimensions.iter().map(|d| d.name.as_str())).collect();
        for column in model.columns() {
            if !fixed.contains(&column.name.as_str()) {
                columns.push(quote_ident(&column.name));
            }
        }
        let truncated = model.grain.truncate(&raw);
        format!(
            "SELECT {} FROM {from} WHERE isfinite({raw}) AND {}",
            columns.join(", "),
            filter.replace(&self.time(), &truncated)
        )
    }

    fn leaves_and_members(&self) -> String {
        let model = self.model;
        let time = self.time();
        let dims = self.dimension_columns();
        let leaves = self.by_time_per_kpi(
            "kpi_leaves",
            "ts",
            |k, filter| {
                format!(
                    "SELECT {kpi} AS kpi, {time} AS ts, {label} AS segment, {dims}CAST({num} AS DOUBLE) AS num, \
                     CAST({den} AS DOUBLE) AS den FROM kpi_facts WHERE {filter} GROUP BY ALL",
                    filter = filter.replace("ts >=", &format!("{time} >=")),
                    kpi = quote_literal(&k.key),
                    label = self.segment_label(),
                    num = k.measure.numerator_sql(),
                    den = k.measure.denominator_sql().unwrap_or_else(|| "NULL".into()),
                )
            },
            "Each KPI per time step and leaf segment (every dimension fixed): num is its additive part (sum, count or \
             distinct count), den a ratio's denominator.",
        );
        // Exact per member, from the rows: a distinct count is not the sum of its leaves.
        let members = self.by_time_per_kpi(
            "kpi_member_series",
            "ts",
            |k, filter| {
                let filter = filter.replace("ts >=", &format!("{time} >="));
                let kpi = quote_literal(&k.key);
                let value = k.measure.value_sql();
                let num = k.measure.numerator_sql();
                let den = k.measure.denominator_sql().unwrap_or_else(|| "NULL".into());
                let mut parts = vec![format!(
                    "SELECT {kpi} AS kpi, 'all' AS dimension, 'all' AS member, {time} AS ts, CAST({num} AS DOUBLE) AS num, \
                     CAST({den} AS DOUBLE) AS den, CAST({value} AS DOUBLE) AS value FROM kpi_facts WHERE {filter} GROUP BY {time}"
                )];
                for d in &model.dimensions {
                    parts.push(format!(
                        "SELECT {kpi} AS kpi, {dimension} AS dimension, {column} AS member, {time} AS ts, \
                         CAST({num} AS DOUBLE) AS num, CAST({den} AS DOUBLE) AS den, CAST({value} AS DOUBLE) AS value \
                         FROM kpi_facts WHERE {filter} GROUP BY {column}, {time}",
                        dimension = quote_literal(&d.name),
                        column = quote_ident(&d.name),
                    ));
                }
                parts.join("\nUNION ALL BY NAME\n")
            },
            "Each KPI per time step for every member of each dimension (dimension all: the total).",
        );
        leaves + &members
    }

    // Detection is walk-forward: a time step's verdict depends only on the steps before it,
    // so an incremental refresh replays the history but stores only the new steps' rows.
    fn anomalies(&self) -> String {
        self.by_time_per_kpi(
            "kpi_anomalies",
            "ts",
            |k, filter| {
                format!(
                    "SELECT {kpi} AS kpi, * FROM detect_anomalies('kpi_facts', ts := {ts}, value := {value}, events := {events}, \
                     unit := {unit}{args}) WHERE {filter}",
                    kpi = quote_literal(&k.key),
                    ts = quote_literal(&self.model.time.name),
                    value = quote_literal(&k.measure.value_sql()),
                    events = self.events(),
                    unit = quote_literal(k.unit.name()),
                    args = k.detection.arguments(),
                )
            },
            "Walk-forward anomaly verdicts per KPI and time step on the all-segment total.",
        )
    }

    fn empty(table: &str, columns: &str, comment: &str) -> String {
        format!(
            "CREATE OR REPLACE TABLE {table} AS SELECT {columns} WHERE false;\nCOMMENT ON TABLE {table} IS {};\n",
            quote_literal(comment)
        )
    }

    fn segment_anomalies(&self) -> String {
        let comment = "Walk-forward anomaly verdicts of every KPI per leaf segment and time step.";
        if self.model.dimensions.is_empty() {
            return format!(
                "CREATE OR REPLACE TABLE kpi_segment_anomalies AS SELECT kpi, 'all' AS segment, * EXCLUDE (kpi) \
                 FROM kpi_anomalies WHERE false;\nCOMMENT ON TABLE kpi_segment_anomalies IS {};\n",
                quote_literal(comment)
            );
        }
        self.by_time_per_kpi(
            "kpi_segment_anomalies",
            "ts",
            |k, filter| {
                format!(
                    "SELECT {kpi} AS kpi, {label} AS segment, * FROM detect_anomalies({leaves}, ts := 'ts', value := {value}, \
                     group_by := {dims}, events := {events}, unit := {unit}{args}) WHERE {filter}",
                    kpi = quote_literal(&k.key),
                    label = self.segment_label(),
                    leaves = self.leaves_of(&k.key),
                    value = quote_literal(Self::leaf_value(&k.measure)),
                    dims = self.dimension_list(),
                    events = self.events(),
                    unit = quote_literal(k.unit.name()),
                    args = k.detection.arguments(),
                )
            },
            comment,
        )
    }

    fn root_causes(&self) -> String {
        let comment =
            "Top segments behind each anomalous time step of each KPI (rank 1 first; is_root_cause marks the \
                       localised set), against the same time of the four weeks before.";
        if self.model.dimensions.is_empty() {
            return Self::empty(
                "kpi_rca",
                "NULL::VARCHAR AS kpi, NULL::TIMESTAMP AS ts, NULL::DOUBLE AS value, NULL::DOUBLE AS expected, \
                 NULL::DOUBLE AS score, NULL::VARCHAR AS severity, NULL::BIGINT AS rank, NULL::VARCHAR AS dimensions, \
                 NULL::VARCHAR AS segment, NULL::DOUBLE AS baseline, NULL::DOUBLE AS actual, NULL::DOUBLE AS delta, \
                 NULL::DOUBLE AS contribution, NULL::DOUBLE AS mix_effect, NULL::DOUBLE AS rate_effect, \
                 NULL::DOUBLE AS surprise, NULL::DOUBLE AS explanatory_power, NULL::BOOLEAN AS is_root_cause",
                comment,
            );
        }
        self.by_time_per_kpi(
            "kpi_rca",
            "ts",
            |k, filter| {
                let kpi = quote_literal(&k.key);
                let flagged = quote_literal(&format!(
                    "(SELECT ts, expected, score, severity FROM kpi_anomalies WHERE kpi = {kpi} AND is_anomaly AND {filter})"
                ));
                format!(
                    "SELECT {kpi} AS kpi, r.* REPLACE (a.value AS value) FROM rca_anomalies({leaves}, ts := 'ts', {measure}, \
                     dimensions := {dims}, top := 5, baseline := {baseline}, anomalies := {flagged}) r \
                     JOIN kpi_anomalies a ON a.kpi = {kpi} AND a.ts = r.ts",
                    leaves = self.baseline_leaves_of(&k.key),
                    baseline = quote_literal(RCA_BASELINE),
                    measure = Self::leaf_measure(&k.measure),
                    dims = self.dimension_list(),
                )
            },
            comment,
        )
    }

    fn trees(&self) -> String {
        let (tree, importance) = (
            "Decision tree over the dimensions separating anomalous segment time steps (one row per node).",
            "Importance of each dimension in kpi_rca_tree (sums to 1 per KPI).",
        );
        if self.model.dimensions.is_empty() {
            return Self::empty(
                "kpi_rca_tree",
                "NULL::VARCHAR AS kpi, NULL::BIGINT AS node_id, NULL::BIGINT AS parent_id, NULL::BIGINT AS depth, \
                 NULL::VARCHAR AS rule, NULL::VARCHAR AS path, NULL::BIGINT AS samples, NULL::BIGINT AS anomalous, \
                 NULL::DOUBLE AS share, NULL::DOUBLE AS impurity, NULL::BOOLEAN AS is_leaf",
                tree,
            ) + &Self::empty(
                "kpi_rca_tree_importance",
                "NULL::VARCHAR AS kpi, NULL::VARCHAR AS dimension, NULL::DOUBLE AS importance",
                importance,
            );
        }
        let source = |k: &kpiscope_model::Kpi| {
            quote_literal(&format!("(SELECT * FROM kpi_segment_anomalies WHERE kpi = {})", quote_literal(&k.key)))
        };
        self.union(
            "kpi_rca_tree",
            |k| {
                format!(
                    "SELECT {} AS kpi, * FROM rca_tree({}, dimensions := {}, label := 'is_anomaly')",
                    quote_literal(&k.key),
                    source(k),
                    self.dimension_list()
                )
            },
            tree,
        ) + &self.union(
            "kpi_rca_tree_importance",
            |k| {
                format!(
                    "SELECT {} AS kpi, * FROM rca_tree_importance({}, dimensions := {}, label := 'is_anomaly')",
                    quote_literal(&k.key),
                    source(k),
                    self.dimension_list()
                )
            },
            importance,
        )
    }

    /// Forecast horizon and backtest horizon in steps of the grain.
    fn horizons(&self) -> (u32, u32) {
        match self.model.grain {
            Grain::Hourly => (48, 24),
            Grain::Daily => (30, 14),
            Grain::Weekly => (12, 4),
        }
    }

    /// A SQL string literal of a query over one KPI's history with its flagged time steps
    /// replaced by what the detector expected there: a forecast must not learn an outage as a
    /// pattern (the demo's payment failure widened the payment success interval to 0.73-1.00).
    fn cleaned(key: &str) -> String {
        quote_literal(&format!(
            "(SELECT ts, CASE WHEN is_anomaly THEN expected ELSE value END AS v FROM kpi_anomalies WHERE kpi = {})",
            quote_literal(key)
        ))
    }

    fn forecasts(&self) -> String {
        let (horizon, _) = self.horizons();
        let table = self.union(
            "kpi_forecast",
            |k| {
                format!(
                    "SELECT {} AS kpi, * FROM forecast_kpi({}, ts := 'ts', value := 'v', horizon := {horizon}, level := 0.9)",
                    quote_literal(&k.key),
                    Self::cleaned(&k.key),
                )
            },
            &format!(
                "Forecast of each KPI, {horizon} steps ahead: yhat with a 90% interval (yhat_lower, yhat_upper), fitted on \
                 the history with flagged time steps replaced by their expected values."
            ),
        );
        // A share cannot leave [0, 1]; the models' Gaussian intervals do not know that.
        table
            + "UPDATE kpi_forecast SET yhat = least(greatest(yhat, 0), 1), yhat_lower = greatest(yhat_lower, 0), \
               yhat_upper = least(yhat_upper, 1) WHERE kpi IN (SELECT kpi FROM kpi_catalog WHERE unit = 'percent');\n"
    }

    fn model_comparison(&self) -> String {
        let (_, horizon) = self.horizons();
        self.union(
            "kpi_model_comparison",
            |k| {
                format!(
                    "SELECT {} AS kpi, * FROM compare_models({}, ts := 'ts', value := 'v', horizon := {horizon}, folds := 3)",
                    quote_literal(&k.key),
                    Self::cleaned(&k.key),
                )
            },
            &format!("Rolling-origin backtest (3 folds of {horizon} steps) of every forecasting model on each KPI."),
        )
    }

    /// Every detection method on the segments of each labelled KPI, scored against
    /// `kpi_anomaly_labels` up to the last labelled time (later steps are not reviewed yet).
    fn detector_comparison(&self, labelled: &[String]) -> String {
        let comment = "Every detection method on the segments of each labelled KPI, scored against kpi_anomaly_labels \
                       up to the last labelled time step (pooled over segments); empty without labels.";
        let kpis: Vec<&kpiscope_model::Kpi> =
            self.model.kpis.iter().filter(|k| labelled.contains(&k.key) && !self.model.dimensions.is_empty()).collect();
        if kpis.is_empty() {
            return Self::empty(
                "kpi_detector_comparison",
                "NULL::VARCHAR AS kpi, NULL::VARCHAR AS method, NULL::BIGINT AS tp, NULL::BIGINT AS fp, NULL::BIGINT AS fn, \
                 NULL::BIGINT AS tn, NULL::DOUBLE AS precision, NULL::DOUBLE AS recall, NULL::DOUBLE AS f1, \
                 NULL::DOUBLE AS point_adjusted_f1, NULL::INTEGER AS rank",
                comment,
            );
        }
        let parts: Vec<String> = kpis
            .iter()
            .map(|k| {
                let kpi = quote_literal(&k.key);
                let labels = format!(
                    "(SELECT ts, segment FROM kpi_anomaly_labels WHERE kpi = {kpi} OR kpi IS NULL \
                     UNION ALL SELECT ts, segment FROM kpi_feedback_labels WHERE kpi = {kpi})"
                );
                let source = format!(
                    "(SELECT l.ts, l.segment, l.num, l.den, b.ts IS NOT NULL AS labelled FROM kpi_leaves l \
                     LEFT JOIN (SELECT DISTINCT * FROM {labels}) b ON CAST(l.ts AS TIMESTAMP) = b.ts AND l.segment = b.segment \
                     WHERE l.kpi = {kpi} AND CAST(l.ts AS TIMESTAMP) <= (SELECT max(ts) FROM {labels}))"
                );
                format!(
                    "SELECT {kpi} AS kpi, * FROM compare_detectors({}, ts := 'ts', value := {}, group_by := ['segment'], \
                     label := 'labelled')",
                    quote_literal(&source),
                    quote_literal(Self::leaf_value(&k.measure)),
                )
            })
            .collect();
        format!(
            "CREATE OR REPLACE TABLE kpi_detector_comparison AS\n{};\nCOMMENT ON TABLE kpi_detector_comparison IS {};\n",
            parts.join("\nUNION ALL BY NAME\n"),
            quote_literal(comment)
        )
    }

    /// The verdicts given in the viewer as a table, and the labels the confirmed ones make:
    /// every leaf inside a root cause RCA named on a time step of the incident, on that step
    /// (segments are matched by their `dimension=value` parts).
    fn feedback(feedback: &Feedback) -> String {
        let mut sql = String::from(
            "CREATE OR REPLACE TABLE kpi_feedback (kpi VARCHAR, start_ts VARCHAR, end_ts VARCHAR, direction VARCHAR, \
             verdict VARCHAR, note VARCHAR, given_at TIMESTAMP);\n",
        );
        for r in &feedback.records {
            sql.push_str(&format!(
                "INSERT INTO kpi_feedback VALUES ({}, {}, {}, {}, {}, {}, TRY_CAST({} AS TIMESTAMP));\n",
                quote_literal(&r.kpi),
                quote_literal(&r.start),
                quote_literal(&r.end),
                quote_literal(&r.direction),
                quote_literal(r.verdict.name()),
                quote_literal(&r.note),
                quote_literal(&r.at),
            ));
        }
        sql.push_str(
            "COMMENT ON TABLE kpi_feedback IS 'The latest verdict given in the viewer on each incident (KPI, first and last \
             time step, direction): confirmed or dismissed, with its note; from the feedback file beside the database.';\n\
             CREATE OR REPLACE TABLE kpi_feedback_labels AS\n\
             SELECT DISTINCT CAST(l.ts AS TIMESTAMP) AS ts, l.segment, f.kpi, 'confirmed in the viewer' AS label\n\
             FROM kpi_feedback f\n\
             JOIN kpi_rca r ON r.kpi = f.kpi AND r.is_root_cause\n\
              AND CAST(r.ts AS TIMESTAMP) BETWEEN CAST(f.start_ts AS TIMESTAMP) AND CAST(f.end_ts AS TIMESTAMP)\n\
             JOIN kpi_leaves l ON l.kpi = f.kpi AND CAST(l.ts AS TIMESTAMP) = CAST(r.ts AS TIMESTAMP)\n\
              AND list_has_all(string_split(l.segment, ' & '), string_split(r.segment, ' & '))\n\
             WHERE f.verdict = 'confirmed';\n\
             COMMENT ON TABLE kpi_feedback_labels IS 'Labels from incidents confirmed in the viewer: each leaf inside a root \
             cause of a time step of the incident, on that step; scored against with kpi_anomaly_labels.';\n",
        );
        sql
    }

    fn change_points(&self) -> String {
        self.union(
            "kpi_change_points",
            |k| {
                format!(
                    "SELECT {} AS kpi, * FROM change_points('kpi_facts', ts := {}, value := {})",
                    quote_literal(&k.key),
                    quote_literal(&self.model.time.name),
                    quote_literal(&k.measure.value_sql()),
                )
            },
            "Structural breaks in each KPI (BOCPD): is_change_point, probability, segment means.",
        )
    }

    /// The leaves of the driver tree (the levers), in the order written.
    fn levers(&self) -> Vec<&kpiscope_model::Driver> {
        let drivers = &self.model.drivers;
        drivers.iter().filter(|d| !drivers.iter().any(|c| c.parent.as_deref() == Some(d.kpi.as_str()))).collect()
    }

    fn what_if(&self) -> String {
        let comment =
            "What-if grid over the driver tree: each lever moved by -10%, -5%, +5% and +10% against the last 28 \
                       days; baseline vs scenario per node of the tree, and each lever's part of the root's change.";
        let levers = self.levers();
        if levers.is_empty() {
            return Self::empty(
                "kpi_what_if",
                "NULL::VARCHAR AS scenario, NULL::VARCHAR AS lever_name, NULL::DOUBLE AS lever_change, NULL::VARCHAR AS kpi, \
                 NULL::DOUBLE AS baseline, NULL::DOUBLE AS scenario_value, NULL::DOUBLE AS delta, NULL::DOUBLE AS delta_pct, \
                 NULL::DOUBLE AS lever, NULL::DOUBLE AS contribution",
                comment,
            );
        }
        let mut parts = Vec::new();
        for lever in &levers {
            for change in LEVER_CHANGES {
                let scenario = format!("{} {:+}%", lever.kpi, (change * 100.0).round() as i64);
                parts.push(format!(
                    "SELECT {scenario} AS scenario, {name} AS lever_name, {change:?}::DOUBLE AS lever_change, kpi, baseline, \
                     scenario AS scenario_value, delta, delta_pct, lever, contribution \
                     FROM what_if('kpi_facts', ts := {ts}, tree := 'kpi_drivers', levers := MAP {{{name}: {change:?}}})",
                    scenario = quote_literal(&scenario),
                    name = quote_literal(&lever.kpi),
                    ts = quote_literal(&self.model.time.name),
                ));
            }
        }
        format!(
            "CREATE OR REPLACE TABLE kpi_what_if AS\n{};\nCOMMENT ON TABLE kpi_what_if IS {};\n",
            parts.join("\nUNION ALL\n"),
            quote_literal(comment)
        )
    }

    /// One suggestion per root-cause segment and anomalous time step: the lever of the driver
    /// tree that moved most in that segment against the same time of the four weeks before,
    /// and what to check for it; without a tree, the segment itself is what to look at.
    fn actions(&self) -> String {
        let comment = "Suggested next step per root-cause segment and anomalous time step: the driver-tree lever that \
                       moved most in the segment and what to check.";
        let levers = self.levers();
        let matches_segment = if self.model.dimensions.is_empty() {
            "true".to_string()
        } else {
            let terms: Vec<String> = self
                .model
                .dimensions
                .iter()
                .map(|d| format!("{} || f.{}", quote_literal(&format!("{}=", d.name)), quote_ident(&d.name)))
                .collect();
            format!("list_has_all([{}], string_split(c.segment, ' & '))", terms.join(", "))
        };
        if levers.is_empty() {
            return self.by_time(
                "kpi_actions",
                "ts",
                |filter| {
                    format!(
                        "SELECT kpi, ts, segment, severity, score, contribution, NULL::VARCHAR AS lever, actual, baseline, \
                         actual / nullif(baseline, 0) - 1 AS change, 'Look into ' || segment || ': it holds ' || \
                         round(100 * contribution) || '% of the change of ' || kpi || '.' AS action \
                         FROM kpi_rca WHERE is_root_cause AND {filter}"
                    )
                },
                comment,
            );
        }
        let time = self.time();
        let levers_sql: Vec<String> = levers
            .iter()
            .map(|l| {
                format!(
                    "{{'lever': {}, 'value': CAST({} AS DOUBLE)}}",
                    quote_literal(&l.kpi),
                    l.expression.as_deref().unwrap_or("NULL")
                )
            })
            .collect();
        let levers_sql = format!("[{}] AS levers", levers_sql.join(", "));
        let texts: Vec<String> = levers
            .iter()
            .map(|l| {
                let text = l.action.clone().unwrap_or_else(|| format!("Check what moved {} in", l.kpi));
                format!("WHEN {} THEN {} || ' ' || segment || '.'", quote_literal(&l.kpi), quote_literal(&text))
            })
            .collect();
        let texts = texts.join(" ");
        self.by_time(
            "kpi_actions",
            "ts",
            |filter| {
                format!(
                    "WITH causes AS (SELECT kpi, ts, segment, contribution, severity, score FROM kpi_rca WHERE is_root_cause AND {filter}),
segment_steps AS (
    SELECT c.kpi, c.ts, c.segment, c.contribution, c.severity, c.score, f.{time} AS step_ts, {levers_sql}
    FROM causes c JOIN kpi_facts f ON {matches_segment}
     AND f.{time} IN (c.ts, c.ts - INTERVAL 7 DAY, c.ts - INTERVAL 14 DAY, c.ts - INTERVAL 21 DAY, c.ts - INTERVAL 28 DAY)
    GROUP BY ALL
),
moves AS (
    SELECT kpi, ts, segment, contribution, severity, score, lever,
           max(value) FILTER (step_ts = ts) AS actual, median(value) FILTER (step_ts <> ts) AS baseline
    FROM (SELECT * EXCLUDE (levers), unnest(levers, recursive := true) FROM segment_steps)
    GROUP BY ALL
),
ranked AS (
    SELECT *, actual / nullif(baseline, 0) - 1 AS change,
           row_number() OVER (PARTITION BY kpi, ts, segment
                              ORDER BY abs(ln(greatest(actual, 1e-12) / greatest(baseline, 1e-12))) DESC) AS lever_rank
    FROM moves WHERE baseline > 0 AND actual IS NOT NULL
)
SELECT kpi, ts, segment, severity, score, contribution, lever, actual, baseline, change,
       CASE lever {texts} END AS action
FROM ranked WHERE lever_rank = 1"
                )
            },
            comment,
        )
    }
}

/// What `kpiscope init` inspects: a table or view of a database, or files.
#[derive(Debug, Clone)]
pub enum Proposal {
    /// A table or view name.
    Table(String),
    /// A path or glob of CSV, Parquet or JSON files, as the model should say it.
    Files(String),
}

/// A model proposed from the data, for the user to edit: the first time column, the grain from
/// the most common gap, low-cardinality text columns as dimensions, numeric columns as summed
/// KPIs. `from` is how to read the source from here (absolute paths for files).
pub fn propose(connection: &Connection, proposal: &Proposal, from: &str) -> Result<String, DbError> {
    let failed = |e: duckdb::Error| DbError::Model {
        origin: match proposal {
            Proposal::Table(t) => t.clone(),
            Proposal::Files(f) => f.clone(),
        },
        line: None,
        message: format!("cannot read it: {}", e.to_string().trim()),
    };
    let columns: Vec<(String, String)> = connection
        .prepare(&format!("DESCRIBE SELECT * FROM {from}"))
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .map_err(failed)?;
    let rows: i64 = connection.query_row(&format!("SELECT count(*) FROM {from}"), [], |r| r.get(0)).map_err(failed)?;
    let temporal = |t: &str| t.starts_with("DATE") || t.starts_with("TIMESTAMP");
    let numeric = |t: &str| {
        [
            "TINYINT",
            "SMALLINT",
            "INTEGER",
            "BIGINT",
            "HUGEINT",
            "UTINYINT",
            "USMALLINT",
            "UINTEGER",
            "UBIGINT",
            "FLOAT",
            "DOUBLE",
            "DECIMAL",
        ]
        .iter()
        .any(|n| t.starts_with(n))
    };
    let time = columns.iter().find(|(_, t)| temporal(t)).map(|(n, _)| n.clone());
    let grain = match &time {
        Some(column) => {
            let gap: Option<f64> = connection
                .query_row(
                    &format!(
                        "SELECT median(epoch(g)) FROM (SELECT t - lag(t) OVER (ORDER BY t) AS g FROM \
                         (SELECT DISTINCT CAST({} AS TIMESTAMP) AS t FROM {from}))",
                        quote_ident(column)
                    ),
                    [],
                    |r| r.get(0),
                )
                .map_err(failed)?;
            match gap {
                Some(g) if g < 2.0 * 3600.0 => Grain::Hourly,
                Some(g) if g > 3.0 * 86_400.0 => Grain::Weekly,
                _ => Grain::Daily,
            }
        }
        None => Grain::Daily,
    };
    let mut dimensions = Vec::new();
    let mut kpis = Vec::new();
    let mut ids = Vec::new();
    for (name, sql_type) in &columns {
        if Some(name) == time.as_ref() || RESERVED.contains(&name.as_str()) {
            continue;
        }
        let distinct: i64 = connection
            .query_row(&format!("SELECT count(DISTINCT {}) FROM {from}", quote_ident(name)), [], |r| r.get(0))
            .map_err(failed)?;
        let looks_like_id = name.to_ascii_lowercase().ends_with("_id") || name.eq_ignore_ascii_case("id");
        if looks_like_id {
            ids.push(name.clone());
        } else if numeric(sql_type) {
            {
                kpis.push((name.clone(), sql_type.starts_with('D') || sql_type.starts_with('F')));
            }
        } else if (2..=50).contains(&distinct) && distinct * 5 <= rows.max(10) && dimensions.len() < 6 {
            dimensions.push(name.clone());
        } else if distinct > 50 {
            ids.push(name.clone());
        }
    }
    let source = match proposal {
        Proposal::Table(t) => format!("table = {}", toml_string(t)),
        Proposal::Files(f) => format!("files = {}", toml_string(f)),
    };
    let mut out = format!(
        "# kpiscope.toml: the KPIs to monitor, proposed by `kpiscope init` from {rows} rows. Edit it, then:\n\
         #   kpiscope refresh --db FILE --model kpiscope.toml\n\
         title = \"KPIs\"\n\n[source]\n{source}\n"
    );
    match &time {
        Some(t) => out.push_str(&format!("time = {}\n", toml_string(t))),
        None => {
            out.push_str("time = \"\"  # no DATE or TIMESTAMP column found: name the column holding each row's time\n")
        }
    }
    out.push_str(&format!(
        "grain = \"{}\"  # daily, hourly or weekly\n# Text columns with few values: each KPI is explained by these.\ndimensions = [{}]\n",
        grain.name(),
        dimensions.iter().map(|d| toml_string(d)).collect::<Vec<_>>().join(", ")
    ));
    for (column, fractional) in &kpis {
        let key: String = column
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect::<String>()
            .trim_start_matches(|c: char| c.is_ascii_digit() || c == '_')
            .to_string();
        let key = if key.is_empty() { "kpi".to_string() } else { key };
        out.push_str(&format!(
            "\n[[kpis]]\nkey = {}\nsum = {}\nunit = \"{}\"  # count, currency, percent or number\n",
            toml_string(&key),
            toml_string(column),
            if *fractional { "number" } else { "count" }
        ));
    }
    out.push_str("\n[[kpis]]\nkey = \"rows\"\nlabel = \"Rows\"\ncount = true\n");
    for id in ids {
        out.push_str(&format!(
            "\n# [[kpis]]\n# key = \"distinct_{}\"\n# count_distinct = {}\n",
            id.to_ascii_lowercase()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect::<String>(),
            toml_string(&id)
        ));
    }
    out.push_str(
        "\n# A ratio of two summed columns, e.g. success rate = successes / attempts:\n\
         # [[kpis]]\n# key = \"success_rate\"\n# numerator = \"successes\"\n# denominator = \"attempts\"\n",
    );
    Ok(out)
}

/// A TOML basic string.
fn toml_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}
