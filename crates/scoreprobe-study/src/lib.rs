//! scoreprobe-study: runs every applicable metric on a set of models and reports how the cheap
//! signals rank the models against the expensive references (SPEC §9). It adds no numerics of its
//! own beyond aggregation: every value comes from the library crates.
//!
//! - [`metric`]: the typed registry ([`metric::MetricId`], one [`metric::StudyMetric`] per metric);
//! - [`runner`]: the study loop (cached, resumable; stop or keep going on failures);
//! - [`report`]: tables, correlations, the claims of SPEC §9, figures and `report.md`;
//! - [`error`]: [`error::StudyError`] and [`error::MetricError`].

pub mod cache;
pub mod context;
pub mod correlate;
pub mod details;
pub mod error;
pub mod id;
pub mod metric;
pub mod models;
pub mod plot;
pub mod record;
pub mod reference;
pub mod report;
pub mod runner;
pub mod settings;

pub use error::{MetricError, StudyError};
pub use metric::{MetricId, Role, StudyMetric};
pub use runner::{OnFailure, Study, StudyResults, StudySettings};
