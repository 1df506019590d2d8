//! Checking the settings a front passes: every front (SQL, Python, Spark) fills a function's
//! `*Arguments` struct with what the user gave, and the engine checks ranges and applies the
//! defaults here, so each front refuses the same values with the same words.

use crate::error::{EngineError, Result};

/// An integer setting in `min..=max`, `None` when not given.
pub fn integer(name: &'static str, value: Option<i64>, min: i64, max: i64) -> Result<Option<i64>> {
    match value {
        Some(v) if v < min || v > max => Err(EngineError::InvalidParameter {
            name,
            expected: format!("between {min} and {max}"),
            got: v.to_string(),
        }),
        other => Ok(other),
    }
}

/// A number setting in `min..=max` (NaN refused), `None` when not given.
pub fn number(name: &'static str, value: Option<f64>, min: f64, max: f64) -> Result<Option<f64>> {
    match value {
        Some(v) if !(min..=max).contains(&v) => Err(EngineError::InvalidParameter {
            name,
            expected: format!("between {min} and {max}"),
            got: v.to_string(),
        }),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_settings_say_the_range_and_the_value() {
        assert_eq!(
            integer("horizon", Some(0), 1, 366).unwrap_err().to_string(),
            "horizon must be between 1 and 366, got 0"
        );
        assert_eq!(integer("horizon", None, 1, 366), Ok(None));
        assert!(number("level", Some(f64::NAN), 0.01, 0.999).is_err());
        assert_eq!(number("level", Some(0.5), 0.01, 0.999), Ok(Some(0.5)));
    }
}
