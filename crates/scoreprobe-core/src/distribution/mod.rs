//! Targets with exact time-t scores and log-densities (SPEC §3).
//!
//! A Gaussian is a one-component mixture, so one type, [`GaussianMixture`], serves every oracle;
//! [`GaussianMixture::marginal`] precomputes the time-t components once per time so that scores
//! and log-densities of whole batches are a few matrix products.

mod mixture;
mod named;

pub use mixture::{matrix_from_rows, standard_normal, GaussianMixture, Marginal};
pub use named::{named_target, NAMED_TARGETS};

use crate::error::CoreError;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TargetSpec {
    Gaussian { mean: Vec<f64>, cov: Vec<Vec<f64>> },
    Gmm { weights: Vec<f64>, means: Vec<Vec<f64>>, covs: Vec<Vec<Vec<f64>>> },
    Named { name: String },
}

impl TargetSpec {
    pub fn build(&self) -> Result<GaussianMixture, CoreError> {
        match self {
            TargetSpec::Gaussian { mean, cov } => {
                GaussianMixture::from_vecs(&[1.0], std::slice::from_ref(mean), std::slice::from_ref(cov), "target")
            }
            TargetSpec::Gmm { weights, means, covs } => GaussianMixture::from_vecs(weights, means, covs, "target"),
            TargetSpec::Named { name } => named_target(name),
        }
    }
}
