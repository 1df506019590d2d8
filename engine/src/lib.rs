//! kpiscope's analytics core: detection, seasonality, RCA, forecasting, what-if and synthetic KPI
//! data with ground truth.
//!
//! Pure Rust, no DuckDB types: the extension, the viewer and the reports adapt these
//! functions to their own worlds. Timestamps are microseconds since the Unix epoch and dates
//! are days since the Unix epoch, the same encodings DuckDB uses, so adapters copy integers.

pub mod args;
pub mod changepoints;
pub mod detect;
pub mod error;
pub mod evaluate;
pub mod forecast;
pub mod frame;
pub mod rca;
pub mod seasonality;
pub mod series;
pub mod stats;
pub mod synth;
pub mod tree;
pub mod units;
pub mod whatif;

pub use error::EngineError;

/// Microseconds in one day, the unit conversion between DATE and TIMESTAMP values.
pub const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Days since 1970-01-01: DuckDB's DATE encoding, and the engine's day numbers.
pub fn epoch_days(date: chrono::NaiveDate) -> i32 {
    (date - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid literal date")).num_days() as i32
}
