//! Training data: named oracle targets sampled on the fly, (N, D) `.npy` matrices, and image
//! datasets through `scoreprobe-data` (pixels mapped from [0, 1] to [−1, 1]).
//!
//! Batches are a pure function of (seed, step): targets draw from a per-step RNG; finite
//! datasets walk through one seeded permutation per epoch, so resuming needs no RNG state.

use crate::error::{NnError, Result};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use scoreprobe_core::distribution::{named_target, NAMED_TARGETS};
use scoreprobe_core::{GaussianMixture, Purpose, SeedStream};
pub use scoreprobe_data::DataTransform;
use serde::{Deserialize, Serialize};

/// Shape of one training example.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DataShape {
    Vector { dim: usize },
    Image { channels: usize, height: usize, width: usize },
}

impl DataShape {
    pub fn dim(&self) -> usize {
        match *self {
            DataShape::Vector { dim } => dim,
            DataShape::Image { channels, height, width } => channels * height * width,
        }
    }
}

enum Source {
    Target(GaussianMixture),
    /// Row-major (n, d) f32 data.
    Rows {
        data: Vec<f32>,
        n: usize,
    },
}

pub struct TrainData {
    pub name: String,
    pub shape: DataShape,
    /// How the stored data were transformed before training (stated in every sidecar).
    pub transform: DataTransform,
    source: Source,
    perm_cache: Vec<(u64, Vec<u32>)>,
}

impl TrainData {
    /// `name_or_path`: a named target (`ring8`, `grid25`), a `.npy` (N, D) matrix, or a dataset
    /// name or path understood by `scoreprobe_data::load_dataset`; `limit` keeps the first rows.
    pub fn load(name_or_path: &str, limit: Option<usize>) -> Result<Self> {
        if NAMED_TARGETS.contains(&name_or_path) {
            let gmm = named_target(name_or_path)?;
            return Ok(Self {
                name: name_or_path.to_string(),
                shape: DataShape::Vector { dim: gmm.dim() },
                transform: DataTransform::TargetSamples,
                source: Source::Target(gmm),
                perm_cache: vec![],
            });
        }
        if name_or_path.ends_with(".npy") {
            let m = scoreprobe_data::load_matrix(name_or_path)?;
            let n = limit.map_or(m.nrows(), |l| l.min(m.nrows()));
            if n == 0 || m.ncols() == 0 {
                return Err(NnError::invalid(
                    format!("training data {name_or_path}"),
                    format!("the data matrix is empty ({}x{} with limit {limit:?})", m.nrows(), m.ncols()),
                ));
            }
            let data: Vec<f32> =
                m.rows().into_iter().take(n).flat_map(|r| r.iter().map(|&v| v as f32).collect::<Vec<_>>()).collect();
            return Ok(Self {
                name: name_or_path.to_string(),
                shape: DataShape::Vector { dim: m.ncols() },
                transform: DataTransform::Identity,
                source: Source::Rows { data, n },
                perm_cache: vec![],
            });
        }
        let set = scoreprobe_data::load_dataset(name_or_path, limit)?;
        if set.is_empty() {
            return Err(NnError::invalid(format!("training data {name_or_path}"), "the dataset holds no image"));
        }
        let shape = DataShape::Image { channels: set.channels(), height: set.height(), width: set.width() };
        let n = set.len();
        let transform = DataTransform::PixelsToSymmetric;
        let data: Vec<f32> = set.images.as_standard_layout().iter().map(|&v| transform.apply(v)).collect();
        Ok(Self {
            name: name_or_path.to_string(),
            shape,
            transform,
            source: Source::Rows { data, n },
            perm_cache: vec![],
        })
    }

    /// In-memory rows (tests and library callers), no transform.
    pub fn from_rows(name: &str, data: Vec<f32>, shape: DataShape) -> Result<Self> {
        let d = shape.dim();
        if d == 0 || data.is_empty() || !data.len().is_multiple_of(d) {
            return Err(NnError::invalid(name, format!("{} values do not form rows of dimension {d}", data.len())));
        }
        let n = data.len() / d;
        Ok(Self {
            name: name.into(),
            shape,
            transform: DataTransform::Identity,
            source: Source::Rows { data, n },
            perm_cache: vec![],
        })
    }

    pub fn len(&self) -> Option<usize> {
        match &self.source {
            Source::Target(_) => None,
            Source::Rows { n, .. } => Some(*n),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// All rows of a finite data set as the networks see them (the transform applied), (n, d) in
    /// f64; `None` for a named target (sample it instead: it has an exact score).
    pub fn rows(&self) -> Option<ndarray::Array2<f64>> {
        match &self.source {
            Source::Target(_) => None,
            Source::Rows { data, n } => {
                let d = self.shape.dim();
                Some(ndarray::Array2::from_shape_fn((*n, d), |(i, j)| data[i * d + j] as f64))
            }
        }
    }

    /// The rows `idx` of a finite data set as the networks see them, (idx.len(), d) in f64 (a
    /// subset, where [`Self::rows`] of a large image set would need gigabytes); `None` for a named
    /// target. Indices must be below [`Self::len`].
    pub fn rows_at(&self, idx: &[usize]) -> Option<ndarray::Array2<f64>> {
        match &self.source {
            Source::Target(_) => None,
            Source::Rows { data, .. } => {
                let d = self.shape.dim();
                Some(ndarray::Array2::from_shape_fn((idx.len(), d), |(i, j)| data[idx[i] * d + j] as f64))
            }
        }
    }

    fn permutation(&mut self, seed: u64, epoch: u64, n: usize) -> &[u32] {
        if let Some(pos) = self.perm_cache.iter().position(|(e, _)| *e == epoch) {
            return &self.perm_cache[pos].1;
        }
        let mut perm: Vec<u32> = (0..n as u32).collect();
        perm.shuffle(&mut SeedStream::new(seed).rng(Purpose::TrainEpoch(epoch)));
        if self.perm_cache.len() >= 2 {
            self.perm_cache.remove(0);
        }
        self.perm_cache.push((epoch, perm));
        &self.perm_cache.last().expect("just pushed").1
    }

    /// The clean batch x₀ of optimiser step `step` (0-based), row-major (batch, d).
    pub fn batch(&mut self, seed: u64, step: u64, batch: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
        let d = self.shape.dim();
        match &self.source {
            Source::Target(g) => g.sample(batch, rng).iter().map(|&v| v as f32).collect(),
            Source::Rows { n, .. } => {
                let n = *n;
                let mut out = Vec::with_capacity(batch * d);
                let start = step * batch as u64;
                for i in 0..batch as u64 {
                    let pos = start + i;
                    let (epoch, within) = (pos / n as u64, (pos % n as u64) as usize);
                    let idx = self.permutation(seed, epoch, n)[within] as usize;
                    let Source::Rows { data, .. } = &self.source else { unreachable!() };
                    out.extend_from_slice(&data[idx * d..(idx + 1) * d]);
                }
                out
            }
        }
    }
}
