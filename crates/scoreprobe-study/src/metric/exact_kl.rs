//! The exact KL of the generated law, from the Gaussian moment ODEs (SPEC §3).

use super::interface::{Outcome, Reason, Role, StudyMetric};
use crate::context::ModelCtx;
use crate::details::ExactKlDetails;
use crate::error::MetricError;
use crate::id::MetricId;
use crate::record::{Details, Record};
use scoreprobe_core::exact::{generated_law, Dynamics, Init};
use scoreprobe_core::schedule::T_END;
use scoreprobe_core::ScoreModel;
use std::time::Instant;

/// RK4 substeps of the moment ODEs.
const SUBSTEPS: usize = 4000;

pub struct ExactKl;

impl StudyMetric for ExactKl {
    fn id(&self) -> MetricId {
        MetricId::ExactKl
    }
    fn role(&self) -> Role {
        Role::Reference
    }
    fn doc(&self) -> &'static str {
        "exact KL(p_tmin || q_tmin) from the Gaussian moment ODEs (Gaussian target, affine model)"
    }
    fn compute(&self, ctx: &mut ModelCtx) -> Result<Outcome, MetricError> {
        if ctx.target().is_none() {
            return Ok(Outcome::NotApplicable(Reason::NoExactScore));
        }
        let Some(m) = ctx.synthetic else { return Ok(Outcome::NotApplicable(Reason::NeedsSyntheticModel)) };
        // the moment ODEs need an affine score on a Gaussian target
        if m.affine_form(T_END).is_none() {
            return Ok(Outcome::NotApplicable(Reason::NoExactLaw { model: m.describe() }));
        }
        let start = Instant::now();
        let law = generated_law(m, Dynamics::ReverseSde, Init::Prior, ctx.settings.t_min, SUBSTEPS)
            .map_err(MetricError::ExactLaw)?;
        Ok(Outcome::one(
            self.id(),
            Record {
                value: law.kl,
                se: None,
                nfe: None,
                seconds: start.elapsed().as_secs_f64(),
                details: Details::ExactKl(ExactKlDetails {
                    reference: "KL(p_tmin || q_tmin), continuous reverse SDE from N(0,I)".into(),
                }),
            },
        ))
    }
}
