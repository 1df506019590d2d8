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

/// Shorthand for engine results.
pub type Result<T> = std::result::Result<T, EngineError>;
