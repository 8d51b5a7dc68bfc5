//! One metric's value on one model, with its cost and its typed details.

use crate::details::{BoundsDetails, ExactKlDetails, SampleDetails, SiemDetails};
use crate::id::MetricId;
use serde::{Deserialize, Serialize};

/// One metric's value for one model, with its cost.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Record {
    pub value: f64,
    /// Monte-Carlo standard error where the metric has one.
    pub se: Option<f64>,
    /// Score evaluations per sample (network forward passes per row), including auxiliary nets.
    pub nfe: Option<f64>,
    pub seconds: f64,
    pub details: Details,
}

/// What each kind of metric records beside its value. Written as the plain object of its variant
/// (no tag: the metric's id says which variant it is, see [`Details::decode`]).
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Details {
    /// w2, fd, kid.
    Sample(SampleDetails),
    ExactKl(ExactKlDetails),
    /// Every SIEM variant.
    Siem(SiemDetails),
    /// The KL-bound group.
    Bounds(BoundsDetails),
}

impl Details {
    /// Reads the details of metric `id` from their JSON object.
    pub fn decode(id: MetricId, value: serde_json::Value) -> Result<Self, serde_json::Error> {
        use MetricId::*;
        Ok(match id {
            W2 | Fd | Kid => Details::Sample(serde_json::from_value(value)?),
            ExactKl => Details::ExactKl(serde_json::from_value(value)?),
            SiemProj | SiemProjWindow | SiemProjOrigin | SiemProjOriginWindow | SiemQuad | SiemQuadWindow | Siem
            | SiemWindow | SiemMc | SiemMcWindow | SiemClassifier | SiemClassifierWindow | SiemCritic
            | SiemCriticWindow => Details::Siem(serde_json::from_value(value)?),
            L2 | Gradient | Girsanov | Marginal => Details::Bounds(serde_json::from_value(value)?),
        })
    }

    pub fn siem(&self) -> Option<&SiemDetails> {
        match self {
            Details::Siem(d) => Some(d),
            _ => None,
        }
    }

    pub fn bounds(&self) -> Option<&BoundsDetails> {
        match self {
            Details::Bounds(d) => Some(d),
            _ => None,
        }
    }
}

/// A record as stored, before its details are decoded by the metric's id.
#[derive(Deserialize)]
pub(crate) struct StoredRecord {
    value: f64,
    se: Option<f64>,
    nfe: Option<f64>,
    seconds: f64,
    details: serde_json::Value,
}

impl StoredRecord {
    pub(crate) fn decode(self, id: MetricId) -> Result<Record, serde_json::Error> {
        Ok(Record {
            value: self.value,
            se: self.se,
            nfe: self.nfe,
            seconds: self.seconds,
            details: Details::decode(id, self.details)?,
        })
    }
}
