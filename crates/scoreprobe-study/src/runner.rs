//! The study loop: for each model, every requested metric from the registry, cached per metric so
//! an interrupted study resumes where it stopped.
//!
//! Each metric ends in one of three ways: done (cached), not applicable (a typed
//! [`Reason`], listed in the report), or failed. A failure stops the study with an error naming
//! the model, the metric and the cause ([`OnFailure::Stop`]), or is recorded and shown as failed in
//! the report while the study goes on ([`OnFailure::KeepGoing`]). A model that cannot be loaded
//! fails every metric asked of it.

use crate::cache::{Cache, ModelResults};
use crate::context::{DataCtx, ModelCtx, Truth};
use crate::error::{chain, BoxError, StudyError};
use crate::metric::{MetricId, Outcome, Reason};
use crate::models::{ModelEntry, ModelSource};
use crate::reference::Reference;
pub use crate::settings::StudySettings;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ndarray::Array2;
use scoreprobe_core::model::pair_rotation::PairRotated;
use scoreprobe_core::model::synthetic::SyntheticModel;
use scoreprobe_core::spec::ProblemSpec;
use scoreprobe_core::{GaussianMixture, Purpose, Schedule, ScoreModel, SeedStream};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Loads a trained network from a checkpoint path (provided by the front end, so that this crate
/// does not depend on the network crate).
pub type CheckpointLoader<'a> = &'a dyn Fn(&Path) -> Result<Box<dyn ScoreModel>, BoxError>;

/// What a failed metric does to the study.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnFailure {
    /// Stop with the error (naming the model, the metric and the cause).
    #[default]
    Stop,
    /// Record the failure, show it in the report, and go on with the other metrics and models.
    KeepGoing,
}

pub struct Study<'a> {
    /// The reference: an exact-score target and schedule (a spec; its `model` field is
    /// ignored), or a data set.
    pub reference: Reference,
    pub models: Vec<ModelEntry>,
    pub metrics: Vec<MetricId>,
    pub settings: StudySettings,
    pub out: PathBuf,
    pub loader: CheckpointLoader<'a>,
    /// Show progress bars.
    pub progress: bool,
    pub on_failure: OnFailure,
}

/// A metric that does not apply to a model.
#[derive(Clone, Debug, PartialEq)]
pub struct NotApplicable {
    pub model: String,
    pub metric: MetricId,
    pub reason: Reason,
}

/// A metric that failed on a model (recorded with [`OnFailure::KeepGoing`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    pub model: String,
    pub metric: MetricId,
    /// The error and its causes, in one line.
    pub cause: String,
}

/// Results of every model, in the study's order.
#[derive(Default)]
pub struct StudyResults {
    pub rows: Vec<(ModelEntry, ModelResults)>,
    pub not_applicable: Vec<NotApplicable>,
    pub failed: Vec<Failure>,
}

impl StudyResults {
    pub fn failure(&self, model: &str, metric: MetricId) -> Option<&Failure> {
        self.failed.iter().find(|f| f.model == model && f.metric == metric)
    }
}

/// A model ready to be measured.
struct Loaded {
    model: Box<dyn ScoreModel>,
    synthetic: Option<SyntheticModel>,
}

/// The reference, built once: what the models are measured against and the reference sample of
/// the sample-based metrics.
struct Setup<'a> {
    against: Against<'a>,
    schedule: Schedule,
    dim: usize,
    reference: Array2<f64>,
}

/// The reference's owned part: an exact-score target, or a data set with its feature extractor.
enum Against<'a> {
    Target(GaussianMixture),
    Data(DataCtx<'a>),
}

impl Setup<'_> {
    fn truth(&self) -> Truth<'_> {
        match &self.against {
            Against::Target(t) => Truth::Target(t),
            Against::Data(d) => Truth::Data(d),
        }
    }
}

/// What happened to a group member before the loop reached it.
enum Verdict {
    NotApplicable(Reason),
    Failed(String),
}

impl Study<'_> {
    pub fn validate(&self) -> Result<(), StudyError> {
        crate::models::check_names(&self.models)?;
        if self.models.is_empty() {
            return Err(StudyError::NoModels);
        }
        if self.metrics.is_empty() {
            return Err(StudyError::NoMetrics);
        }
        if let Reference::Data { .. } = self.reference {
            if let Some(m) = self.models.iter().find(|m| matches!(m.source, ModelSource::Synthetic { .. })) {
                return Err(StudyError::SyntheticOnData { model: m.name.clone() });
            }
        }
        self.settings.validate()
    }

    /// A fingerprint of everything the cached values depend on.
    fn fingerprint(&self) -> String {
        match &self.reference {
            Reference::Target(spec) => {
                serde_json::to_string(&(&spec.target, &spec.schedule, &self.settings)).expect("serialisable")
            }
            Reference::Data { data, schedule } => {
                serde_json::to_string(&(data.fingerprint(), schedule, &self.settings)).expect("serialisable")
            }
        }
    }

    /// The requested metrics, each once, in the order given.
    fn requested(&self) -> Vec<MetricId> {
        let mut out: Vec<MetricId> = vec![];
        for m in &self.metrics {
            if !out.contains(m) {
                out.push(*m);
            }
        }
        out
    }

    fn setup(&self) -> Result<Setup<'_>, StudyError> {
        let s = &self.settings;
        let reference_err = |source| StudyError::Reference { reference: self.reference.name(), source };
        match &self.reference {
            Reference::Target(spec) => {
                let target = spec.target().map_err(reference_err)?;
                let schedule = spec.schedule().map_err(reference_err)?;
                let dim = target.dim();
                let mut rng = SeedStream::new(s.seed).rng(Purpose::ReferenceSubset);
                let reference = target.sample_marginal(s.n, &schedule, s.t_min, &mut rng);
                Ok(Setup { against: Against::Target(target), schedule, dim, reference })
            }
            Reference::Data { data, schedule } => {
                let schedule = Schedule::from_spec(schedule).map_err(reference_err)?;
                let needs_features =
                    self.metrics.iter().any(|m| matches!(m, MetricId::W2 | MetricId::Fd | MetricId::Kid));
                let extractor = if needs_features { Some(data.extractor()?) } else { None };
                // the reference sample of fd/kid/w2, in the feature space
                let reference = match &extractor {
                    Some(e) => data
                        .features_of(
                            e.as_ref(),
                            &data.subset(s.n, SeedStream::new(s.seed).derive(Purpose::ReferenceSubset)),
                        )
                        .map_err(|source| StudyError::ReferenceFeatures {
                            features: data.features.clone(),
                            reference: data.name.clone(),
                            source: Box::new(source),
                        })?,
                    None => Array2::zeros((0, 0)),
                };
                let against = Against::Data(DataCtx { data, extractor });
                Ok(Setup { against, schedule, dim: data.dim(), reference })
            }
        }
    }

    pub fn run(&self) -> Result<StudyResults, StudyError> {
        self.validate()?;
        let setup = self.setup()?;
        let requested = self.requested();
        let cache = Cache::new(&self.out.join("cache"), self.fingerprint())?;
        let bar = if self.progress { ProgressBar::new(self.models.len() as u64) } else { ProgressBar::hidden() };
        if self.progress {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} models {pos}/{len} [{elapsed_precise}] {wide_msg}")
                    .expect("valid template"),
            );
        }
        let mut out = StudyResults::default();
        for entry in &self.models {
            let mut results = cache.load(&entry.name);
            let todo: Vec<MetricId> = requested.iter().copied().filter(|m| !results.metrics.contains_key(m)).collect();
            if !todo.is_empty() {
                match self.load(entry, &setup) {
                    Ok(loaded) => {
                        self.measure(entry, &loaded, &setup, &todo, &mut results, &cache, &bar, &mut out)?;
                    }
                    Err(e) => self.failed(e, entry, &todo, &mut out)?,
                }
            }
            bar.inc(1);
            // the cache may hold metrics of earlier runs with other --metrics: report only these
            // (and the members of their groups)
            results.metrics.retain(|k, _| requested.iter().any(|m| m.computed_with().contains(k)));
            out.rows.push((entry.clone(), results));
        }
        bar.finish_and_clear();
        Ok(out)
    }

    /// A model-level failure (cannot be loaded, wrong dimension): every metric asked of it fails.
    fn failed(
        &self,
        e: StudyError,
        entry: &ModelEntry,
        todo: &[MetricId],
        out: &mut StudyResults,
    ) -> Result<(), StudyError> {
        match self.on_failure {
            OnFailure::Stop => Err(e),
            OnFailure::KeepGoing => {
                let cause = chain(&e);
                out.failed.extend(todo.iter().map(|&metric| Failure {
                    model: entry.name.clone(),
                    metric,
                    cause: cause.clone(),
                }));
                Ok(())
            }
        }
    }

    /// Every metric of `todo` on one loaded model.
    #[allow(clippy::too_many_arguments)]
    fn measure(
        &self,
        entry: &ModelEntry,
        loaded: &Loaded,
        setup: &Setup,
        todo: &[MetricId],
        results: &mut ModelResults,
        cache: &Cache,
        bar: &ProgressBar,
        out: &mut StudyResults,
    ) -> Result<(), StudyError> {
        let mut ctx = ModelCtx::new(
            loaded.model.as_ref(),
            loaded.synthetic.as_ref(),
            setup.truth(),
            &setup.schedule,
            &self.settings,
            &setup.reference,
        );
        // group members whose computation already ended without a value (in the group's order)
        let mut decided: BTreeMap<MetricId, Verdict> = BTreeMap::new();
        for (i, &id) in todo.iter().enumerate() {
            let verdict = match decided.remove(&id) {
                Some(v) => v,
                None if results.metrics.contains_key(&id) => continue, // stored by a group member
                None => {
                    bar.set_message(format!("{} · {id}", entry.name));
                    // this one and the later ones not yet stored or decided (a metric may compute
                    // several of them at once, and returns them all)
                    let pending =
                        todo[i..].iter().filter(|m| !results.metrics.contains_key(m) && !decided.contains_key(m));
                    ctx.set_pending(pending.copied().collect());
                    match id.metric().compute(&mut ctx) {
                        Ok(Outcome::Done(records)) => {
                            results.metrics.extend(records);
                            cache.store(&entry.name, results)?;
                            continue;
                        }
                        Ok(Outcome::NotApplicable(reason)) => {
                            for &m in id.computed_with().iter().filter(|m| **m != id) {
                                decided.insert(m, Verdict::NotApplicable(reason.clone()));
                            }
                            Verdict::NotApplicable(reason)
                        }
                        Err(source) => {
                            let e =
                                StudyError::Metric { model: entry.name.clone(), metric: id, source: Box::new(source) };
                            if self.on_failure == OnFailure::Stop {
                                return Err(e);
                            }
                            let cause = chain(&e);
                            for &m in id.computed_with().iter().filter(|m| **m != id) {
                                decided.insert(m, Verdict::Failed(cause.clone()));
                            }
                            Verdict::Failed(cause)
                        }
                    }
                }
            };
            let model = entry.name.clone();
            match verdict {
                Verdict::NotApplicable(reason) => out.not_applicable.push(NotApplicable { model, metric: id, reason }),
                Verdict::Failed(cause) => out.failed.push(Failure { model, metric: id, cause }),
            }
        }
        Ok(())
    }

    fn load(&self, entry: &ModelEntry, setup: &Setup) -> Result<Loaded, StudyError> {
        let loaded = match (&entry.source, &self.reference) {
            (ModelSource::Synthetic { model }, Reference::Target(spec)) => {
                let s = ProblemSpec { model: model.clone(), ..spec.clone() };
                let m = s
                    .synthetic_model()
                    .map_err(|source| StudyError::SyntheticModel { model: entry.name.clone(), source })?;
                Loaded { model: Box::new(m.clone()), synthetic: Some(m) }
            }
            (ModelSource::Synthetic { .. }, Reference::Data { .. }) => {
                return Err(StudyError::SyntheticOnData { model: entry.name.clone() })
            }
            (ModelSource::Checkpoint { path }, _) => {
                let model = (self.loader)(path).map_err(|source| StudyError::Load {
                    model: entry.name.clone(),
                    path: path.clone(),
                    source,
                })?;
                Loaded { model, synthetic: None }
            }
            (ModelSource::PairRotated { path, lambda }, _) => {
                let model = (self.loader)(path).map_err(|source| StudyError::Load {
                    model: entry.name.clone(),
                    path: path.clone(),
                    source,
                })?;
                Loaded { model: Box::new(PairRotated::new(model, *lambda)), synthetic: None }
            }
        };
        if loaded.model.dim() != setup.dim {
            let reference = match &setup.against {
                Against::Data(dc) => format!("but the reference '{}' holds {}", dc.data.name, dc.data.shape_desc()),
                Against::Target(_) => format!("the target has {}", setup.dim),
            };
            return Err(StudyError::Dimension { model: entry.name.clone(), model_dim: loaded.model.dim(), reference });
        }
        Ok(loaded)
    }
}
