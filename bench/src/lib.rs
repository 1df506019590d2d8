//! Benchmark harnesses. Tests check correctness on small data; these measure quality and
//! speed on real data sets, from `shared/data` (never copied into the repository).

pub mod corpus;
pub mod nab;
