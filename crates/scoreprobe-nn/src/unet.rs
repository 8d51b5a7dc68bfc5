//! A small two-resolution U-Net ε-network for 28×28 / 32×32 images (DDPM-style, scaled down for
//! CPU training): GroupNorm + SiLU residual blocks conditioned on a sinusoidal time embedding,
//! one stride-2 downsampling, optional single-head self-attention at the low resolution.
//!
//! ```text
//! conv_in(C→c0) ─ Res(c0) ─────────────────────────────── cat ─ Res(c0+c1→c0) ─ GN,SiLU,conv(c0→C)
//!                    └ down(stride 2) ─ Res(c0→c1) ── cat ─ Res(2c1→c1) ─ up(conv, nearest ×2) ┘
//!                                          └ mid: Res(c1) [+ Attn(c1)] ┘
//! ```

use crate::cpu;
use crate::error::{ensure, Result};
use crate::layers::{time_embedding, Conv2d, GroupNorm, Linear};
use crate::params::{ParamInit, ParamStore};
pub use crate::spec::UnetSpec;
use candle_core::{Device, Tensor, D};

struct ResBlock {
    norm1: GroupNorm,
    conv1: Conv2d,
    temb: Linear,
    norm2: GroupNorm,
    conv2: Conv2d,
    skip: Option<Conv2d>,
}

impl ResBlock {
    fn new(p: &mut ParamInit, name: &str, c_in: usize, c_out: usize, groups: usize, time_dim: usize) -> Result<Self> {
        Ok(Self {
            norm1: GroupNorm::new(p, &format!("{name}.norm1"), groups, c_in)?,
            conv1: Conv2d::new(p, &format!("{name}.conv1"), c_in, c_out, 3, 1)?,
            temb: Linear::new(p, &format!("{name}.temb"), time_dim, c_out)?,
            norm2: GroupNorm::new(p, &format!("{name}.norm2"), groups, c_out)?,
            conv2: Conv2d::new(p, &format!("{name}.conv2"), c_out, c_out, 3, 1)?,
            skip: if c_in != c_out { Some(Conv2d::new(p, &format!("{name}.skip"), c_in, c_out, 1, 1)?) } else { None },
        })
    }

    /// `e` is the already-activated time feature SiLU(MLP(emb(t))), shape (n, time_dim).
    fn forward(&self, x: &Tensor, e: &Tensor) -> Result<Tensor> {
        let h = self.conv1.forward_with_offset(&self.norm1.forward_silu(x)?, &self.temb.forward(e)?)?;
        let h = self.conv2.forward(&self.norm2.forward_silu(&h)?)?;
        let s = match &self.skip {
            Some(conv) => conv.forward(x)?,
            None => x.clone(),
        };
        Ok((s + h)?)
    }
}

struct Attention {
    norm: GroupNorm,
    qkv: Linear,
    proj: Linear,
}

impl Attention {
    fn new(p: &mut ParamInit, name: &str, c: usize, groups: usize) -> Result<Self> {
        Ok(Self {
            norm: GroupNorm::new(p, &format!("{name}.norm"), groups, c)?,
            qkv: Linear::new(p, &format!("{name}.qkv"), c, 3 * c)?,
            proj: Linear::new(p, &format!("{name}.proj"), c, c)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (n, c, h, w) = x.dims4()?;
        let tokens = self.norm.forward(x)?.reshape((n, c, h * w))?.transpose(1, 2)?.contiguous()?; // (n, hw, c)
        let qkv = self.qkv.forward(&tokens)?;
        let q = qkv.narrow(D::Minus1, 0, c)?.contiguous()?;
        let k = qkv.narrow(D::Minus1, c, c)?.contiguous()?;
        let v = qkv.narrow(D::Minus1, 2 * c, c)?.contiguous()?;
        let att = (q.matmul(&k.t()?)? * (1.0 / (c as f64).sqrt()))?;
        let att = candle_nn::ops::softmax(&att, D::Minus1)?;
        let out = self.proj.forward(&att.matmul(&v)?)?; // (n, hw, c)
        let out = out.transpose(1, 2)?.reshape((n, c, h, w))?;
        Ok((x + out)?)
    }
}

pub struct Unet {
    spec: UnetSpec,
    time1: Linear,
    time2: Linear,
    conv_in: Conv2d,
    down0: ResBlock,
    downsample: Conv2d,
    down1: ResBlock,
    mid: ResBlock,
    attn: Option<Attention>,
    up1: ResBlock,
    upconv: Conv2d,
    up0: ResBlock,
    norm_out: GroupNorm,
    conv_out: Conv2d,
    params: ParamStore,
}

impl Unet {
    pub fn new(spec: &UnetSpec, seed: u64, device: &Device) -> Result<Self> {
        let [c0, c1] = spec.widths;
        let g = spec.groups;
        ensure!(
            spec.channels > 0
                && spec.height >= 4
                && spec.width >= 4
                && spec.height.is_multiple_of(2)
                && spec.width.is_multiple_of(2),
            "unet: image must be at least 4×4 with even sides and ≥1 channel: {spec:?}"
        );
        ensure!(
            g > 0 && c0.is_multiple_of(g) && c1.is_multiple_of(g),
            "unet: groups {g} must divide the widths {c0}, {c1}"
        );
        ensure!(spec.time_dim >= 2 && spec.time_dim.is_multiple_of(2), "unet: time_dim must be even");
        let td = spec.time_dim;
        let mut p = ParamInit::new(seed, device);
        let time1 = Linear::new(&mut p, "time1", td, td)?;
        let time2 = Linear::new(&mut p, "time2", td, td)?;
        let conv_in = Conv2d::new(&mut p, "conv_in", spec.channels, c0, 3, 1)?;
        let down0 = ResBlock::new(&mut p, "down0", c0, c0, g, td)?;
        let downsample = Conv2d::new(&mut p, "downsample", c0, c0, 3, 2)?;
        let down1 = ResBlock::new(&mut p, "down1", c0, c1, g, td)?;
        let mid = ResBlock::new(&mut p, "mid", c1, c1, g, td)?;
        let attn = if spec.attention { Some(Attention::new(&mut p, "attn", c1, g)?) } else { None };
        let up1 = ResBlock::new(&mut p, "up1", 2 * c1, c1, g, td)?;
        let upconv = Conv2d::new(&mut p, "upconv", c1, c1, 3, 1)?;
        let up0 = ResBlock::new(&mut p, "up0", c0 + c1, c0, g, td)?;
        let norm_out = GroupNorm::new(&mut p, "norm_out", g, c0)?;
        let conv_out = Conv2d::new(&mut p, "conv_out", c0, spec.channels, 3, 1)?;
        Ok(Self {
            spec: spec.clone(),
            time1,
            time2,
            conv_in,
            down0,
            downsample,
            down1,
            mid,
            attn,
            up1,
            upconv,
            up0,
            norm_out,
            conv_out,
            params: p.finish(),
        })
    }

    pub fn spec(&self) -> &UnetSpec {
        &self.spec
    }

    pub fn params(&self) -> &ParamStore {
        &self.params
    }

    /// ε̂ for flattened images x (n, C·H·W), t (n,) → (n, C·H·W), without autograd: on the CPU
    /// the engine's fused pass (same values up to rounding), elsewhere candle's ops on detached
    /// results.
    pub fn eval(&self, x: &Tensor, t: &Tensor) -> Result<Tensor> {
        let (n, d) = x.dims2()?;
        ensure!(d == self.spec.dim(), "unet: input of dimension {d}, expected {}", self.spec.dim());
        ensure!(t.dims1()? == n, "unet: {} times for {n} rows", t.dims1()?);
        if let Some(y) = cpu::unet_eval(&self.spec, &self.params, x, t)? {
            return Ok(y);
        }
        let s = &self.spec;
        let img = x.reshape((n, s.channels, s.height, s.width))?;
        Ok(self.forward(&img, t)?.reshape((n, d))?.detach())
    }

    /// x (n, C, H, W) f32, t (n,) f32 → ε̂ (n, C, H, W).
    pub fn forward(&self, x: &Tensor, t: &Tensor) -> Result<Tensor> {
        let e = time_embedding(t, self.spec.time_dim)?;
        let e = self.time2.forward(&self.time1.forward(&e)?.silu()?)?.silu()?;
        let h0 = self.conv_in.forward(x)?;
        let s0 = self.down0.forward(&h0, &e)?;
        let s1 = self.down1.forward(&self.downsample.forward(&s0)?, &e)?;
        let mut m = self.mid.forward(&s1, &e)?;
        if let Some(a) = &self.attn {
            m = a.forward(&m)?;
        }
        let u1 = self.up1.forward(&Tensor::cat(&[&m, &s1], 1)?, &e)?;
        let u1 = cpu::fused::upsample2x(&self.upconv.forward(&u1)?)?; // h, w are even
        let u0 = self.up0.forward(&Tensor::cat(&[&u1, &s0], 1)?, &e)?;
        self.conv_out.forward(&self.norm_out.forward_silu(&u0)?)
    }
}
