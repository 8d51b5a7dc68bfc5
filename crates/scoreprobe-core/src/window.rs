//! Timestep windows on a sampler's step grid, always named by index (SPEC §1): `900..999`
//! is the inclusive range of step indices 900 to 999, i.e. the first 100 steps from noise when
//! the grid has 1000 steps. Index k is the step from t_{k+1} down to t_k (k = 0 ends at t_min).

use crate::error::CoreError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Serialises as `{"lo", "hi"}` (the reports' form); deserialises from that, from the text
/// `"900..999"` or from a pair `[900, 999]` (what Python's `window=(900, 999)` becomes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Window {
    /// Lowest step index (closest to data), inclusive.
    pub lo: usize,
    /// Highest step index (closest to noise), inclusive.
    pub hi: usize,
}

impl Window {
    /// The whole grid of `steps` steps.
    pub fn full(steps: usize) -> Self {
        Window { lo: 0, hi: steps.saturating_sub(1) }
    }

    /// Parses `a..b` (inclusive of b, as in `900..999`) or `a..=b`.
    pub fn parse(text: &str) -> Result<Self, CoreError> {
        let input = || format!("window '{text}'");
        let (a, b) = text
            .split_once("..=")
            .or_else(|| text.split_once(".."))
            .ok_or_else(|| CoreError::invalid(input(), "expected 'LO..HI' step indices, e.g. '900..999'"))?;
        let index = |s: &str| {
            s.trim().parse::<usize>().map_err(|_| CoreError::invalid(input(), format!("'{s}' is not a step index")))
        };
        let (lo, hi) = (index(a)?, index(b)?);
        if lo > hi {
            return Err(CoreError::invalid(input(), format!("empty: LO={lo} > HI={hi}")));
        }
        Ok(Window { lo, hi })
    }

    /// Checks the window fits a grid of `steps` steps.
    pub fn check(&self, steps: usize) -> Result<(), CoreError> {
        if self.hi >= steps {
            return Err(CoreError::invalid(
                format!("window {self}"),
                format!(
                    "lies outside the sampler's grid of {steps} steps (valid indices 0..{})",
                    steps.saturating_sub(1)
                ),
            ));
        }
        Ok(())
    }

    pub fn contains(&self, k: usize) -> bool {
        (self.lo..=self.hi).contains(&k)
    }

    pub fn len(&self) -> usize {
        self.hi - self.lo + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

impl FromStr for Window {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        Window::parse(s)
    }
}

/// The forms a window is written in (see [`Window`]).
#[derive(Deserialize)]
#[serde(untagged)]
enum WindowForm {
    Text(String),
    Pair(usize, usize),
    Fields { lo: usize, hi: usize },
}

impl<'de> Deserialize<'de> for Window {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let pair = |lo: usize, hi: usize| Window::parse(&format!("{lo}..{hi}"));
        let w = match WindowForm::deserialize(d).map_err(|_| {
            serde::de::Error::custom("expected step indices 'LO..HI' (e.g. '900..999') or a pair (LO, HI)")
        })? {
            WindowForm::Text(t) => Window::parse(&t),
            WindowForm::Pair(lo, hi) | WindowForm::Fields { lo, hi } => pair(lo, hi),
        };
        w.map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.lo, self.hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks() {
        let w = Window::parse("900..999").unwrap();
        assert_eq!((w.lo, w.hi, w.len()), (900, 999, 100));
        assert!(w.check(1000).is_ok());
        assert!(w.check(500).unwrap_err().to_string().contains("outside"));
        assert_eq!(Window::parse("3..=5").unwrap(), Window { lo: 3, hi: 5 });
        assert!(Window::parse("10..2").unwrap_err().to_string().contains("empty"));
        assert!(Window::parse("ten").is_err());
        assert_eq!(Window::full(1000).to_string(), "0..999");
        // the text, a pair (Python's tuple) and the serialised form all deserialise
        for json in [r#""900..999""#, "[900, 999]", r#"{"lo": 900, "hi": 999}"#] {
            assert_eq!(serde_json::from_str::<Window>(json).unwrap(), Window { lo: 900, hi: 999 }, "{json}");
        }
        assert!(serde_json::from_str::<Window>("[60, 50]").unwrap_err().to_string().contains("60..50"));
        assert!(serde_json::from_str::<Window>("[1, 2, 3]").unwrap_err().to_string().contains("LO..HI"));
    }
}
