//! Failures stop SIEM at once and reach the caller whole: a score model that raises its own error
//! type is found again through `source()`, a model returning NaN names the sampler step, and an
//! error source that fails stops the sampler at that step instead of sampling on.

use ndarray::{Array2, ArrayView2};
use scoreprobe_core::distribution::named_target;
use scoreprobe_core::model::synthetic::SyntheticModel;
use scoreprobe_core::window::Window;
use scoreprobe_core::{CoreError, ModelError, Schedule, ScoreModel};
use scoreprobe_siem::*;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A user's own error type, e.g. what a Python callable raised.
#[derive(Debug, PartialEq)]
struct DeviceLost {
    device: u32,
}
impl std::fmt::Display for DeviceLost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "device {} lost", self.device)
    }
}
impl std::error::Error for DeviceLost {}

/// ring8's exact score, failing (or returning NaN) from `fail_below` downwards in t; counts calls.
struct Flaky {
    inner: SyntheticModel,
    fail_below: f64,
    nan: bool,
    calls: AtomicUsize,
}

impl Flaky {
    fn new(fail_below: f64, nan: bool) -> Self {
        let inner = SyntheticModel::exact(named_target("ring8").unwrap(), Schedule::vp_default());
        Self { inner, fail_below, nan, calls: AtomicUsize::new(0) }
    }
}

impl ScoreModel for Flaky {
    fn dim(&self) -> usize {
        2
    }
    fn score(&self, x: ArrayView2<f64>, t: f64) -> Result<Array2<f64>, ModelError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut s = self.inner.score(x, t)?;
        if t < self.fail_below {
            if self.nan {
                s[[3, 0]] = f64::NAN;
            } else {
                return Err(ModelError::failed(self.describe(), DeviceLost { device: 3 }));
            }
        }
        Ok(s)
    }
    fn describe(&self) -> String {
        "flaky-net".into()
    }
}

fn config() -> SiemConfig {
    // 100 steps on [1e-3, 1]: step k evaluates the score at t_{k+1} = 1e-3 + 0.999 (k + 1)/100
    SiemConfig::new(2, 100, 1e-3, 20, 4)
}

fn oracle(m: &Flaky) -> OracleSource {
    OracleSource::for_target(m.inner.target.clone(), m.inner.schedule.clone())
}

#[test]
fn a_models_own_error_is_reachable_through_source() {
    let m = Flaky::new(0.5, false);
    let err = estimate_siem(&m, &m.inner.schedule, &mut oracle(&m), &config()).unwrap_err();
    let mut chain = vec![];
    let mut found = None;
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(e) = cause {
        chain.push(e.to_string());
        if let Some(d) = e.downcast_ref::<DeviceLost>() {
            found = Some(d);
        }
        if let Some(ModelError::Failed { model, .. }) = e.downcast_ref::<ModelError>() {
            assert_eq!(model, "flaky-net");
        }
        cause = e.source();
    }
    assert_eq!(found, Some(&DeviceLost { device: 3 }), "chain: {chain:?}");
    assert!(chain.iter().any(|c| c.contains("sampler step 48")), "{chain:?}");
    // the run stopped at the failing evaluation: steps 99 down to 48, nothing after
    assert_eq!(m.calls.load(Ordering::SeqCst), 52);
}

#[test]
fn a_nan_score_stops_siem_naming_the_step_and_the_model() {
    let m = Flaky::new(0.5, true);
    let err = estimate_siem(&m, &m.inner.schedule, &mut oracle(&m), &config()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("step 48") && msg.contains("flaky-net") && msg.contains("non-finite"), "{msg}");
    assert!(
        matches!(
            err,
            SiemError::Core(CoreError::Sampling { step: 48, source: ModelError::NonFinite { row: 3, col: 0, .. }, .. })
        ),
        "{err:?}"
    );
    assert_eq!(m.calls.load(Ordering::SeqCst), 52);
}

/// The exact oracle, failing on its `fail_at`-th call.
struct FailingSource {
    inner: OracleSource,
    calls: usize,
    fail_at: usize,
}

impl ErrorSource for FailingSource {
    fn name(&self) -> &'static str {
        "failing"
    }
    fn error(&mut self, x: ArrayView2<f64>, t: f64, score: ArrayView2<f64>) -> Result<Array2<f64>, SiemError> {
        self.calls += 1;
        if self.calls == self.fail_at {
            return Err(SiemError::invalid("failing", format!("gave up at call {}", self.calls)));
        }
        self.inner.error(x, t, score)
    }
}

#[test]
fn a_failing_error_source_stops_the_sampler_at_that_step() {
    let m = Flaky::new(0.0, false);
    let mut src = FailingSource { inner: oracle(&m), calls: 0, fail_at: 5 };
    let mut cfg = config();
    cfg.window = Window::parse("0..99").unwrap();
    let err = estimate_siem(&m, &m.inner.schedule, &mut src, &cfg).unwrap_err();
    assert!(err.to_string().contains("gave up at call 5"), "{err}");
    assert_eq!(src.calls, 5, "the source is not called again after its failure");
    assert_eq!(m.calls.load(Ordering::SeqCst), 5, "the sampler stopped at the failing step");
}
