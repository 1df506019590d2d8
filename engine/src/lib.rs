//! kpiscope's analytics core: anomaly detection and synthetic KPI data with ground truth.
//!
//! Pure Rust, no DuckDB types: the extension, the viewer and the reports adapt these
//! functions to their own worlds. Timestamps are microseconds since the Unix epoch and dates
//! are days since the Unix epoch, the same encodings DuckDB uses, so adapters copy integers.

pub mod detect;
pub mod error;
pub mod evaluate;
pub mod rca;
pub mod stats;
pub mod synth;

pub use error::EngineError;

/// Microseconds in one day, the unit conversion between DATE and TIMESTAMP values.
pub const MICROS_PER_DAY: i64 = 86_400_000_000;
