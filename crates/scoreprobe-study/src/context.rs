//! What a metric sees of one model: the model, what it is measured against, the study's settings,
//! and the generated samples, drawn once and shared by the sample-based metrics.

use crate::error::MetricError;
use crate::id::MetricId;
use crate::reference::DataReference;
use crate::settings::StudySettings;
use ndarray::Array2;
use scoreprobe_core::model::synthetic::SyntheticModel;
use scoreprobe_core::sampler::{prior_init, sample_with_observer, SamplerConfig};
use scoreprobe_core::{GaussianMixture, Schedule, ScoreModel};
use scoreprobe_features::FeatureExtractor;
use std::ops::ControlFlow;
use std::time::Instant;

/// What the models are measured against.
#[derive(Clone, Copy)]
pub enum Truth<'a> {
    /// A target with an exact score.
    Target(&'a GaussianMixture),
    /// A data set (no exact score), with its feature extractor when a reference metric needs one.
    Data(&'a DataCtx<'a>),
}

/// A data-set reference with its feature extractor (built when a reference metric is asked for).
pub struct DataCtx<'a> {
    pub data: &'a DataReference,
    pub extractor: Option<Box<dyn FeatureExtractor>>,
}

/// Generated samples of one model with their cost.
pub struct Samples {
    pub x: Array2<f64>,
    /// Score evaluations per sample.
    pub nfe: usize,
    pub seconds: f64,
}

/// One model, ready to be measured.
pub struct ModelCtx<'a> {
    pub model: &'a dyn ScoreModel,
    /// The synthetic model, when the model is one (its exact error field and law are known).
    pub synthetic: Option<&'a SyntheticModel>,
    pub truth: Truth<'a>,
    pub schedule: &'a Schedule,
    pub settings: &'a StudySettings,
    /// The reference sample of fd/kid/w2, in their feature space (target samples: coordinates).
    pub reference: &'a Array2<f64>,
    samples: Option<Samples>,
    /// The requested metrics still to compute on this model (the runner's; empty elsewhere).
    pending: Vec<MetricId>,
}

impl<'a> ModelCtx<'a> {
    pub fn new(
        model: &'a dyn ScoreModel,
        synthetic: Option<&'a SyntheticModel>,
        truth: Truth<'a>,
        schedule: &'a Schedule,
        settings: &'a StudySettings,
        reference: &'a Array2<f64>,
    ) -> Self {
        Self { model, synthetic, truth, schedule, settings, reference, samples: None, pending: vec![] }
    }

    /// Tells the metrics which requested ones are still to compute on this model, so that one
    /// computation can serve several (the projection form's shared pass).
    pub fn set_pending(&mut self, pending: Vec<MetricId>) {
        self.pending = pending;
    }

    /// The requested metrics still to compute on this model, in the order asked.
    pub fn pending(&self) -> &[MetricId] {
        &self.pending
    }

    /// Dimension of the model's rows.
    pub fn dim(&self) -> usize {
        self.model.dim()
    }

    /// The exact-score target, if the reference has one.
    pub fn target(&self) -> Option<&'a GaussianMixture> {
        match self.truth {
            Truth::Target(t) => Some(t),
            Truth::Data(_) => None,
        }
    }

    /// `n` samples of the model (the study's sampler, steps and seed), drawn on first use.
    pub fn samples(&mut self) -> Result<&Samples, MetricError> {
        if self.samples.is_none() {
            let s = self.settings;
            let start = Instant::now();
            let cfg = SamplerConfig::new(s.sampler, s.steps, s.t_min, s.seed);
            let x0 = prior_init(s.n, self.dim(), s.seed);
            let out = sample_with_observer(self.model, self.schedule, &cfg, x0, &mut |_| ControlFlow::Continue(()))
                .map_err(MetricError::Sampling)?;
            if out.x.iter().any(|v| !v.is_finite()) {
                return Err(MetricError::NonFiniteSamples);
            }
            self.samples = Some(Samples { x: out.x, nfe: out.nfe, seconds: start.elapsed().as_secs_f64() });
        }
        Ok(self.samples.as_ref().expect("just set"))
    }
}
