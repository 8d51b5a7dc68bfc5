//! Shards of a run: `--shard I/K` (shard I of K, counted from 0, as Slurm array indices and
//! torch.distributed ranks are) and `--state-out PATH`, declared once in [`ShardOptions`] and
//! flattened into every run's options struct (`siem`, `hodge`, `bounds`, `sample`, `metrics`).
//!
//! A shard computes a contiguous part of the run's units of work ([`Shard::range`]: draw indices,
//! window times or rows, whichever the estimator keys its randomness by) and writes its mergeable
//! state ([`crate::state`]); `scoreprobe merge` combines K states into the unsharded result.

use crate::error::CoreError;
use crate::option_error::OptionError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::str::FromStr;

/// Shard `index` of `count` (0 ≤ index < count). Serialises as the text `"I/K"`; deserialises
/// from that text or from a pair `[I, K]` (Python's `shard=(i, k)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// The whole run as one shard.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Shard `index` of `count`, checked.
    pub fn new(index: usize, count: usize) -> Result<Self, CoreError> {
        Shard::checked(index, count, || format!("shard '{index}/{count}'"))
    }

    fn checked(index: usize, count: usize, input: impl Fn() -> String) -> Result<Self, CoreError> {
        if count == 0 {
            return Err(CoreError::invalid(input(), "needs at least 1 shard (K ≥ 1)"));
        }
        if index >= count {
            let last = count - 1;
            let why = format!("index {index} is out of range for {count} shards (0/{count} to {last}/{count})");
            return Err(CoreError::invalid(input(), why));
        }
        Ok(Shard { index, count })
    }

    /// Parses `I/K`.
    pub fn parse(text: &str) -> Result<Self, CoreError> {
        let input = || format!("shard '{text}'");
        let (i, k) =
            text.split_once('/').ok_or_else(|| CoreError::invalid(input(), "expected I/K, e.g. 0/4 (shard 0 of 4)"))?;
        let number = |s: &str, what: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| CoreError::invalid(input(), format!("{what} '{s}' is not a whole number ≥ 0")))
        };
        let (index, count) = (number(i, "index")?, number(k, "count")?);
        Shard::checked(index, count, input)
    }

    /// This shard's contiguous part of `0..n`: `[index·n/K, (index+1)·n/K)`. The parts of all K
    /// shards partition `0..n` in order, with sizes differing by at most one.
    pub fn range(&self, n: usize) -> Range<usize> {
        let at = |i: usize| (i as u128 * n as u128 / self.count as u128) as usize;
        at(self.index)..at(self.index + 1)
    }

    pub fn is_whole(&self) -> bool {
        self.count == 1
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl From<Shard> for String {
    fn from(s: Shard) -> String {
        s.to_string()
    }
}

impl FromStr for Shard {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        Shard::parse(s)
    }
}

/// The forms a shard is written in (see [`Shard`]).
#[derive(Deserialize)]
#[serde(untagged)]
enum ShardForm {
    Text(String),
    Pair(usize, usize),
}

impl<'de> Deserialize<'de> for Shard {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let parsed = match ShardForm::deserialize(d)? {
            ShardForm::Text(t) => Shard::parse(&t),
            ShardForm::Pair(i, k) => Shard::new(i, k),
        };
        parsed.map_err(serde::de::Error::custom)
    }
}

/// `--shard`: a shard's text, parsed by [`Shard::parse`].
fn parse_shard(text: &str) -> Result<Shard, String> {
    Shard::parse(text).map_err(|e| e.to_string())
}

/// The shard options every run flattens into its options struct.
#[derive(Clone, Debug, Default, PartialEq, Eq, clap::Args, Serialize, Deserialize)]
#[serde(default)]
pub struct ShardOptions {
    /// Run only shard I of K (`I/K`, counted from 0: `0/4` … `3/4`) and write its mergeable state
    /// to --state-out; `scoreprobe merge` combines the K states into the unsharded result.
    #[arg(long, value_parser = parse_shard)]
    pub shard: Option<Shard>,
    /// Write the run's mergeable state (a versioned JSON file) to PATH (with --shard: required).
    #[arg(long)]
    pub state_out: Option<PathBuf>,
}

impl ShardOptions {
    /// The shard to run (the whole run without `shard`) and where its state goes; a shard without
    /// a state file is refused (its partial result alone is not the metric).
    pub fn checked(&self) -> Result<(Shard, Option<&PathBuf>), OptionError> {
        match (self.shard, &self.state_out) {
            (Some(s), None) if !s.is_whole() => Err(OptionError::new(
                "state_out",
                format!("shard {s} computes only part of the run: give the file its mergeable state goes to"),
            )),
            (s, out) => Ok((s.unwrap_or(Shard::WHOLE), out.as_ref())),
        }
    }
}

/// The refusal of a run that has no mergeable state yet: `shard` and `state_out` are declared for
/// every run, and one that cannot honour them says so instead of ignoring them.
pub fn refuse_shards(run: &str, opts: &ShardOptions) -> Result<(), OptionError> {
    let field = match (opts.shard, &opts.state_out) {
        (None, None) => return Ok(()),
        (Some(_), _) => "shard",
        (None, Some(_)) => "state_out",
    };
    Err(OptionError::new(
        field,
        format!("{run} has no mergeable state yet (sharded: sample, siem, hodge, bounds, metrics --metric fd)"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_bad_ones_are_named() {
        assert_eq!(Shard::parse("2/4").unwrap(), Shard { index: 2, count: 4 });
        assert_eq!(Shard::parse(" 0 / 1 ").unwrap(), Shard::WHOLE);
        for (bad, why) in [
            ("5/4", "out of range"),
            ("4/4", "out of range"),
            ("0/0", "at least 1"),
            ("x/2", "index 'x'"),
            ("1/y", "count 'y'"),
            ("3", "expected I/K"),
            ("-1/2", "index '-1'"),
        ] {
            let e = Shard::parse(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("shard '{bad}'")) && e.contains(why), "{bad}: {e}");
        }
        let s: Shard = serde_json::from_str("[1, 3]").unwrap();
        assert_eq!((s, serde_json::to_string(&s).unwrap()), (Shard { index: 1, count: 3 }, "\"1/3\"".into()));
        assert_eq!(serde_json::from_str::<Shard>("\"1/3\"").unwrap(), s);
        assert!(serde_json::from_str::<Shard>("[3, 3]").unwrap_err().to_string().contains("out of range"));
    }

    #[test]
    fn the_ranges_of_k_shards_partition_the_work_in_order() {
        for n in [0usize, 1, 5, 100, 1001] {
            for k in [1usize, 2, 4, 7, 13] {
                let parts: Vec<_> = (0..k).map(|i| Shard::new(i, k).unwrap().range(n)).collect();
                assert_eq!(parts.first().unwrap().start, 0);
                assert_eq!(parts.last().unwrap().end, n);
                assert!(parts.windows(2).all(|w| w[0].end == w[1].start), "n={n} k={k}");
                let (lo, hi) = (parts.iter().map(|r| r.len()).min(), parts.iter().map(|r| r.len()).max());
                assert!(hi.unwrap() - lo.unwrap() <= 1);
            }
        }
    }

    #[test]
    fn a_shard_needs_a_state_file() {
        let o = ShardOptions { shard: Some(Shard::new(1, 2).unwrap()), state_out: None };
        assert_eq!(o.checked().unwrap_err().field, "state_out");
        let o = ShardOptions { shard: None, state_out: Some("s.json".into()) };
        assert_eq!(o.checked().unwrap().0, Shard::WHOLE);
    }
}
