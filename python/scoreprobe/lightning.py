"""``ScoreprobeCallback``: :class:`scoreprobe.Monitor` as a PyTorch Lightning callback.

An example of wiring the monitor into a framework (docs/monitor.md); it needs ``lightning`` (or
the older ``pytorch_lightning``) and is not imported by ``import scoreprobe``::

    from scoreprobe.lightning import ScoreprobeCallback
    cb = ScoreprobeCallback(sp.Monitor(data, sp.Schedule.vp(), every=1000, log_dir=trainer_dir),
                            score_fn=lambda module: (lambda x, t: module.eps_numpy(x, t)))
    trainer = L.Trainer(callbacks=[cb])

``score_fn(pl_module)`` returns the callable the monitor evaluates (numpy in, numpy out, as
``sp.ScoreFunction`` expects); use the EMA weights there if that is what you sample with. Only
global rank 0 evaluates: the draws are the same on every rank, so one evaluation suffices.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from .monitor import Monitor

try:  # lightning >= 2 ships as `lightning`; older releases as `pytorch_lightning`
    import lightning.pytorch as _pl
except ImportError:  # pragma: no cover - depends on what is installed
    import pytorch_lightning as _pl  # type: ignore[no-redef]


class ScoreprobeCallback(_pl.Callback):
    """Calls ``monitor.step(trainer.global_step, score_fn(pl_module))`` after each training batch
    on global rank 0, and logs the record's value through ``pl_module.log`` when one is made."""

    def __init__(self, monitor: Monitor, score_fn: Callable[[Any], Any]) -> None:
        self.monitor = monitor
        self.score_fn = score_fn
        self.last: Optional[dict] = None

    def on_train_batch_end(self, trainer: Any, pl_module: Any, *args: Any, **kwargs: Any) -> None:
        step = trainer.global_step
        if trainer.global_rank != 0 or not self.monitor.due(step):
            return
        was_training = pl_module.training
        pl_module.eval()
        try:
            rec = self.monitor.step(step, self.score_fn(pl_module))
        finally:
            pl_module.train(was_training)
        if rec is not None:
            self.last = rec
            pl_module.log(f"scoreprobe/{rec['metric']}", rec["value"], rank_zero_only=True)

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self.monitor.close()
