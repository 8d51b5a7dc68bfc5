//! The options of `metrics` (the CLI's `scoreprobe metrics`, Python's `metrics`), declared once
//! for clap and serde like every run's options (see `scoreprobe_core::options`); the defaults are
//! clap's.

use scoreprobe_core::options::clap_defaults;
use scoreprobe_core::shard::ShardOptions;
use serde::{Deserialize, Serialize};

/// One reference metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Metric {
    /// Fréchet distance between Gaussian fits (a squared quantity; FID on Inception features).
    Fd,
    /// Kernel Inception Distance: unbiased MMD², cubic kernel, mean and std over subsets.
    Kid,
    /// Exact W2 by optimal assignment (equal sizes; unequal sets are subsampled to the smaller).
    W2,
    /// Debiased Sinkhorn divergence, reported as its square root.
    W2Sinkhorn,
    /// Sliced W2 over random directions.
    W2Sliced,
    /// W2 between the Gaussian fits (√FD).
    Bures,
    /// Precision, recall (k = 3), density, coverage (k = 5).
    Prdc,
}

impl Metric {
    /// The metric's name as `--metric` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Fd => "fd",
            Metric::Kid => "kid",
            Metric::W2 => "w2",
            Metric::W2Sinkhorn => "w2-sinkhorn",
            Metric::W2Sliced => "w2-sliced",
            Metric::Bures => "bures",
            Metric::Prdc => "prdc",
        }
    }
}

/// The options of a `metrics` run between two sets.
// No `deny_unknown_fields`: serde refuses it together with `flatten` (the shard options).
#[derive(Clone, Debug, PartialEq, clap::Args, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricsOptions {
    /// Comma-separated metrics: fd,kid,w2,w2-sinkhorn,w2-sliced,bures,prdc.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "fd")]
    pub metric: Vec<Metric>,
    /// Use at most N points of each set (seeded subsample without replacement). Default: all.
    #[arg(long)]
    pub n: Option<usize>,
    /// Seed for subsampling, KID subsets and sliced directions (same seed, same numbers).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Feature space of the metrics: identity (points as given; images as flattened pixels in [0, 1]),
    /// mnist-cnn (256-d), mobilenet (1024-d) or inception:PATH (a user-supplied Inception-v3 ONNX,
    /// 2048-d). Model feature spaces read images: folders, IDX files, .npy image arrays.
    #[arg(long, default_value = "identity")]
    pub features: String,
    /// Sinkhorn ε in units of |x-y|² (default: 0.05 × mean cost between the sets).
    #[arg(long)]
    pub epsilon: Option<f64>,
    /// KID: number of subsets.
    #[arg(long, default_value_t = 100)]
    pub kid_subsets: usize,
    /// KID: points per subset (capped at the smaller set).
    #[arg(long, default_value_t = 1000)]
    pub kid_subset_size: usize,
    /// Sliced W2: number of random directions.
    #[arg(long, default_value_t = 256)]
    pub projections: usize,
    #[command(flatten)]
    #[serde(flatten)]
    pub shard: ShardOptions,
}

impl Default for MetricsOptions {
    fn default() -> Self {
        clap_defaults()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scoreprobe_core::options::option_specs;

    #[test]
    fn options_are_declared_once_with_clap_s_defaults() {
        let o = MetricsOptions::default();
        assert_eq!(
            (o.metric.as_slice(), o.features.as_str(), o.kid_subsets),
            ([Metric::Fd].as_slice(), "identity", 100)
        );
        let specs = option_specs::<MetricsOptions>().unwrap();
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names.len(), 10);
        assert!(names.contains(&"shard") && names.contains(&"state_out") && names.contains(&"kid_subset_size"));
        assert_eq!(specs[0].default, serde_json::json!(["fd"]));
        let o: MetricsOptions = serde_json::from_str(r#"{"metric": ["fd", "w2-sliced"], "shard": [1, 4]}"#).unwrap();
        assert_eq!((o.metric, o.shard.shard.unwrap().to_string()), (vec![Metric::Fd, Metric::W2Sliced], "1/4".into()));
        assert!(serde_json::from_str::<MetricsOptions>(r#"{"metric": ["fid"]}"#)
            .unwrap_err()
            .to_string()
            .contains("fid"));
    }
}
