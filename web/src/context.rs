//! What every page needs from the database: the KPI catalogue and the data-as-of stamp.

use crate::error::AppError;
use chrono::NaiveDate;
use duckdb::Connection;
use kpiscope_db::read::{query, Cell};
use serde::Serialize;

/// A KPI of the catalogue.
#[derive(Debug, Clone, Serialize)]
pub struct Kpi {
    /// Key, e.g. `conversion_rate`.
    pub key: String,
    /// Display name.
    pub label: String,
    /// `currency`, `count` or `ratio`.
    pub unit: String,
    /// SQL of the daily total (for live detection).
    pub expression: String,
    /// Additive KPIs: the summed column.
    pub metric: Option<String>,
    /// Ratio KPIs: numerator column.
    pub numerator: Option<String>,
    /// Ratio KPIs: denominator column.
    pub denominator: Option<String>,
}

/// Facts read once per request.
#[derive(Debug, Clone)]
pub struct Context {
    /// KPIs in display order.
    pub kpis: Vec<Kpi>,
    /// First day of data.
    pub data_from: NaiveDate,
    /// Last day of data ("data as of").
    pub data_to: NaiveDate,
    /// When refresh last ran.
    pub refreshed_at: String,
}

fn text(cell: &Cell) -> Option<String> {
    match cell {
        Cell::Null => None,
        other => Some(other.to_string()),
    }
}

impl Context {
    /// Reads the catalogue and the refresh stamp; a database never refreshed is refused.
    pub fn load(connection: &Connection) -> Result<Context, AppError> {
        let not_refreshed =
            |_| AppError::unavailable("this database has not been refreshed: run `kpiscope refresh --db FILE`");
        let kpis = query(
            connection,
            "SELECT kpi, label, unit, expression, metric, numerator, denominator FROM kpi_catalog ORDER BY position",
            &[],
        )
        .map_err(not_refreshed)?;
        let stamp = query(connection, "SELECT data_from, data_to, refreshed_at FROM kpi_refresh", &[])
            .map_err(not_refreshed)?;
        let row = stamp.rows.first().ok_or_else(|| AppError::unavailable("kpi_refresh is empty: run refresh"))?;
        let date = |cell: &Cell| match cell {
            Cell::Date(d) => Ok(*d),
            _ => Err(AppError::unavailable("kpi_daily has no days")),
        };
        Ok(Context {
            kpis: kpis
                .rows
                .iter()
                .map(|r| Kpi {
                    key: r[0].to_string(),
                    label: r[1].to_string(),
                    unit: r[2].to_string(),
                    expression: r[3].to_string(),
                    metric: text(&r[4]),
                    numerator: text(&r[5]),
                    denominator: text(&r[6]),
                })
                .collect(),
            data_from: date(&row[0])?,
            data_to: date(&row[1])?,
            refreshed_at: row[2].to_string(),
        })
    }
}
