//! The catalogue of a refreshed database, as the viewer and the reports read it: the KPIs,
//! dimensions, driver levers, time grain and the data-as-of stamp, plus how to show values.
//! One typed read model, so both readers agree on every number they print.

use crate::read::{query, Cell};
use chrono::{NaiveDate, NaiveDateTime};
use duckdb::types::{ToSqlOutput, Value};
use duckdb::{Connection, ToSql};
pub use kpiscope_model::Grain;
pub use kpiscope_model::Unit;

/// A KPI of the catalogue.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Kpi {
    /// Key, e.g. `signup_rate`.
    pub key: String,
    /// Display name.
    pub label: String,
    /// `count`, `currency`, `percent` or `number`.
    pub unit: String,
    /// `additive`, `distinct` or `ratio`.
    pub kind: String,
    /// SQL of its value over a set of rows of `kpi_facts`.
    pub expression: String,
    /// Its detection settings as named arguments (`, sensitivity := 'low'`).
    pub detection: String,
    /// Whether a rise is good news.
    pub higher_is_better: bool,
}

impl Kpi {
    /// Whether RCA splits it as a ratio (mix and rate effects).
    pub fn is_ratio(&self) -> bool {
        self.kind == "ratio"
    }

    /// A value in its unit, for people: `3.1%`, `1,116,317`, `8,431`.
    pub fn format(&self, value: f64) -> String {
        format_value(&self.unit, value)
    }

    /// A short value in its unit for a chart axis: `3.1%`, `1.12M`.
    pub fn short(&self, value: f64) -> String {
        short_value(&self.unit, value)
    }
}

/// A leaf of the driver tree: a lever of the what-if simulator.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Lever {
    /// Its name in the tree.
    pub name: String,
    /// What to check when it moves, if the model says.
    pub action: Option<String>,
}

/// Why a database cannot be read as a refreshed kpiscope database.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// No catalogue or stamp: refresh never ran (or ran before the KPI model existed).
    #[error(
        "this database has not been refreshed with a KPI model: run `kpiscope refresh --db FILE --model kpiscope.toml`"
    )]
    NotRefreshed,
    /// A query failed.
    #[error("cannot read the catalogue: {0}")]
    Query(#[from] duckdb::Error),
}

/// What every page and report needs from the database.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// The model's title.
    pub title: String,
    /// The time step.
    pub grain: Grain,
    /// The time column of `kpi_facts`.
    pub time_column: String,
    /// The table of known events detection reads.
    pub events: String,
    /// Dimensions, in order.
    pub dimensions: Vec<String>,
    /// KPIs, in display order.
    pub kpis: Vec<Kpi>,
    /// The root of the driver tree, when the model has one.
    pub tree_root: Option<String>,
    /// The tree's leaves (the what-if levers), in order.
    pub levers: Vec<Lever>,
    /// First time step of the data.
    pub data_from: NaiveDateTime,
    /// Last time step ("data as of").
    pub data_to: NaiveDateTime,
    /// When refresh last ran.
    pub refreshed_at: String,
}

fn text(cell: &Cell) -> Option<String> {
    match cell {
        Cell::Null => None,
        other => Some(other.to_string()),
    }
}

impl Catalog {
    /// Reads the catalogue and the refresh stamp.
    pub fn read(connection: &Connection) -> Result<Catalog, CatalogError> {
        let not_refreshed = |_| CatalogError::NotRefreshed;
        let model =
            query(connection, "SELECT title, grain, time_column, events FROM kpi_model", &[]).map_err(not_refreshed)?;
        let model = model.rows.first().ok_or(CatalogError::NotRefreshed)?.clone();
        let stamp = query(connection, "SELECT data_from, data_to, refreshed_at FROM kpi_refresh", &[])
            .map_err(not_refreshed)?;
        let stamp = stamp.rows.first().ok_or(CatalogError::NotRefreshed)?.clone();
        let kpis = query(
            connection,
            "SELECT kpi, label, unit, kind, expression, detection, higher_is_better FROM kpi_catalog ORDER BY position",
            &[],
        )?;
        let dimensions = query(connection, "SELECT dimension FROM kpi_dimensions ORDER BY position", &[])?;
        let drivers = query(connection, "SELECT kpi, parent, action FROM kpi_drivers", &[])?;
        let is_parent = |name: &str| drivers.rows.iter().any(|r| text(&r[1]).as_deref() == Some(name));
        Ok(Catalog {
            title: model[0].to_string(),
            grain: Grain::parse(&model[1].to_string()).unwrap_or(Grain::Daily),
            time_column: model[2].to_string(),
            events: model[3].to_string(),
            dimensions: dimensions.rows.iter().map(|r| r[0].to_string()).collect(),
            kpis: kpis
                .rows
                .iter()
                .map(|r| Kpi {
                    key: r[0].to_string(),
                    label: r[1].to_string(),
                    unit: r[2].to_string(),
                    kind: r[3].to_string(),
                    expression: r[4].to_string(),
                    detection: r[5].to_string(),
                    higher_is_better: r[6] != Cell::Bool(false),
                })
                .collect(),
            tree_root: drivers.rows.iter().find(|r| r[1] == Cell::Null).map(|r| r[0].to_string()),
            levers: drivers
                .rows
                .iter()
                .filter(|r| !is_parent(&r[0].to_string()))
                .map(|r| Lever { name: r[0].to_string(), action: text(&r[2]) })
                .collect(),
            data_from: stamp[0].as_moment().ok_or(CatalogError::NotRefreshed)?,
            data_to: stamp[1].as_moment().ok_or(CatalogError::NotRefreshed)?,
            refreshed_at: stamp[2].to_string(),
        })
    }

    /// The KPI with this key.
    pub fn kpi(&self, key: &str) -> Option<&Kpi> {
        self.kpis.iter().find(|k| k.key == key)
    }

    /// The KPI with this display name (report tables carry labels, not keys).
    pub fn kpi_labelled(&self, label: &str) -> Option<&Kpi> {
        self.kpis.iter().find(|k| k.label == label)
    }

    /// A time step as the tables hold it: a DATE for daily and weekly data, a TIMESTAMP for
    /// hourly, to bind in queries.
    pub fn moment(&self, t: NaiveDateTime) -> Moment {
        match self.grain {
            Grain::Hourly => Moment::Time(t),
            Grain::Daily | Grain::Weekly => Moment::Date(t.date()),
        }
    }

    /// A time step for people: `2024-06-21`, or `2024-06-21 13:00` for hourly data.
    pub fn show(&self, t: NaiveDateTime) -> String {
        match self.grain {
            Grain::Hourly => t.format("%Y-%m-%d %H:%M").to_string(),
            Grain::Daily | Grain::Weekly => t.date().to_string(),
        }
    }

    /// A short axis label: `Jun 21`, or `Jun 21 13h` for hourly data.
    pub fn axis(&self, t: NaiveDateTime) -> String {
        match self.grain {
            Grain::Hourly => t.format("%b %d %Hh").to_string(),
            Grain::Daily | Grain::Weekly => t.format("%b %d").to_string(),
        }
    }

    /// Parses a time step from a URL or a command line: `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM` (an
    /// HTML datetime field) or `YYYY-MM-DD HH:MM[:SS]`, placed on the grain.
    pub fn parse(&self, text: &str) -> Option<NaiveDateTime> {
        let text = text.trim();
        let t = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
            .or_else(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)))?;
        Some(match self.grain {
            Grain::Hourly => t.date().and_hms_opt(chrono::Timelike::hour(&t), 0, 0)?,
            Grain::Daily => t.date().and_hms_opt(0, 0, 0)?,
            Grain::Weekly => {
                let days = chrono::Datelike::weekday(&t.date()).num_days_from_monday();
                (t.date() - chrono::Duration::days(days.into())).and_hms_opt(0, 0, 0)?
            }
        })
    }
}

/// A time step bound into a query with the type its table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    /// A DATE.
    Date(NaiveDate),
    /// A TIMESTAMP.
    Time(NaiveDateTime),
}

impl ToSql for Moment {
    fn to_sql(&self) -> duckdb::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Moment::Date(d) => ToSqlOutput::Owned(Value::Date32(
                (*d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date")).num_days() as i32,
            )),
            Moment::Time(t) => ToSqlOutput::Owned(Value::Timestamp(
                duckdb::types::TimeUnit::Microsecond,
                t.and_utc().timestamp_micros(),
            )),
        })
    }
}

/// Whether a result column of the tab views holds a KPI's own values (or differences of
/// them), which tables show in the KPI's unit.
pub fn holds_kpi_values(column: &str) -> bool {
    const COLUMNS: [&str; 22] = [
        "value",
        "expected",
        "lower",
        "upper",
        "actual",
        "yhat",
        "yhat_lower",
        "yhat_upper",
        "baseline",
        "change",
        "delta",
        "compare_value",
        "scenario_value",
        "last_period",
        "previous_period",
        "mean_before",
        "mean_after",
        "avg_last_28d",
        "avg_previous_28d",
        "avg_28d",
        "mae",
        "rmse",
    ];
    COLUMNS.contains(&column)
}

/// A value in a unit named as the catalogue stores it (`percent`, ...; anything else reads as
/// a plain number): [`Unit::format`], the one formatter.
pub fn format_value(unit: &str, value: f64) -> String {
    Unit::parse(unit).unwrap_or_default().format(value)
}

/// A short value (axis ticks, bar labels) in a unit named as the catalogue stores it:
/// [`Unit::short`].
pub fn short_value(unit: &str, value: f64) -> String {
    Unit::parse(unit).unwrap_or_default().short(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_unit_names_pick_the_formatter_and_unknown_ones_read_as_numbers() {
        assert_eq!(format_value("percent", 0.0312), "3.1%");
        assert_eq!(format_value("currency", 1_116_317.45), "1,116,317");
        assert_eq!(format_value("furlongs", 0.9421), "0.942");
    }
}
