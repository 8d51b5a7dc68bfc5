//! The projection form's draws x_t = α_t x₀ + σ_t ξ ~ p_t: one independent random stream per
//! window time, keyed by (seed, purpose, step index), so that
//! - every model measured with the same seed sees the same data draws and noise (common random
//!   numbers: differences between models are paired);
//! - the draws at a time do not depend on which other times are computed (a window is a subset
//!   of the full grid's draws, and a run split by times merges exactly);
//! - the bandwidth comes from a pilot set of draws independent of the estimation draws, so m̂_c²
//!   stays exactly unbiased given h, and h does not depend on the model. The pilot is keyed by the
//!   test seed (not the sampling seed) and pooled over every time of the full grid, so the test
//!   functions are the same for every window, seed, shard and checkpoint (SPEC §7).

use crate::error::SiemError;
use crate::recipe::Draws;
use crate::testfn::{median, radial_distances, BandwidthRule, TestFnSpec};
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use scoreprobe_core::distribution::standard_normal;
use scoreprobe_core::Schedule;

/// Which of the projection form's streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stream {
    /// The draws the model is evaluated on.
    Estimate,
    /// The draws that set the bandwidth (no model evaluation; keyed by the test seed).
    Pilot,
    /// The draws that estimate the quadratic family's centre when no data mean is given.
    Mean,
}

impl Stream {
    fn tag(self) -> u64 {
        match self {
            Stream::Estimate => 0x5052_4f4a, // "PROJ"
            Stream::Pilot => 0x5049_4c54,    // "PILT"
            Stream::Mean => 0x4d45_414e,     // "MEAN"
        }
    }
}

/// The generator of one window time's draws.
pub(crate) fn time_rng(seed: u64, stream: Stream, index: usize) -> ChaCha8Rng {
    let key =
        seed ^ stream.tag().wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (index as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
    ChaCha8Rng::seed_from_u64(scoreprobe_core::seed::mix64(key))
}

/// n draws of p_t: x₀ from the data, then ξ, both from `rng`.
pub(crate) fn noised(
    draws: &mut Draws,
    schedule: &Schedule,
    t: f64,
    n: usize,
    d: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Array2<f64>, SiemError> {
    let x0 = draws(n, rng);
    if x0.dim() != (n, d) {
        return Err(SiemError::invalid(
            "projection: data draws",
            format!("the data sampler returned shape {:?}, expected ({n}, {d})", x0.dim()),
        ));
    }
    let xi = standard_normal(n, d, rng);
    Ok(x0 * schedule.alpha(t) + xi * schedule.sigma(t))
}

/// The bandwidth of each centre by `spec`'s rule, from `pilot` draws at each time of `times`
/// (given as (step index, t), in sampling order: the first is the highest-noise time), drawn from
/// the stream of `test_seed`. Callers pass the full grid's times, never a window's.
pub(crate) fn bandwidths(
    spec: &TestFnSpec,
    draws: &mut Draws,
    schedule: &Schedule,
    times: &[(usize, f64)],
    pilot: usize,
    test_seed: u64,
) -> Result<Vec<f64>, SiemError> {
    let k = spec.centers.nrows();
    let d = spec.centers.ncols();
    let used: &[(usize, f64)] = match spec.bandwidth {
        BandwidthRule::Fixed(h) => return Ok(vec![h; k]),
        BandwidthRule::MedianPooled => times,
        BandwidthRule::MedianFirstStep => &times[..times.len().min(1)],
    };
    let mut rho: Vec<Vec<f64>> = vec![Vec::with_capacity(pilot * used.len()); k];
    for &(index, t) in used {
        let mut rng = time_rng(test_seed, Stream::Pilot, index);
        let x = noised(draws, schedule, t, pilot, d, &mut rng)?;
        for (c, r) in spec.centers.rows().into_iter().zip(rho.iter_mut()) {
            r.extend(radial_distances(x.view(), c));
        }
    }
    rho.iter_mut()
        .enumerate()
        .map(|(c, r)| {
            let h = median(r);
            if h > 0.0 && h.is_finite() {
                Ok(h)
            } else {
                Err(SiemError::Bandwidth { rule: spec.bandwidth.name(), h, center: c })
            }
        })
        .collect()
}
