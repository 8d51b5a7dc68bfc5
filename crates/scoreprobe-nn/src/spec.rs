//! The architectures of the ε-networks (serialised in checkpoint sidecars): plain data that the
//! candle networks ([`crate::mlp`], [`crate::unet`]) and the CPU engine both read.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpSpec {
    /// Input dimension d.
    pub dim: usize,
    /// Output dimension (d for an ε-network, 1 for a scalar critic or classifier).
    pub out_dim: usize,
    /// Width of each hidden layer.
    pub hidden: usize,
    /// Number of hidden layers.
    pub depth: usize,
    /// Size of the sinusoidal time embedding.
    pub time_dim: usize,
}

impl MlpSpec {
    /// The default ε-network for d-dimensional data: 3 hidden layers × 128.
    pub fn eps_net(dim: usize) -> Self {
        Self { dim, out_dim: dim, hidden: 128, depth: 3, time_dim: 64 }
    }

    /// A scalar network (critic χ(x,t) or classifier logit d(x,t)).
    pub fn scalar(dim: usize, hidden: usize, depth: usize) -> Self {
        Self { dim, out_dim: 1, hidden, depth, time_dim: 64 }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnetSpec {
    /// Image channels C.
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// Feature channels at the full and the half resolution (e.g. [32, 64]).
    pub widths: [usize; 2],
    /// GroupNorm groups (must divide every width and c0 + c1).
    pub groups: usize,
    /// Self-attention at the low resolution.
    pub attention: bool,
    /// Size of the sinusoidal time embedding and width of the time MLP.
    pub time_dim: usize,
}

impl UnetSpec {
    pub fn small(channels: usize, height: usize, width: usize) -> Self {
        Self { channels, height, width, widths: [32, 64], groups: 8, attention: true, time_dim: 128 }
    }

    pub fn dim(&self) -> usize {
        self.channels * self.height * self.width
    }
}
