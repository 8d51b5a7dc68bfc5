//! `scoreprobe train --monitor METRIC`: the projection-form SIEM of the EMA network every K steps,
//! on draws of the training data fixed by `--monitor-seed` (common random numbers: successive
//! values are paired), appended to `OUT/monitor.jsonl` in the schema of Python's `sp.Monitor`
//! ([`MonitorRecord`], docs/monitor.md). The per-draw influence terms of the last evaluation are
//! kept in `OUT/monitor-state.json` (replaced atomically) so that `--resume` continues the paired
//! differences; steps already in `monitor.jsonl` are not evaluated again (a resumed run repeats
//! the steps after its last checkpoint).

use anyhow::{bail, Context, Result};
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use scoreprobe_core::distribution::named_target;
use scoreprobe_core::window::Window;
use scoreprobe_core::{Schedule, ScoreModel};
use scoreprobe_nn::{StepView, TrainData};
use scoreprobe_siem::monitor::{
    complete_lines, default_test_fn, influence, influence_se, paired_difference, parse_records, parse_state,
    MonitorKey, MonitorRecord, MonitorState, StateEntry,
};
use scoreprobe_siem::{run_projection, SiemForm, SiemOptions, SiemReference, TestFnKind};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Metrics the trainer can monitor (those of `sp.monitor.METRICS`).
pub const METRICS: &[&str] = &["siem-projection", "siem-radial", "siem-quadratic"];
/// At most this many training rows are kept as the monitor's data, chosen once with the seed
/// (as `sp.Monitor`'s `reference_rows`): CIFAR-10 in f64 would be 1.2 GB.
pub const REFERENCE_ROWS: usize = 10_000;
const JSONL: &str = "monitor.jsonl";
const STATE: &str = "monitor-state.json";

/// The monitor's settings from the command line.
pub struct MonitorSettings {
    pub metric: String,
    pub every: u64,
    pub n: usize,
    pub window: String,
    pub seed: u64,
    /// The largest share of the wall time the evaluations may take (1: no limit); see
    /// [`scoreprobe_siem::monitor::widened_stride`].
    pub max_budget: f64,
    /// How the command names its flags: `--monitor-` (train) or `--` (monitor), for messages.
    pub flags: &'static str,
}

impl MonitorSettings {
    fn flag(&self, name: &str) -> String {
        match (self.flags, name) {
            ("--", "monitor") => "--metric".into(),
            ("--monitor-", "monitor") => "--monitor".into(),
            (p, n) => format!("{p}{n}"),
        }
    }
}

/// The reference the monitor draws from: training rows, or a named target's exact law.
enum Data {
    Rows(Arc<Array2<f64>>),
    Target(scoreprobe_core::GaussianMixture),
}

struct Previous {
    value: f64,
    psi: Vec<f64>,
}

pub struct TrainMonitor {
    s: MonitorSettings,
    family: TestFnKind,
    data: Data,
    schedule: Schedule,
    dir: PathBuf,
    prev: Option<Previous>,
    best: Option<(u64, f64)>,
    last_step: Option<u64>,
    last_end: Option<Instant>,
    /// Evaluations fall on multiples of `every · stride`: widened when one costs over `max_budget`.
    stride: u64,
    /// Evaluating during training (a budget is reported), or afterwards on checkpoints.
    live: bool,
}

impl TrainMonitor {
    /// Checks the settings, picks the reference rows and reads back an earlier run's records when
    /// `resume` (without it, a folder that already holds records is refused).
    pub fn new(s: MonitorSettings, data: &TrainData, schedule: Schedule, dir: &Path, resume: bool) -> Result<Self> {
        if !METRICS.contains(&s.metric.as_str()) {
            bail!("{} {}: unknown metric; choose one of {}", s.flag("monitor"), s.metric, METRICS.join(", "));
        }
        anyhow::ensure!(s.every >= 1, "{}: must be at least 1", s.flag("every"));
        anyhow::ensure!(
            s.max_budget > 0.0 && s.max_budget <= 1.0,
            "{}: a share of the wall time in (0, 1] (1: no limit), got {}",
            s.flag("max-budget"),
            s.max_budget
        );
        anyhow::ensure!(s.n >= 4, "{}: the projection form needs at least 4 draws per time, got {}", s.flag("n"), s.n);
        // a bad window is refused now, not at the first evaluation
        let within = |e: scoreprobe_core::CoreError| anyhow::anyhow!(e.within(&s.flag("window")));
        Window::parse(&s.window).and_then(|w| w.check(schedule.default_steps())).map_err(within)?;
        let d = data.shape.dim();
        let family = match s.metric.as_str() {
            "siem-projection" => default_test_fn(d),
            "siem-radial" => TestFnKind::default(),
            _ => TestFnKind::Quadratic,
        };
        let data = match data.len() {
            None => Data::Target(named_target(&data.name)?),
            Some(len) => Data::Rows(Arc::new(reference_rows(data, len, s.seed)?)),
        };
        std::fs::create_dir_all(dir)
            .with_context(|| format!("--out {}: cannot create the run folder", dir.display()))?;
        let mut m = TrainMonitor {
            s,
            family,
            data,
            schedule,
            dir: dir.to_path_buf(),
            prev: None,
            best: None,
            last_step: None,
            last_end: None,
            stride: 1,
            live: true,
        };
        m.read_back(resume)?;
        Ok(m)
    }

    /// Evaluations of saved checkpoints after training (`scoreprobe monitor`): no budget.
    pub fn after_training(mut self) -> Self {
        self.live = false;
        self
    }

    fn options(&self) -> SiemOptions {
        SiemOptions {
            form: Some(SiemForm::Projection),
            // checked when the monitor was built
            window: Window::parse(&self.s.window).ok(),
            test_fn: self.family,
            n: self.s.n,
            seed: self.s.seed,
            ..Default::default()
        }
    }

    fn reference(&self) -> SiemReference<'_> {
        match &self.data {
            Data::Rows(rows) => SiemReference::Samples(rows),
            Data::Target(target) => SiemReference::Exact { target, synthetic: None },
        }
    }

    /// Earlier records (resume): last step, best step and, when the state file matches the last
    /// line, the influence terms the next value is paired with.
    fn read_back(&mut self, resume: bool) -> Result<()> {
        let path = self.dir.join(JSONL);
        drop_partial_line(&path)?;
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("{}: cannot read", path.display())),
        };
        let records = parse_records(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if !resume && !records.is_empty() {
            bail!("{}: holds the records of an earlier run; pass --resume or choose another folder", path.display());
        }
        let state = read_state(&self.dir.join(STATE))?;
        let key = MonitorKey {
            metric: &self.s.metric,
            window: &self.s.window,
            n: self.s.n,
            seed: self.s.seed,
            test_fn: self.family.name(),
        };
        let resumed = scoreprobe_siem::monitor::resume(&records, &state, &key)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        self.last_step = resumed.last_step;
        self.best = resumed.best;
        self.prev = resumed.previous.map(|(value, psi)| Previous { value, psi });
        Ok(())
    }

    /// The observer of [`scoreprobe_nn::train_observed`]: evaluates the EMA weights when due.
    pub fn observe(&mut self, view: &StepView<'_>) -> Result<()> {
        if !self.due(view.step) {
            return Ok(());
        }
        let start = Instant::now();
        let model = view.ema_model()?;
        self.evaluate(view.step, &model, start)
    }

    /// Whether `step` is evaluated: a multiple of the spacing (`every`, widened when an
    /// evaluation costs over the budget) after the last recorded step.
    pub fn due(&self, step: u64) -> bool {
        step.is_multiple_of(self.s.every.saturating_mul(self.stride)) && self.is_new(step)
    }

    /// Widens the spacing when the evaluation at `step` took more than `max_budget` of the time
    /// since the previous one ended.
    fn keep_budget(&mut self, step: u64, seconds: f64, budget: f64) {
        let stride = scoreprobe_siem::monitor::widened_stride(self.stride, budget, self.s.max_budget);
        if stride > self.stride {
            self.stride = stride;
            eprintln!(
                "monitor: the evaluation at step {step} took {seconds:.1} s, {:.1} % of the time since the previous one \
                 ({} {}): evaluating every {} steps from now on",
                100.0 * budget,
                self.s.flag("max-budget"),
                self.s.max_budget,
                self.s.every.saturating_mul(stride)
            );
        }
    }

    /// Whether `step` comes after the last recorded step (records stay in step order, once each).
    pub fn is_new(&self, step: u64) -> bool {
        self.last_step.is_none_or(|s| step > s)
    }

    /// Evaluates `model` as the state after `step` (`start`: when the evaluation began, model
    /// set-up included) and appends its record.
    pub fn evaluate(&mut self, step: u64, model: &dyn ScoreModel, start: Instant) -> Result<()> {
        let report = run_projection(model, &self.schedule, self.reference(), &self.options())
            .with_context(|| format!("monitor {} at step {step}", self.s.metric))?;
        let seconds = start.elapsed().as_secs_f64();
        let psi = influence(report.siem, &report.leave_one_out);
        let record = self.record(step, report.siem, &psi, seconds)?;
        self.write(&record, &psi)?;
        if let Some(budget) = record.budget {
            self.keep_budget(step, seconds, budget);
        }
        self.prev = Some(Previous { value: report.siem, psi });
        self.last_step = Some(step);
        self.last_end = Some(Instant::now());
        Ok(())
    }

    fn record(&mut self, step: u64, value: f64, psi: &[f64], seconds: f64) -> Result<MonitorRecord> {
        let pair = match &self.prev {
            Some(p) if p.psi.len() == psi.len() => Some(paired_difference(value, psi, p.value, &p.psi)?),
            _ => None,
        };
        if self.best.is_none_or(|(_, v)| value < v) {
            self.best = Some((step, value));
        }
        let (best_step, best_value) = self.best.expect("set above");
        // no training between evaluations of a backfill: no budget to report
        let budget = self.last_end.filter(|_| self.live).map(|t| seconds / t.elapsed().as_secs_f64().max(1e-12));
        let wall_time =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        Ok(MonitorRecord {
            step,
            metric: self.s.metric.clone(),
            value,
            se: influence_se(psi),
            diff: pair.as_ref().map(|p| p.diff),
            diff_se: pair.as_ref().map(|p| p.se),
            diff_z: pair.as_ref().and_then(|p| p.z),
            best_step,
            best_value,
            seconds,
            budget,
            window: self.s.window.clone(),
            n: self.s.n,
            seed: self.s.seed,
            test_fn: self.family.name().into(),
            wall_time,
        })
    }

    /// The state file first (atomically), then the line in one write, synced: a kill between the
    /// two leaves a state newer than the last line, which [`Self::read_back`] detects.
    fn write(&self, record: &MonitorRecord, psi: &[f64]) -> Result<()> {
        let mut state = MonitorState::new();
        state.insert(self.s.metric.clone(), StateEntry { step: record.step, influence: psi.to_vec() });
        let path = self.dir.join(STATE);
        let tmp = self.dir.join(format!("{STATE}.tmp"));
        std::fs::write(&tmp, serde_json::to_vec(&state)?)
            .with_context(|| format!("{}: cannot write", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("{}: cannot replace", path.display()))?;
        let path = self.dir.join(JSONL);
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("{}: cannot open for appending", path.display()))?;
        f.write_all(&line).and_then(|_| f.sync_data()).with_context(|| format!("{}: cannot write", path.display()))?;
        Ok(())
    }
}

/// At most [`REFERENCE_ROWS`] distinct training rows, chosen once with `seed`.
fn reference_rows(data: &TrainData, len: usize, seed: u64) -> Result<Array2<f64>> {
    let mut idx: Vec<usize> = if len > REFERENCE_ROWS {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x4d4f_4e49); // "MONI"
        rand::seq::index::sample(&mut rng, len, REFERENCE_ROWS).into_vec()
    } else {
        (0..len).collect()
    };
    idx.sort_unstable();
    data.rows_at(&idx).context("the monitor's reference rows")
}

fn read_state(path: &Path) -> Result<MonitorState> {
    match std::fs::read(path) {
        Ok(b) => parse_state(&b).map_err(|e| anyhow::anyhow!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(MonitorState::new()),
        Err(e) => Err(e).with_context(|| format!("{}: cannot read", path.display())),
    }
}

/// Cuts a last line without its newline (a write cut short), so the next record starts a line.
fn drop_partial_line(path: &Path) -> Result<()> {
    let Ok(bytes) = std::fs::read(path) else { return Ok(()) };
    let keep = complete_lines(&bytes);
    if keep < bytes.len() {
        let f = std::fs::OpenOptions::new().write(true).open(path)?;
        f.set_len(keep as u64).with_context(|| format!("{}: cannot cut a partial line", path.display()))?;
    }
    Ok(())
}
