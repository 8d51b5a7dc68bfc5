//! The sample-based references: W2, FD and KID between n generated samples and n reference
//! samples (target samples at t_min, or data rows in a feature space).

use super::interface::{Outcome, Reason, Role, StudyMetric, MAX_W2_DIM};
use crate::context::{ModelCtx, Truth};
use crate::details::SampleDetails;
use crate::error::MetricError;
use crate::id::MetricId;
use crate::record::{Details, Record};
use ndarray::Array2;
use std::time::Instant;

pub struct W2;
pub struct Fd;
pub struct Kid;

impl StudyMetric for W2 {
    fn id(&self) -> MetricId {
        MetricId::W2
    }
    fn role(&self) -> Role {
        Role::Reference
    }
    fn doc(&self) -> &'static str {
        "exact W2 (cost |x-y|^2) between n generated samples and n target samples at t_min"
    }
    fn compute(&self, ctx: &mut ModelCtx) -> Result<Outcome, MetricError> {
        if let Truth::Data(dc) = ctx.truth {
            if ctx.reference.ncols() > MAX_W2_DIM {
                return Ok(Outcome::NotApplicable(Reason::FeaturesTooWide {
                    features: dc.data.features.clone(),
                    dim: ctx.reference.ncols(),
                }));
            }
        }
        let details =
            SampleDetails { cost: Some("|x-y|^2".into()), n: Some(ctx.reference.nrows()), ..Default::default() };
        on_samples(self.id(), ctx, details, |x, r| Ok((scoreprobe_metrics::w2_exact(x.view(), r.view())?.w2, None)))
    }
}

impl StudyMetric for Fd {
    fn id(&self) -> MetricId {
        MetricId::Fd
    }
    fn role(&self) -> Role {
        Role::Reference
    }
    fn doc(&self) -> &'static str {
        "Fréchet distance between generated and target samples, in the study's feature space (the coordinates, or the --features embedding)"
    }
    fn compute(&self, ctx: &mut ModelCtx) -> Result<Outcome, MetricError> {
        let details = SampleDetails { features: Some("identity".into()), ..Default::default() };
        on_samples(self.id(), ctx, details, |x, r| {
            let method = scoreprobe_metrics::TraceMethod::default();
            Ok((scoreprobe_metrics::frechet_distance_points(x.view(), r.view(), method)?.fd, None))
        })
    }
}

impl StudyMetric for Kid {
    fn id(&self) -> MetricId {
        MetricId::Kid
    }
    fn role(&self) -> Role {
        Role::Reference
    }
    fn doc(&self) -> &'static str {
        "KID (cubic kernel) between generated and target samples, in the same feature space as FD"
    }
    fn compute(&self, ctx: &mut ModelCtx) -> Result<Outcome, MetricError> {
        let details = SampleDetails { features: Some("identity".into()), ..Default::default() };
        let seed = ctx.settings.seed;
        on_samples(self.id(), ctx, details, |x, r| {
            let opts = scoreprobe_metrics::KidOptions { seed, ..Default::default() };
            let k = scoreprobe_metrics::kid(x.view(), r.view(), &opts)?;
            // The statistic's own SE; the spread over subsets is not KID's uncertainty.
            Ok((k.mean, Some(k.se)))
        })
    }
}

/// Draws the model's samples (once per model), maps them into the reference's feature space and
/// computes `value(generated, reference) -> (value, se)`; the record's cost is the sampling's plus
/// the metric's own.
fn on_samples(
    id: MetricId,
    ctx: &mut ModelCtx,
    mut details: SampleDetails,
    value: impl FnOnce(&Array2<f64>, &Array2<f64>) -> Result<(f64, Option<f64>), MetricError>,
) -> Result<Outcome, MetricError> {
    let (truth, reference) = (ctx.truth, ctx.reference);
    let smp = ctx.samples()?;
    let start = Instant::now();
    // generated rows in the reference's feature space (the rows themselves for a target)
    let features = match truth {
        Truth::Data(dc) => {
            let e = dc.extractor.as_ref().ok_or_else(|| MetricError::Features {
                features: dc.data.features.clone(),
                source: "no feature extractor was built for this study".into(),
            })?;
            details.features = Some(dc.data.features.clone());
            details.feature_dim = Some(reference.ncols());
            details.reference = Some(dc.data.name.clone());
            details.n_reference = Some(reference.nrows());
            Some(dc.data.features_of(e.as_ref(), &smp.x)?)
        }
        Truth::Target(_) => None,
    };
    let (v, se) = value(features.as_ref().unwrap_or(&smp.x), reference)?;
    Ok(Outcome::one(
        id,
        Record {
            value: v,
            se,
            nfe: Some(smp.nfe as f64),
            seconds: smp.seconds + start.elapsed().as_secs_f64(),
            details: Details::Sample(details),
        },
    ))
}
