//! Seed streams: every seed scoreprobe derives from a user's seed comes from [`SeedStream`], so
//! independent random streams (the prior draws of a sampler, a critic's initialisation, the
//! per-time draws of a Hodge profile, the batches of a training step, ...) are named in one
//! place instead of as `seed ^ 0x…` constants scattered through the crates.
//!
//! Each [`Purpose`] maps to exactly the derivation its call site used before this module existed,
//! so every number scoreprobe produces is unchanged. Two derivations share SplitMix64's mixer
//! ([`mix64`]): [`SeedStream::child`] (the index-th independent part of a computation: a time of a
//! Hodge profile, a node of the bounds) and [`SeedStream::keyed`] (a tagged stream indexed by a
//! step, an epoch or a sample). [`SeedStream::sample`] is the stream of one sample, keyed by (seed,
//! sample index), so that a computation split into shards can give sample i the same randomness
//! whatever the partition.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// 2⁶⁴/φ, SplitMix64's increment.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
/// A second odd multiplier for the index of a keyed stream.
const INDEX_MUL: u64 = 0xD1B5_4A32_D192_ED03;

/// SplitMix64's output function (Steele, Lea & Flood 2014; the finaliser of MurmurHash3 with
/// Stafford's "Mix13" constants): a bijection of u64 whose outputs for consecutive inputs look
/// independent. Written out because it is three lines and the derived values must never change.
pub const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Tags of keyed streams (ASCII, to read in a debugger).
mod tag {
    pub const TRAIN_INIT: u64 = 0x494e_4954; // "INIT"
    pub const TRAIN_STEP: u64 = 0x5354_4550; // "STEP"
    pub const TRAIN_EPOCH: u64 = 0x5045_524d; // "PERM"
    pub const SAMPLE: u64 = 0x5341_4d50; // "SAMP"
    pub const PRIOR: u64 = 0x5052_494f; // "PRIO"
    pub const NOISE: u64 = 0x4e4f_4953; // "NOIS"
    pub const MARGINAL: u64 = 0x4d41_5247; // "MARG"
}

/// What a derived seed is for. Each purpose keeps the value its call site used before (listed
/// per variant), so results stay bit-identical.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Purpose {
    /// The prior draws x_T ~ N(0, I) of a sampling run (`seed ^ 0x005e_ed0f_9e1a`). No sampler
    /// draws from it any more (each trajectory has [`Purpose::TrajectoryPrior`]); kept so the
    /// value stays reserved.
    PriorInit,
    /// Initial states drawn from the true marginal p_T (`seed ^ 0x1417`). Superseded by
    /// [`Purpose::TrajectoryMarginal`] (per trajectory); kept so the value stays reserved.
    MarginalInit,
    /// The centres of the multi-centre SIEM test functions (`seed ^ 0xce47_e125`).
    SiemCenters,
    /// The reference rows a study compares samples with (`seed ^ 0x7e5e_7e5e`).
    ReferenceSubset,
    /// The subsample of the first set when W2 needs equal sizes (`seed ^ 0x5eed`).
    EqualSizeFirst,
    /// The subsample of the second set when W2 needs equal sizes (`seed ^ 0xb0b`).
    EqualSizeSecond,
    /// The subsample of the second set under `--n` (`seed + 1`; the first uses the seed itself).
    SubsampleSecond,
    /// The weights of a scalar (gradient) critic (`seed ^ 0x0c1f_7a11`).
    ScalarCriticInit,
    /// The weights of a vector critic (`seed ^ 0x0ec7_0a11`).
    VectorCriticInit,
    /// The sampler run of the `classifier` error field, from the SIEM sampler's seed and the
    /// classifier's own (`sampler ^ 0xc1a5_51f1 ^ classifier.rotate_left(17)`).
    ClassifierStates { classifier_seed: u64 },
    /// The data draws and minibatches of the classifier, from its states' seed (`^ 0xda7a`).
    ClassifierData,
    /// The second, independent data draws of the classifier's floor (data against data) and the
    /// floor classifier's minibatches, from its states' seed (`^ 0xf100_da7a`).
    ClassifierFloor,
    /// The fit of the `critic` error field, from the critic's seed and the SIEM sampler's
    /// (`critic ^ 0xc217_1c00 ^ sampler.rotate_left(23)`).
    CriticSourceFit { sampler_seed: u64 },
    /// The i-th time of a Hodge profile or node of the bounds ([`SeedStream::child`]`(i)`).
    Time(u64),
    /// A neural critic's fit at one time ([`SeedStream::child`]`(1)`).
    CriticFit,
    /// A neural critic's held-out draws at one time ([`SeedStream::child`]`(2)`).
    CriticHeldOut,
    /// The ‖e_t‖² part at one time ([`SeedStream::child`]`(0x12)`).
    L2,
    /// The held-out draws of the ‖e_t‖² part at one time ([`SeedStream::child`]`(0x13)`).
    L2HeldOut,
    /// The Monte-Carlo estimate of KL(p_T‖π) in the bounds ([`SeedStream::child`]`(0xC0FFEE)`).
    PriorKl,
    /// A network's initial weights in training ([`SeedStream::keyed`]`("INIT", 0)`).
    TrainInit,
    /// Everything random in training step s ([`SeedStream::keyed`]`("STEP", s)`).
    TrainStep(u64),
    /// The permutation of a finite data set in epoch e ([`SeedStream::keyed`]`("PERM", e)`).
    TrainEpoch(u64),
    /// Sample i's own stream ([`SeedStream::sample`]`(i)`).
    Sample(u64),
    /// On a sample's stream: its prior draw x_T ~ N(0, I) ([`SeedStream::keyed`]`("PRIO", 0)`).
    TrajectoryPrior,
    /// On a sample's stream: its draw from the true marginal p_T ([`SeedStream::keyed`]`("MARG", 0)`).
    TrajectoryMarginal,
    /// On a sample's stream: the sampler's noise at every step, drawn in step order
    /// ([`SeedStream::keyed`]`("NOIS", 0)`).
    TrajectoryNoise,
}

/// A base seed and the streams derived from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SeedStream(u64);

impl SeedStream {
    pub const fn new(seed: u64) -> Self {
        SeedStream(seed)
    }

    /// The base seed.
    pub const fn seed(self) -> u64 {
        self.0
    }

    /// The seed for `purpose`.
    pub const fn derive(self, purpose: Purpose) -> u64 {
        let s = self.0;
        match purpose {
            Purpose::PriorInit => s ^ 0x005e_ed0f_9e1a,
            Purpose::MarginalInit => s ^ 0x1417,
            Purpose::SiemCenters => s ^ 0xce47_e125,
            Purpose::ReferenceSubset => s ^ 0x7e5e_7e5e,
            Purpose::EqualSizeFirst => s ^ 0x5eed,
            Purpose::EqualSizeSecond => s ^ 0xb0b,
            Purpose::SubsampleSecond => s.wrapping_add(1),
            Purpose::ScalarCriticInit => s ^ 0x0c1f_7a11,
            Purpose::VectorCriticInit => s ^ 0x0ec7_0a11,
            Purpose::ClassifierStates { classifier_seed } => s ^ 0xc1a5_51f1 ^ classifier_seed.rotate_left(17),
            Purpose::ClassifierData => s ^ 0xda7a,
            Purpose::ClassifierFloor => s ^ 0xf100_da7a,
            Purpose::CriticSourceFit { sampler_seed } => s ^ 0xc217_1c00 ^ sampler_seed.rotate_left(23),
            Purpose::Time(i) => self.child(i).0,
            Purpose::CriticFit => self.child(1).0,
            Purpose::CriticHeldOut => self.child(2).0,
            Purpose::L2 => self.child(0x12).0,
            Purpose::L2HeldOut => self.child(0x13).0,
            Purpose::PriorKl => self.child(0xC0FFEE).0,
            Purpose::TrainInit => self.keyed(tag::TRAIN_INIT, 0),
            Purpose::TrainStep(step) => self.keyed(tag::TRAIN_STEP, step),
            Purpose::TrainEpoch(epoch) => self.keyed(tag::TRAIN_EPOCH, epoch),
            Purpose::Sample(i) => self.sample(i).0,
            Purpose::TrajectoryPrior => self.keyed(tag::PRIOR, 0),
            Purpose::TrajectoryMarginal => self.keyed(tag::MARGINAL, 0),
            Purpose::TrajectoryNoise => self.keyed(tag::NOISE, 0),
        }
    }

    /// The stream for `purpose`, as a stream of its own (to derive further seeds from).
    pub const fn stream(self, purpose: Purpose) -> SeedStream {
        SeedStream(self.derive(purpose))
    }

    /// A ChaCha8 generator seeded for `purpose`.
    pub fn rng(self, purpose: Purpose) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(self.derive(purpose))
    }

    /// A ChaCha8 generator on the base seed itself.
    pub fn base_rng(self) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(self.0)
    }

    /// The index-th independent part: SplitMix64's `index + 1`-th output from this seed.
    pub const fn child(self, index: u64) -> SeedStream {
        SeedStream(mix64(self.0.wrapping_add(index.wrapping_add(1).wrapping_mul(GOLDEN))))
    }

    /// A tagged stream at `index`: mix64(seed ⊕ tag·φ ⊕ index·c).
    pub const fn keyed(self, tag: u64, index: u64) -> u64 {
        mix64(self.0 ^ tag.wrapping_mul(GOLDEN) ^ index.wrapping_mul(INDEX_MUL))
    }

    /// Sample i's own stream, keyed by (seed, i): the same whatever shard computes sample i.
    pub const fn sample(self, index: u64) -> SeedStream {
        SeedStream(self.keyed(tag::SAMPLE, index))
    }

    /// The generator of trajectory `index`'s `purpose` ([`Purpose::TrajectoryPrior`],
    /// [`Purpose::TrajectoryNoise`], ...): keyed by (seed, index) only, so a trajectory draws the
    /// same values whatever shard, batch or thread computes it.
    pub fn trajectory_rng(self, index: u64, purpose: Purpose) -> ChaCha8Rng {
        self.sample(index).rng(purpose)
    }
}

impl From<u64> for SeedStream {
    fn from(seed: u64) -> Self {
        SeedStream(seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values the call sites computed before the seed stream existed (hodge's per-time
    /// `derive_seed`, nn's `mix_seed`, the `seed ^ constant` streams); a change here changes
    /// every published number.
    #[test]
    fn derived_seeds_keep_their_historic_values() {
        fn derive_seed(seed: u64, stream: u64) -> u64 {
            let mut z = seed.wrapping_add(stream.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn mix_seed(seed: u64, tag: u64, index: u64) -> u64 {
            let mut z = seed ^ tag.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        for seed in [0u64, 1, 7, 42, u64::MAX, 0xdead_beef] {
            let s = SeedStream::new(seed);
            assert_eq!(s.derive(Purpose::PriorInit), seed ^ 0x005e_ed0f_9e1a);
            assert_eq!(s.derive(Purpose::SiemCenters), seed ^ 0xce47_e125);
            assert_eq!(s.derive(Purpose::ScalarCriticInit), seed ^ 0x0c1f_7a11);
            assert_eq!(s.derive(Purpose::SubsampleSecond), seed.wrapping_add(1));
            assert_eq!(
                s.derive(Purpose::ClassifierStates { classifier_seed: 5 }),
                seed ^ 0xc1a5_51f1 ^ 5u64.rotate_left(17)
            );
            assert_eq!(
                s.derive(Purpose::CriticSourceFit { sampler_seed: 9 }),
                seed ^ 0xc217_1c00 ^ 9u64.rotate_left(23)
            );
            for i in [0u64, 1, 2, 31, 0x12, 0x13, 0xC0FFEE] {
                assert_eq!(s.derive(Purpose::Time(i)), derive_seed(seed, i));
            }
            assert_eq!(s.derive(Purpose::CriticFit), derive_seed(seed, 1));
            assert_eq!(s.derive(Purpose::CriticHeldOut), derive_seed(seed, 2));
            assert_eq!(s.derive(Purpose::L2), derive_seed(seed, 0x12));
            assert_eq!(s.derive(Purpose::L2HeldOut), derive_seed(seed, 0x13));
            assert_eq!(s.derive(Purpose::PriorKl), derive_seed(seed, 0xC0FFEE));
            assert_eq!(s.derive(Purpose::TrainInit), mix_seed(seed, 0x494e_4954, 0));
            assert_eq!(s.derive(Purpose::TrainStep(17)), mix_seed(seed, 0x5354_4550, 17));
            assert_eq!(s.derive(Purpose::TrainEpoch(3)), mix_seed(seed, 0x5045_524d, 3));
        }
    }

    #[test]
    fn sample_streams_are_distinct_and_independent_of_other_samples() {
        let s = SeedStream::new(11);
        let seeds: std::collections::HashSet<u64> = (0..10_000).map(|i| s.sample(i).seed()).collect();
        assert_eq!(seeds.len(), 10_000);
        // sample i's stream depends only on (seed, i)
        assert_eq!(SeedStream::new(11).sample(4321), s.sample(4321));
        assert_ne!(SeedStream::new(12).sample(4321), s.sample(4321));
        assert_eq!(s.derive(Purpose::Sample(4321)), s.sample(4321).seed());
    }
}
