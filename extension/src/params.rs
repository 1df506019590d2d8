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

/// The positional `source` argument: a table or view name, or a parenthesised query. A NULL
/// is refused here, before anything reads it as text (which would throw inside DuckDB).
pub fn source(bind: &BindInfo) -> CallResult<String> {
    let value = bind.get_parameter(0);
    if value.is_null() {
        return Err(fail(
            "source must not be NULL: name a table or view, or pass a parenthesised query such as '(SELECT * FROM t)'",
        ));
    }
    Ok(value.to_string())
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

/// A BIGINT parameter as given (the engine checks settings it owns, see `kpiscope_engine::args`).
pub fn integer(bind: &BindInfo, name: &str) -> CallResult<Option<i64>> {
    Ok(named(bind, name)?.map(|v| v.to_int64()))
}

/// A BIGINT parameter checked against an inclusive range.
pub fn integer_in(bind: &BindInfo, name: &'static str, min: i64, max: i64) -> CallResult<Option<i64>> {
    kpiscope_engine::args::integer(name, integer(bind, name)?, min, max).map_err(fail)
}

/// A DOUBLE parameter as given.
pub fn double(bind: &BindInfo, name: &str) -> CallResult<Option<f64>> {
    Ok(named(bind, name)?.map(|v| v.to_double()))
}

/// Settings read by name, from a table function's named parameters or from an in-query
/// function's options struct, so both forms share one reading of each function's settings.
pub trait Named {
    /// A text setting; `None` when absent.
    fn text(&self, name: &str) -> CallResult<Option<String>>;
    /// An integer setting as given (the engine checks ranges).
    fn integer(&self, name: &str) -> CallResult<Option<i64>>;
    /// A number setting as given.
    fn double(&self, name: &str) -> CallResult<Option<f64>>;
}

impl Named for BindInfo {
    fn text(&self, name: &str) -> CallResult<Option<String>> {
        text(self, name)
    }
    fn integer(&self, name: &str) -> CallResult<Option<i64>> {
        integer(self, name)
    }
    fn double(&self, name: &str) -> CallResult<Option<f64>> {
        double(self, name)
    }
}

/// One value of an options struct: its text, or its number.
#[derive(Debug, Clone, PartialEq)]
pub enum Setting {
    /// A VARCHAR field.
    Text(String),
    /// A numeric field (any integer, decimal or floating type).
    Number(f64),
}

/// An in-query function's options, `{'sensitivity': 'high', 'period': 7}`, checked against
/// the names the function takes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options(pub Vec<(String, Setting)>);

impl Options {
    /// Refuses a name the function does not take, listing those it does.
    pub fn check(&self, allowed: &[&str]) -> CallResult<()> {
        match self.0.iter().find(|(name, _)| !allowed.contains(&name.as_str())) {
            Some((name, _)) => Err(fail(format!("unknown option '{name}'; the options are: {}", allowed.join(", ")))),
            None => Ok(()),
        }
    }

    fn get(&self, name: &str) -> Option<&Setting> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

impl Named for Options {
    fn text(&self, name: &str) -> CallResult<Option<String>> {
        match self.get(name) {
            None => Ok(None),
            Some(Setting::Text(t)) => Ok(Some(t.clone())),
            Some(Setting::Number(_)) => Err(fail(format!("option {name} must be text"))),
        }
    }
    fn integer(&self, name: &str) -> CallResult<Option<i64>> {
        match self.get(name) {
            None => Ok(None),
            Some(Setting::Number(v)) if v.fract() == 0.0 && v.abs() < 9.0e15 => Ok(Some(*v as i64)),
            Some(Setting::Number(v)) => Err(fail(format!("option {name} must be a whole number, got {v}"))),
            Some(Setting::Text(t)) => Err(fail(format!("option {name} must be a whole number, got '{t}'"))),
        }
    }
    fn double(&self, name: &str) -> CallResult<Option<f64>> {
        match self.get(name) {
            None => Ok(None),
            Some(Setting::Number(v)) => Ok(Some(*v)),
            Some(Setting::Text(_)) => Err(fail(format!("option {name} must be a number"))),
        }
    }
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
/// accessors through duckdb-rs's `Value`, so this reads DuckDB's own rendering of the map.
pub fn double_map(bind: &BindInfo, name: &str) -> CallResult<Vec<(String, f64)>> {
    let Some(value) = named(bind, name)? else { return Ok(Vec::new()) };
    let text = value.to_string();
    let pairs = parse_map(&text).ok_or_else(|| fail(format!("{name}: cannot read the map {text}")))?;
    pairs
        .into_iter()
        .map(|(key, number)| match number.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok((key, v)),
            _ => Err(fail(format!("{name}: '{key}' needs a finite number, got {number}"))),
        })
        .collect()
}

/// Splits DuckDB's rendering of a map, `{a=1.5, 'b, c'=-2.0, 'it\'s'=4.0}`, into keys and value
/// texts. DuckDB quotes a key that holds `,`, `=`, braces, quotes or edge spaces, escaping `'`
/// and `\` with a backslash; other keys are bare. `None` when the text is not such a rendering.
fn parse_map(text: &str) -> Option<Vec<(String, String)>> {
    let mut rest = text.strip_prefix('{')?.strip_suffix('}')?;
    let mut pairs = Vec::new();
    while !rest.is_empty() {
        let key = if let Some(quoted) = rest.strip_prefix('\'') {
            let mut key = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                match chars.next()? {
                    (_, '\\') => key.push(chars.next()?.1),
                    (i, '\'') => break i,
                    (_, c) => key.push(c),
                }
            };
            rest = &quoted[end + 1..];
            key
        } else {
            let end = rest.find('=')?;
            let key = rest[..end].to_string();
            rest = &rest[end..];
            key
        };
        rest = rest.strip_prefix('=')?;
        let end = rest.find(", ").unwrap_or(rest.len());
        pairs.push((key, rest[..end].to_string()));
        rest = rest[end..].strip_prefix(", ").unwrap_or(&rest[end..]);
    }
    Some(pairs)
}

#[cfg(test)]
mod tests {
    use super::parse_map;

    #[test]
    fn map_keys_with_separators_quotes_and_spaces_are_read_back_exactly() {
        let pairs = parse_map(r"{a=1.5, 'b, c'=-2.0, 'd=e'=3.0, 'it\'s'=4.0, 'q\\'=5.0, é ü=6.0, ''=7.0}").unwrap();
        let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "b, c", "d=e", "it's", "q\\", "é ü", ""]);
        assert_eq!(pairs[1].1, "-2.0");
        assert_eq!(parse_map("{}"), Some(vec![]));
        assert_eq!(parse_map("{a=1, 'unterminated=2}"), None);
        assert_eq!(parse_map("[1, 2]"), None);
    }
}
