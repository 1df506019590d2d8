//! The engine's error type: one structured variant per kind of failure, so adapters can map
//! them to messages or codes without parsing strings.

use thiserror::Error;

/// Everything the engine can refuse or fail at.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum EngineError {
    /// A parameter is outside its allowed range or set.
    #[error("{name} must be {expected}, got {got}")]
    InvalidParameter {
        /// Parameter name as the user wrote it (e.g. `horizon`).
        name: &'static str,
        /// What is allowed, in words (e.g. `between 1 and 366`).
        expected: String,
        /// The offending value, rendered.
        got: String,
    },
    /// Settings that do not go together, or a combination that is incomplete.
    #[error("{reason}")]
    InvalidSettings {
        /// What to change, in words.
        reason: &'static str,
    },
    /// Timestamps must be strictly increasing after aggregation.
    #[error("timestamps must be strictly increasing; position {position} is not after the previous one")]
    UnsortedTimestamps {
        /// Zero-based index of the first out-of-order timestamp.
        position: usize,
    },
    /// Nothing to work on.
    #[error("{what} is empty")]
    EmptyInput {
        /// What was empty.
        what: &'static str,
    },
    /// A model could not be fitted to the data.
    #[error("model {model} could not be fitted: {reason}")]
    ModelFailed {
        /// Model name.
        model: &'static str,
        /// Why.
        reason: String,
    },
    /// Timestamps spread over far more grid steps than there are points.
    #[error(
        "the series spans {steps} steps of {} but has {points} points (at most {allowed} steps): \
         a stray timestamp far from the others, or data to aggregate to a coarser grain",
        step_text(*step)
    )]
    SparseGrid {
        /// Points in the series.
        points: usize,
        /// Steps of the sampling grid from the first to the last point.
        steps: u128,
        /// The sampling step, microseconds.
        step: i64,
        /// The most steps allowed for this many points.
        allowed: u64,
    },
    /// Every value is NULL or not finite.
    #[error("no finite values: all {points} are NULL or NaN")]
    NoFiniteValues {
        /// Points in the series.
        points: usize,
    },
    /// Two inputs that must have equal lengths do not.
    #[error("{what}: lengths differ ({left} vs {right})")]
    LengthMismatch {
        /// Which inputs.
        what: &'static str,
        /// Length of the first input.
        left: usize,
        /// Length of the second input.
        right: usize,
    },
}

/// A step in microseconds in words: `1 day`, `5 minutes`, `250 microseconds`.
fn step_text(micros: i64) -> String {
    const UNITS: [(i64, &str); 6] = [
        (86_400_000_000, "day"),
        (3_600_000_000, "hour"),
        (60_000_000, "minute"),
        (1_000_000, "second"),
        (1_000, "millisecond"),
        (1, "microsecond"),
    ];
    let (size, unit) = UNITS.iter().copied().find(|(size, _)| micros % size == 0).unwrap_or((1, "microsecond"));
    let count = micros / size;
    format!("{count} {unit}{}", if count == 1 { "" } else { "s" })
}

/// Shorthand for engine results.
pub type Result<T> = std::result::Result<T, EngineError>;

/// Parses one of the names of `T` (trimmed, any case); the error names the parameter and
/// lists every name.
pub(crate) fn parse_name<T>(name: &str, parameter: &'static str) -> Result<T>
where
    T: std::str::FromStr + strum::VariantNames,
{
    name.trim().parse().map_err(|_| EngineError::InvalidParameter {
        name: parameter,
        expected: format!("one of {}", T::VARIANTS.join(", ")),
        got: format!("'{name}'"),
    })
}

#[cfg(test)]
mod tests {
    use crate::detect::{Direction, Method, Severity};
    use crate::forecast::Model;

    #[test]
    fn every_name_parses_back_to_its_variant_in_any_case_and_padding() {
        for &method in Method::ALL {
            assert_eq!(Method::parse(&format!(" {} ", method.name().to_uppercase())), Ok(method));
        }
        assert_eq!(Method::NAMES.len(), Method::ALL.len());
        assert_eq!(Method::IsolationForest.name(), "isolation_forest");
        for name in Model::NAMES {
            assert_eq!(Model::parse(name).map(Model::name), Ok(*name));
        }
        assert_eq!(Direction::parse("Up"), Ok(Direction::Up));
        assert_eq!(Severity::Critical.as_str(), "critical");
    }

    #[test]
    fn an_unknown_name_is_refused_with_every_name_listed() {
        let error = Model::parse("prophet").unwrap_err().to_string();
        assert_eq!(error, "model must be one of auto, seasonal_naive, ets, mstl, got 'prophet'");
        assert!(Method::parse("").unwrap_err().to_string().contains("auto, ensemble, seasonal_mad"));
    }
}
