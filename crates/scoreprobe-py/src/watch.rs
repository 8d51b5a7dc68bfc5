//! Long runs from Python: the Rust work on a worker thread with the GIL released, the calling
//! thread watching it.
//!
//! The calling thread waits in short slices with the GIL released; between slices it takes the
//! GIL to run Python's signal handlers (`KeyboardInterrupt` is raised only on the main thread, so
//! the work itself could never see it) and to draw the progress bar. On Ctrl-C it raises the
//! [`Watch`]'s cancel flag; every score batch checks the flag first and fails with [`Cancelled`],
//! so the run stops within one batch and the `KeyboardInterrupt` is raised in Python.
//!
//! Score models may be called from rayon threads: they only read atomics here, and never hold a
//! Rust lock while they wait for the GIL (the only lock, the progress sink, is used by the
//! watching thread alone).

use pyo3::prelude::*;
use scoreprobe_core::model::ModelError;
use scoreprobe_core::ScoreModel;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// How often the watching thread looks at signals and progress.
const POLL: Duration = Duration::from_millis(50);

/// The run was interrupted (Ctrl-C): the source of the score model's error on the way out.
#[derive(Debug)]
pub struct Cancelled;

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "interrupted (KeyboardInterrupt)")
    }
}

impl std::error::Error for Cancelled {}

/// Shared between the watching thread and the score models of one run.
#[derive(Default)]
pub struct Watch {
    cancelled: AtomicBool,
    /// Score-model calls (batches of rows at one time) so far.
    calls: AtomicUsize,
    /// Rows evaluated so far.
    rows: AtomicUsize,
}

impl Watch {
    /// Fails when the run was cancelled; score models call this before each batch.
    pub fn check(&self, model: &str) -> Result<(), ModelError> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Err(ModelError::Failed { model: model.to_string(), source: Box::new(Cancelled) });
        }
        Ok(())
    }

    /// Counts one evaluated batch of `rows` rows.
    pub fn count(&self, rows: usize) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.rows.fetch_add(rows, Ordering::Relaxed);
    }
}

/// A Rust score model (a problem spec's synthetic model or checkpoint) seen through a [`Watch`]:
/// the same scores, plus cancellation and progress.
pub struct Watched<'a> {
    pub inner: &'a dyn ScoreModel,
    pub watch: &'a Watch,
}

impl ScoreModel for Watched<'_> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn score(&self, x: ndarray::ArrayView2<f64>, t: f64) -> Result<ndarray::Array2<f64>, ModelError> {
        self.watch.check(&self.inner.describe())?;
        let s = self.inner.score(x, t)?;
        self.watch.count(x.nrows());
        Ok(s)
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// Runs `work` on a worker thread with the GIL released, watching for Ctrl-C and drawing progress
/// through `progress` (a Python callable `progress(calls, rows)` given the running totals; None: no
/// bar). A `KeyboardInterrupt` (or any exception from a signal handler) cancels the run and is
/// raised once the worker has stopped; otherwise `work`'s result is returned.
pub fn run_watched<T: Send>(
    py: Python<'_>,
    progress: Option<&Bound<'_, PyAny>>,
    work: impl FnOnce(&Watch) -> T + Send,
) -> PyResult<T> {
    let watch = Watch::default();
    let mut interrupt: Option<PyErr> = None;
    let mut shown = (usize::MAX, usize::MAX);
    // the worker says it is done through a condition variable; the watcher waits on it with the
    // GIL released, and the worker takes its lock only to flip the flag (never waiting for the GIL)
    let finished = (Mutex::new(false), Condvar::new());
    let result = std::thread::scope(|scope| -> PyResult<T> {
        let (w, f) = (&watch, &finished);
        let handle = scope.spawn(move || {
            let out = work(w);
            *f.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
            f.1.notify_all();
            out
        });
        loop {
            let done = py.detach(|| {
                let guard = finished.0.lock().unwrap_or_else(|e| e.into_inner());
                let (guard, _) =
                    finished.1.wait_timeout_while(guard, POLL, |done| !*done).unwrap_or_else(|e| e.into_inner());
                *guard
            }) || handle.is_finished();
            if let Some(p) = progress {
                let now = (watch.calls.load(Ordering::Relaxed), watch.rows.load(Ordering::Relaxed));
                if now != shown {
                    shown = now;
                    // a failing progress callback must not lose the run: it is reported after it
                    if let Err(e) = p.call1(now) {
                        interrupt.get_or_insert(e);
                        watch.cancelled.store(true, Ordering::Relaxed);
                    }
                }
            }
            if done {
                break;
            }
            if interrupt.is_none() {
                if let Err(e) = py.check_signals() {
                    interrupt = Some(e);
                    watch.cancelled.store(true, Ordering::Relaxed);
                }
            }
        }
        let out = py.detach(|| handle.join());
        out.map_err(|_| pyo3::exceptions::PyRuntimeError::new_err("scoreprobe: the worker thread panicked"))
    })?;
    match interrupt {
        Some(e) => Err(e),
        None => Ok(result),
    }
}
