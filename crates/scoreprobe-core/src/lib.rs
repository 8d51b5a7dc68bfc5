//! scoreprobe-core: the exact-oracle foundation of scoreprobe (SPEC §1–§4, §6 exact laws).
//!
//! schedule (VP / DDPM) → distribution (targets with exact p_t) → model (trait ScoreModel, synthetic errors)
//! → sampler (EM, ancestral, PF-ODE; windows; NFE) → exact (Gaussian moment ODEs).
//! Shared routines: [`seed`] (every derived seed), [`denoise`] (the draw x_t = α_t x₀ + σ_t ξ and
//! its target), [`stats`] (mean ± standard error), [`fsio`] (atomic writes), [`linalg`].

pub mod denoise;
pub mod distribution;
pub mod error;
pub mod exact;
pub mod family;
pub mod fsio;
pub mod linalg;
pub mod model;
pub mod option_error;
pub mod options;
pub mod sample_state;
pub mod sampler;
pub mod schedule;
pub mod seed;
pub mod shard;
pub mod simd;
pub mod spec;
pub mod state;
pub mod stats;
pub mod window;

pub use distribution::GaussianMixture;
pub use error::{CoreError, MatrixProblem};
pub use model::{ModelError, ScoreModel};
pub use options::{FrontEnd, OptionError};
pub use schedule::Schedule;
pub use seed::{Purpose, SeedStream};
pub use shard::{Shard, ShardOptions};
