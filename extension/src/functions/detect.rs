//! `detect_anomalies(source, ts := ..., value := ..., group_by := [...], method := ...,
//! sensitivity := ..., period := ...)`.

use crate::batched::Batched;
use crate::guard::{fail, CallResult};
use crate::params::{self, Kind, Named};
use crate::series::{self, Spec};
use crate::source::{explain, quote_ident, Reader, Side, Source};
use duckdb::vtab::BindInfo;
use kpiscope_engine::detect::{table, DetectArguments, DetectConfig, Event};
use kpiscope_engine::frame::{output_names, Grouped, Table};

const PARAMS: &[(&str, Kind)] = &[
    ("ts", Kind::Text),
    ("value", Kind::Text),
    ("group_by", Kind::TextList),
    ("method", Kind::Text),
    ("sensitivity", Kind::Text),
    ("period", Kind::Integer),
    ("direction", Kind::Text),
    ("min_delta", Kind::Double),
    ("min_pct", Kind::Double),
    ("min_history", Kind::Integer),
    ("cooldown", Kind::Integer),
    ("as_of", Kind::Timestamp),
    ("events", Kind::Text),
    ("unit", Kind::Text),
];

/// The detection settings as given to this call (`rca_anomalies` and `evaluate_detection`
/// take some of them; the others are absent there).
pub(super) fn arguments(named: &impl Named) -> CallResult<DetectArguments> {
    Ok(DetectArguments {
        method: named.text("method")?,
        sensitivity: named.text("sensitivity")?,
        period: named.integer("period")?,
        direction: named.text("direction")?,
        min_delta: named.double("min_delta")?,
        min_pct: named.double("min_pct")?,
        min_history: named.integer("min_history")?,
        cooldown: named.integer("cooldown")?,
        unit: named.text("unit")?,
    })
}

/// The settings `arguments` reads (the in-query form takes exactly these).
pub(super) const SETTINGS: &[&str] =
    &["method", "sensitivity", "period", "direction", "min_delta", "min_pct", "min_history", "cooldown", "unit"];

/// `detect_anomalies`: its settings and the value as given (for errors).
pub struct DetectAnomalies {
    config: DetectConfig,
    value: String,
}

impl Batched for DetectAnomalies {
    const NAME: &'static str = "detect_anomalies";
    const POSITIONAL: &'static [Kind] = &[Kind::Text];
    const NAMED: &'static [(&'static str, Kind)] = PARAMS;

    fn bind(bind: &BindInfo) -> CallResult<(Self, Grouped)> {
        let mut spec = Spec::parse(bind)?;
        spec.as_of = params::timestamp(bind, "as_of")?;
        let mut config = arguments(bind)?.config().map_err(fail)?;
        let value = spec.value.clone();
        let reader = Side::of(bind)?.reader()?;
        if let Some(name) = params::text(bind, "events")? {
            config.events = read_events(&reader, &name)?;
        }
        let input = spec.read(&reader, &output_names(|g| table(g, &config)))?;
        Ok((DetectAnomalies { config, value }, input))
    }

    fn build(&self, input: &Grouped, read: &dyn Fn(&str) -> bool) -> CallResult<Table> {
        let skip = DetectConfig { skip_explanations: !read("explanation"), ..self.config.clone() };
        table(input, &skip).map_err(series::failed(&self.value))
    }
}

/// The `events` table: its one DATE or TIMESTAMP column gives the day, `name` what happened,
/// and an optional BOOLEAN `suppress` (default true) whether that day's points may be flagged.
fn read_events(reader: &Reader, name: &str) -> CallResult<Vec<Event>> {
    let events = Source::open(reader, "events", name)?;
    let day = events.time_column(None)?;
    events.require_column("events", "name")?;
    let suppress = match events.require_column("events", "suppress") {
        Ok(_) => events.condition("events", "suppress")?,
        Err(_) => "true".to_string(),
    };
    let sql = format!(
        "SELECT CAST(CAST({} AS DATE) - DATE '1970-01-01' AS INTEGER), CAST(name AS VARCHAR), {suppress} FROM {}",
        quote_ident(&day),
        events.from()
    );
    reader
        .query(&sql, |row| {
            Ok((row.get::<_, Option<i32>>(0)?, row.get::<_, Option<String>>(1)?, row.get::<_, Option<bool>>(2)?))
        })
        .map_err(|e| fail(format!("cannot read events '{}': {}", events.name(), explain(&e))))?
        .into_iter()
        .filter_map(|(day, name, suppress)| {
            day.map(|day| Event {
                day,
                name: name.unwrap_or_else(|| "event".into()),
                suppress: suppress.unwrap_or(true),
            })
        })
        .map(Ok)
        .collect()
}
