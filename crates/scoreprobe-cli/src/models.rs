//! Resolves a problem spec's model: synthetic models from the spec, trained networks from checkpoints.

use anyhow::{anyhow, Result};
use scoreprobe_core::{Schedule, ScoreModel};
use std::path::Path;

pub use scoreprobe_nn::{resolve, ResolvedProblem as Resolved};

/// Loads a checkpoint (`ckpt-<step>.safetensors` with its JSON sidecar), EMA weights.
pub fn load_checkpoint(path: &Path) -> Result<Box<dyn ScoreModel>> {
    Ok(scoreprobe_nn::load_checkpoint(path)?)
}

/// `--checkpoint PATH --data DATA`: a trained network measured against a data set whose score is
/// unknown (images, `.npy`), instead of a spec with an exact-score target.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct DataArgs {
    /// A checkpoint (ckpt-<step>.safetensors) to measure against --data, instead of --spec.
    #[arg(long, requires = "data", conflicts_with = "spec")]
    pub checkpoint: Option<std::path::PathBuf>,
    /// The data of --checkpoint: mnist | fashion-mnist | cifar10-test | PATH.npy | image folder | IDX
    /// file, transformed exactly as for training (images: pixels mapped to [−1, 1]).
    #[arg(long, requires = "checkpoint")]
    pub data: Option<String>,
    /// Keep only the first N items of --data.
    #[arg(long)]
    pub data_limit: Option<usize>,
}

/// A trained network with its schedule and the rows x₀ of its data set.
pub struct OnData {
    pub model: Box<dyn ScoreModel>,
    pub schedule: Schedule,
    pub x0: ndarray::Array2<f64>,
    pub label: String,
}

impl DataArgs {
    /// Loads the checkpoint and the data when `--checkpoint` is given (None otherwise).
    pub fn load(&self) -> Result<Option<OnData>> {
        let (Some(ckpt), Some(data)) = (&self.checkpoint, &self.data) else { return Ok(None) };
        let (net, sidecar) = scoreprobe_nn::checkpoint::load_score_model(ckpt, &Default::default())?;
        let schedule = Schedule::from_spec(&sidecar.schedule).map_err(|e| anyhow!("{}: {e}", ckpt.display()))?;
        let set = scoreprobe_nn::TrainData::load(data, self.data_limit)?;
        let x0 = set.rows().ok_or_else(|| {
            anyhow!("--data {data}: a named target has an exact score; use --spec with {{\"kind\": \"named\"}} instead")
        })?;
        let model: Box<dyn ScoreModel> = Box::new(net);
        if x0.ncols() != model.dim() {
            return Err(anyhow!(
                "--data {data}: rows of dimension {} but checkpoint {} has dimension {}",
                x0.ncols(),
                ckpt.display(),
                model.dim()
            ));
        }
        // images are mapped to [−1, 1] for training; raw rows (.npy, named targets) are not
        if set.transform.rescales() != sidecar.data_transform.rescales() {
            return Err(anyhow!(
                "--data {data} is transformed as '{}' but checkpoint {} was trained on data transformed as '{}'",
                set.transform,
                ckpt.display(),
                sidecar.data_transform
            ));
        }
        Ok(Some(OnData { model, schedule, x0, label: format!("{} on {data}", ckpt.display()) }))
    }
}
