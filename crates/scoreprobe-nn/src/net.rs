//! Architecture specs (serialised in checkpoint sidecars) and the networks they build.

use crate::error::Result;
use crate::mlp::{Mlp, MlpSpec};
use crate::params::ParamStore;
use crate::unet::{Unet, UnetSpec};
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// A fully resolved ε-network architecture (input shape included).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ArchSpec {
    Mlp(MlpSpec),
    Unet(UnetSpec),
}

impl ArchSpec {
    /// Flattened state dimension d (C·H·W for images).
    pub fn dim(&self) -> usize {
        match self {
            ArchSpec::Mlp(s) => s.dim,
            ArchSpec::Unet(s) => s.dim(),
        }
    }

    pub fn build(&self, seed: u64, device: &Device) -> Result<Network> {
        Ok(match self {
            ArchSpec::Mlp(s) => Network::Mlp(Mlp::new(s, seed, device)?),
            ArchSpec::Unet(s) => Network::Unet(Unet::new(s, seed, device)?),
        })
    }

    /// One-line description, e.g. `mlp(d=2, 3x128)` or `unet(1x28x28, 32/64, attn)`.
    pub fn describe(&self) -> String {
        match self {
            ArchSpec::Mlp(s) => format!("mlp(d={}, {}x{})", s.dim, s.depth, s.hidden),
            ArchSpec::Unet(s) => format!(
                "unet({}x{}x{}, {}/{}{})",
                s.channels,
                s.height,
                s.width,
                s.widths[0],
                s.widths[1],
                if s.attention { ", attn" } else { "" }
            ),
        }
    }
}

/// An ε-network on flattened inputs.
#[allow(clippy::large_enum_variant)]
pub enum Network {
    Mlp(Mlp),
    Unet(Unet),
}

impl Network {
    pub fn params(&self) -> &ParamStore {
        match self {
            Network::Mlp(m) => m.params(),
            Network::Unet(u) => u.params(),
        }
    }

    /// [`Self::forward`] for sampling and evaluation, without autograd (the MLP's fused CPU pass).
    pub fn eval(&self, x: &Tensor, t: &Tensor) -> Result<Tensor> {
        match self {
            Network::Mlp(m) => m.eval(x, t),
            Network::Unet(u) => u.eval(x, t),
        }
    }

    /// x (n, d) f32 and t (n,) f32 → ε̂ (n, d) (differentiable in the parameters).
    pub fn forward(&self, x: &Tensor, t: &Tensor) -> Result<Tensor> {
        match self {
            Network::Mlp(m) => m.forward(x, t),
            Network::Unet(u) => {
                let s = u.spec();
                let n = x.dim(0)?;
                let img = x.reshape((n, s.channels, s.height, s.width))?;
                Ok(u.forward(&img, t)?.reshape((n, s.dim()))?)
            }
        }
    }
}
