//! Query parameters, validated against the catalogue before they reach SQL (and then only as
//! bound parameters).

use crate::context::{Context, Kpi};
use crate::error::AppError;
use chrono::NaiveDateTime;
use std::collections::BTreeMap;

/// Every parameter as sent. Empty strings count as absent (HTML forms send them). What-if
/// levers come as `lever_<name>`.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(transparent)]
pub struct Params(pub BTreeMap<String, String>);

/// The widest change a lever may take, in percent (and the least: -90).
const MAX_LEVER: f64 = 200.0;

impl Params {
    /// The parameter `name`, trimmed, unless empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// The KPI (default: the first of the catalogue); unknown keys are refused.
    pub fn kpi<'a>(&self, context: &'a Context) -> Result<&'a Kpi, AppError> {
        match self.get("kpi") {
            None => context.kpis.first().ok_or_else(|| AppError::unavailable("the database has no KPIs; run refresh")),
            Some(key) => context.kpi(key).ok_or_else(|| {
                let known: Vec<&str> = context.kpis.iter().map(|k| k.key.as_str()).collect();
                AppError::bad_request(format!("unknown KPI {key:?}; choose one of {}", known.join(", ")))
            }),
        }
    }

    /// A time parameter (`day`, `compare`, `as_of`), which must lie within the data.
    pub fn time(&self, name: &str, context: &Context) -> Result<Option<NaiveDateTime>, AppError> {
        let Some(text) = self.get(name) else { return Ok(None) };
        let t = context.parse(text).ok_or_else(|| {
            AppError::bad_request(format!("{name} must be a date like 2024-03-27 (or 2024-03-27T13:00), got {text:?}"))
        })?;
        if t < context.data_from || t > context.data_to {
            return Err(AppError::bad_request(format!(
                "{name} {} is outside the data ({} to {})",
                context.show(t),
                context.show(context.data_from),
                context.show(context.data_to)
            )));
        }
        Ok(Some(t))
    }

    /// The dimension (default: the first of the catalogue, or `all` without dimensions).
    pub fn dimension<'a>(&'a self, context: &'a Context) -> Result<&'a str, AppError> {
        match self.get("dimension") {
            None => Ok(context.dimensions.first().map_or("all", String::as_str)),
            Some("all") => Ok("all"),
            Some(d) => context.dimensions.iter().find(|x| *x == d).map(String::as_str).ok_or_else(|| {
                let mut known = vec!["all".to_string()];
                known.extend(context.dimensions.iter().cloned());
                AppError::bad_request(format!("unknown dimension {d:?}; choose one of {}", known.join(", ")))
            }),
        }
    }

    /// A segment: `dimension=value` terms joined by ` & `, over the catalogue's dimensions.
    pub fn segment(&self, context: &Context) -> Result<Option<String>, AppError> {
        let Some(text) = self.get("segment") else { return Ok(None) };
        let valid_term = |term: &str| {
            term.split_once('=').is_some_and(|(dimension, value)| {
                context.dimensions.iter().any(|d| d == dimension)
                    && !value.is_empty()
                    && value.len() <= 200
                    && !value.contains(" & ")
                    && !value.chars().any(char::is_control)
            })
        };
        if text.len() > 1000 || !text.split(" & ").all(valid_term) {
            let example = context.dimensions.first().map_or("dimension".to_string(), |d| format!("{d}=value"));
            return Err(AppError::bad_request(format!("segment must look like {example} & ..., got {text:?}")));
        }
        Ok(Some(text.to_string()))
    }

    /// The what-if levers given (`lever_<name>`, percent from -90 to +200), as relative changes.
    pub fn levers(&self, context: &Context) -> Result<Vec<(String, f64)>, AppError> {
        let mut out = Vec::new();
        for lever in &context.levers {
            let Some(text) = self.get(&format!("lever_{}", lever.name)) else { continue };
            let percent: f64 =
                text.parse().ok().filter(|p: &f64| p.is_finite() && (-90.0..=MAX_LEVER).contains(p)).ok_or_else(
                    || {
                        AppError::bad_request(format!(
                            "{} must be a percent between -90 and {MAX_LEVER}, got {text:?}",
                            lever.name
                        ))
                    },
                )?;
            out.push((lever.name.clone(), percent / 100.0));
        }
        Ok(out)
    }
}
