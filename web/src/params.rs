//! Query parameters, validated before they reach SQL (and then only as bound parameters).

use crate::context::{Context, Kpi};
use crate::error::AppError;
use chrono::NaiveDate;
use serde::Deserialize;

/// Every parameter any tab reads, as sent. Empty strings count as absent (HTML forms send them).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Params {
    /// KPI key.
    pub kpi: Option<String>,
    /// Day of interest (`YYYY-MM-DD`).
    pub day: Option<String>,
    /// Day to compare against.
    pub compare: Option<String>,
    /// Replay day.
    pub as_of: Option<String>,
    /// Segment such as `channel=App & region=South`.
    pub segment: Option<String>,
    /// Dimension: `all`, `channel`, `region` or `cohort`.
    pub dimension: Option<String>,
    /// What-if lever, percent.
    pub sessions: Option<String>,
    /// What-if lever, percent.
    pub conversion_rate: Option<String>,
    /// What-if lever, percent.
    pub payment_success_rate: Option<String>,
    /// What-if lever, percent.
    pub aov: Option<String>,
}

/// The dimensions of the KPI tables.
pub const DIMENSIONS: [&str; 3] = ["channel", "region", "cohort"];
/// The levers of the revenue driver tree.
pub const LEVERS: [&str; 4] = ["sessions", "conversion_rate", "payment_success_rate", "aov"];

fn present(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl Params {
    /// The KPI (default: the first of the catalogue); unknown keys are refused.
    pub fn kpi<'a>(&self, context: &'a Context) -> Result<&'a Kpi, AppError> {
        match present(&self.kpi) {
            None => context.kpis.first().ok_or_else(|| AppError::unavailable("the database has no KPIs; run refresh")),
            Some(key) => context.kpis.iter().find(|k| k.key == key).ok_or_else(|| {
                let known: Vec<&str> = context.kpis.iter().map(|k| k.key.as_str()).collect();
                AppError::bad_request(format!("unknown KPI {key:?}; choose one of {}", known.join(", ")))
            }),
        }
    }

    /// A date parameter, which must lie within the data (or the forecast, with `slack` days).
    pub fn date(&self, name: &str, context: &Context) -> Result<Option<NaiveDate>, AppError> {
        let value = match name {
            "day" => &self.day,
            "compare" => &self.compare,
            "as_of" => &self.as_of,
            _ => return Ok(None),
        };
        let Some(text) = present(value) else { return Ok(None) };
        let day = NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| AppError::bad_request(format!("{name} must be a date like 2024-03-27, got {text:?}")))?;
        if day < context.data_from || day > context.data_to {
            return Err(AppError::bad_request(format!(
                "{name} {day} is outside the data ({} to {})",
                context.data_from, context.data_to
            )));
        }
        Ok(Some(day))
    }

    /// The dimension (default `channel`).
    pub fn dimension(&self) -> Result<&str, AppError> {
        match present(&self.dimension) {
            None => Ok("channel"),
            Some(d) if d == "all" || DIMENSIONS.contains(&d) => {
                Ok(DIMENSIONS.iter().find(|x| **x == d).unwrap_or(&"all"))
            }
            Some(d) => {
                Err(AppError::bad_request(format!("unknown dimension {d:?}; choose all, channel, region or cohort")))
            }
        }
    }

    /// A segment: `dimension=value` terms joined by ` & `, over known dimensions and plain values.
    pub fn segment(&self) -> Result<Option<String>, AppError> {
        let Some(text) = present(&self.segment) else { return Ok(None) };
        let valid_term = |term: &str| {
            term.split_once('=').is_some_and(|(dimension, value)| {
                DIMENSIONS.contains(&dimension)
                    && !value.is_empty()
                    && value.len() <= 64
                    && value.chars().all(|c| c.is_alphanumeric() || matches!(c, ' ' | '_' | '-' | '.'))
            })
        };
        if text.len() > 200 || !text.split(" & ").all(valid_term) {
            return Err(AppError::bad_request(format!(
                "segment must look like channel=App & region=South, got {text:?}"
            )));
        }
        Ok(Some(text.to_string()))
    }

    /// The what-if levers given, as relative changes (the form takes percent, -90 to +200).
    pub fn levers(&self) -> Result<Vec<(&'static str, f64)>, AppError> {
        let values = [&self.sessions, &self.conversion_rate, &self.payment_success_rate, &self.aov];
        let mut out = Vec::new();
        for (name, value) in LEVERS.iter().zip(values) {
            let Some(text) = present(value) else { continue };
            let percent: f64 =
                text.parse().ok().filter(|p: &f64| p.is_finite() && (-90.0..=200.0).contains(p)).ok_or_else(|| {
                    AppError::bad_request(format!("{name} must be a percent between -90 and 200, got {text:?}"))
                })?;
            out.push((*name, percent / 100.0));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_accept_terms_and_refuse_sql() {
        let p = |s: &str| Params { segment: Some(s.into()), ..Default::default() }.segment();
        assert_eq!(p("channel=App & region=South").unwrap().as_deref(), Some("channel=App & region=South"));
        assert!(p("channel=App' OR 1=1 --").is_err());
        assert!(p("country=FR").is_err());
        assert!(p("channel=").is_err());
        assert_eq!(p("  ").unwrap(), None);
    }

    #[test]
    fn levers_are_bounded_percents() {
        let p = Params { sessions: Some("10".into()), aov: Some("-5.5".into()), ..Default::default() };
        assert_eq!(p.levers().unwrap(), vec![("sessions", 0.1), ("aov", -0.055)]);
        let bad = Params { sessions: Some("1e9".into()), ..Default::default() };
        assert!(bad.levers().is_err());
        let nan = Params { aov: Some("NaN".into()), ..Default::default() };
        assert!(nan.levers().is_err());
    }

    #[test]
    fn dimension_defaults_to_channel() {
        assert_eq!(Params::default().dimension().unwrap(), "channel");
        assert!(Params { dimension: Some("1;DROP".into()), ..Default::default() }.dimension().is_err());
    }
}
