//! The error type of scoreprobe-siem.

use scoreprobe_core::{CoreError, ModelError};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SiemError {
    /// An input or option outside its domain; `input` names it.
    #[error("{input}: {reason}")]
    Invalid { input: String, reason: String },
    /// A run option outside its domain (each front end spells its field its own way).
    #[error("{0}")]
    Option(#[from] scoreprobe_core::options::OptionError),
    /// A name that is not one of the known ones.
    #[error("unknown {what} '{name}'; choose one of {}", .known.join(", "))]
    Unknown { what: &'static str, name: String, known: Vec<&'static str> },
    /// The sampler (or another routine of scoreprobe-core) failed; a score model's failure is
    /// [`CoreError::Sampling`], naming the step and keeping the [`ModelError`] as its source.
    #[error("{0}")]
    Core(#[from] CoreError),
    /// The model under test failed at time `t` outside the sampler (e.g. while an error source
    /// drew its training batches).
    #[error("{field}: score model at t = {t}: {source}")]
    Model {
        field: &'static str,
        t: f64,
        #[source]
        source: ModelError,
    },
    /// An error source's network failed (fit or evaluation); `field` names the source.
    #[cfg(feature = "nn")]
    #[error("{field}: {source}")]
    Network {
        field: &'static str,
        // boxed: NnError is large, and every SiemError would carry its size
        #[source]
        source: Box<scoreprobe_nn::NnError>,
    },
    /// An error source returned an array of the wrong shape.
    #[error("error field '{field}' returned shape {got:?}, expected {expected:?}")]
    Shape { field: &'static str, got: (usize, usize), expected: (usize, usize) },
    /// An error source returned NaN or ±inf.
    #[error("error field '{field}' is not finite at t = {t} (trajectory {row})")]
    NonFiniteField { field: &'static str, t: f64, row: usize },
    /// The `oracle` error field on a model or target without an exact score; `what` names them.
    #[error(
        "error field 'oracle' needs the exact score ∇log p_t, and {what} has none; \
         use --error-field classifier (or critic) for targets known only through samples"
    )]
    NoExactScore { what: String },
    /// A bandwidth rule that gave no usable bandwidth.
    #[error(
        "bandwidth: the {rule} rule gave h = {h} for centre {center} (states coincide with the centre); \
         pass a bandwidth > 0"
    )]
    Bandwidth { rule: &'static str, h: f64, center: usize },
    /// Projection runs asked to share one pass whose draws differ: config `index` differs from
    /// the first config in `field` (the pass draws and evaluates once per time for all of them).
    #[error(
        "projection configs cannot share a pass: config {index} differs from config 0 in '{field}' \
         (a shared pass needs the same dimension, steps, t_min, n and seed)"
    )]
    Unshared { field: &'static str, index: usize },
    /// A state file that cannot be read, or states that do not merge (the error names the file).
    #[error("{0}")]
    State(#[from] scoreprobe_core::state::StateError),
}

impl SiemError {
    /// An input outside its domain.
    pub fn invalid(input: impl Into<String>, reason: impl Into<String>) -> Self {
        SiemError::Invalid { input: input.into(), reason: reason.into() }
    }

    /// A network error of the source `field` (for `map_err`).
    #[cfg(feature = "nn")]
    pub(crate) fn network<E: Into<scoreprobe_nn::NnError>>(field: &'static str) -> impl Fn(E) -> SiemError {
        move |e| SiemError::Network { field, source: Box::new(e.into()) }
    }
}

pub type Result<T, E = SiemError> = std::result::Result<T, E>;
