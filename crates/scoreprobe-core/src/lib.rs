//! scoreprobe-core: the exact-oracle foundation of scoreprobe (SPEC §1–§4, §6 exact laws).
//!
//! schedule (VP / DDPM) → target (exact p_t) → model (trait ScoreModel, synthetic errors)
//! → sampler (EM, ancestral, PF-ODE; windows; NFE) → exact (Gaussian moment ODEs).

pub mod error;
pub mod exact;
pub mod fsio;
pub mod linalg;
pub mod model;
pub mod sampler;
pub mod schedule;
pub mod spec;
pub mod target;
pub mod window;

pub use error::{CoreError, MatrixProblem};
pub use model::{ModelError, ScoreModel};
pub use schedule::Schedule;
pub use target::GaussianMixture;
