//! Reading and validating named parameters, with messages that say what to fix.

use crate::guard::{fail, CallResult};
use chrono::{NaiveDate, NaiveDateTime};
use duckdb::core::{LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::BindInfo;

/// The SQL types our parameters use.
#[derive(Clone, Copy)]
pub enum Kind {
    /// VARCHAR.
    Text,
    /// BIGINT (any integer literal casts to it).
    Integer,
    /// DATE.
    Date,
    /// VARCHAR[].
    TextList,
    /// DOUBLE.
    Double,
    /// TIMESTAMP (a DATE casts to it).
    Timestamp,
    /// MAP(VARCHAR, DOUBLE).
    DoubleMap,
}

impl Kind {
    fn handle(self) -> LogicalTypeHandle {
        match self {
            Kind::Text => LogicalTypeHandle::from(LogicalTypeId::Varchar),
            Kind::Integer => LogicalTypeHandle::from(LogicalTypeId::Bigint),
            Kind::Date => LogicalTypeHandle::from(LogicalTypeId::Date),
            Kind::TextList => LogicalTypeHandle::list(&LogicalTypeHandle::from(LogicalTypeId::Varchar)),
            Kind::Double => LogicalTypeHandle::from(LogicalTypeId::Double),
            Kind::Timestamp => LogicalTypeHandle::from(LogicalTypeId::Timestamp),
            Kind::DoubleMap => LogicalTypeHandle::map(
                &LogicalTypeHandle::from(LogicalTypeId::Varchar),
                &LogicalTypeHandle::from(LogicalTypeId::Double),
            ),
        }
    }
}

/// Declares named parameters for `VTab::named_parameters`.
pub fn declare(params: &[(&str, Kind)]) -> Option<Vec<(String, LogicalTypeHandle)>> {
    Some(params.iter().map(|(name, kind)| (name.to_string(), kind.handle())).collect())
}

/// Declares positional parameters for `VTab::parameters`.
pub fn declare_positional(params: &[Kind]) -> Option<Vec<LogicalTypeHandle>> {
    Some(params.iter().map(|kind| kind.handle()).collect())
}

/// Named parameter as given, `None` when absent; an explicit NULL is an error.
fn named(bind: &BindInfo, name: &str) -> CallResult<Option<duckdb::vtab::Value>> {
    match bind.get_named_parameter(name) {
        Some(value) if value.is_null() => Err(fail(format!("{name} must not be NULL"))),
        other => Ok(other),
    }
}

/// A VARCHAR parameter.
pub fn text(bind: &BindInfo, name: &str) -> CallResult<Option<String>> {
    Ok(named(bind, name)?.map(|v| v.to_string()))
}

/// A BIGINT parameter checked against an inclusive range.
pub fn integer(bind: &BindInfo, name: &str, min: i64, max: i64) -> CallResult<Option<i64>> {
    let Some(value) = named(bind, name)? else { return Ok(None) };
    let value = value.to_int64();
    if value < min || value > max {
        return Err(fail(format!("{name} must be between {min} and {max}, got {value}")));
    }
    Ok(Some(value))
}

/// A DOUBLE parameter checked against an inclusive range (NaN is refused).
pub fn double(bind: &BindInfo, name: &str, min: f64, max: f64) -> CallResult<Option<f64>> {
    let Some(value) = named(bind, name)? else { return Ok(None) };
    let value = value.to_double();
    if !(min..=max).contains(&value) {
        return Err(fail(format!("{name} must be between {min} and {max}, got {value}")));
    }
    Ok(Some(value))
}

/// A TIMESTAMP parameter.
pub fn timestamp(bind: &BindInfo, name: &str) -> CallResult<Option<NaiveDateTime>> {
    let Some(value) = named(bind, name)? else { return Ok(None) };
    let text = value.to_string();
    NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S%.f")
        .map(Some)
        .map_err(|_| fail(format!("{name} must be a timestamp, got {text}")))
}

/// A DATE parameter.
pub fn date(bind: &BindInfo, name: &str) -> CallResult<Option<NaiveDate>> {
    let Some(value) = named(bind, name)? else { return Ok(None) };
    let text = value.to_string();
    NaiveDate::parse_from_str(&text, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| fail(format!("{name} must be a date between 0001-01-01 and 9999-12-31, got {text}")))
}

/// A VARCHAR[] parameter; NULL or empty entries are errors.
pub fn text_list(bind: &BindInfo, name: &str) -> CallResult<Vec<String>> {
    let Some(value) = named(bind, name)? else { return Ok(Vec::new()) };
    let items = value.to_list().unwrap_or_default();
    items
        .iter()
        .map(|item| {
            if item.is_null() || item.to_string().is_empty() {
                Err(fail(format!("{name} must not contain NULL or empty names")))
            } else {
                Ok(item.to_string())
            }
        })
        .collect()
}

/// A MAP(VARCHAR, DOUBLE) parameter, e.g. `MAP {'sessions': 0.05}`. The C API offers no map
/// accessors through duckdb-rs's `Value`, so this parses DuckDB's own rendering, `{k=v, ...}`,
/// and refuses keys it could not read back unambiguously.
pub fn double_map(bind: &BindInfo, name: &str) -> CallResult<Vec<(String, f64)>> {
    let Some(value) = named(bind, name)? else { return Ok(Vec::new()) };
    let text = value.to_string();
    let inner = text.strip_prefix('{').and_then(|t| t.strip_suffix('}')).unwrap_or_default();
    if inner.trim().is_empty() {
        return Ok(Vec::new());
    }
    inner
        .split(", ")
        .map(|pair| {
            let (key, number) =
                pair.rsplit_once('=').ok_or_else(|| fail(format!("{name}: cannot read entry '{pair}'")))?;
            if key.is_empty() || key.contains(['=', ',', '{', '}']) {
                return Err(fail(format!("{name}: names must be plain KPI names, got '{key}'")));
            }
            let number =
                number.parse::<f64>().map_err(|_| fail(format!("{name}: '{key}' needs a number, got '{number}'")))?;
            Ok((key.to_string(), number))
        })
        .collect()
}
