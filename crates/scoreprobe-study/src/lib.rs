//! scoreprobe-study: runs every applicable metric on a set of models and reports how the cheap
//! signals rank the models against the expensive references (SPEC §9). It adds no numerics of its
//! own beyond aggregation: every value comes from the library crates.

pub mod cache;
pub mod correlate;
pub mod models;
pub mod plot;
pub mod reference;
pub mod report;
pub mod runner;
