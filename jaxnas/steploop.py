"""The step loop shared by the long-running trainers (``jaxnas darts`` and ``jaxnas train``).

Both run a compiled step from a checkpointed step count to a total, keep the device metrics of
an epoch without a host sync per step, write one record per epoch, checkpoint every K steps and
at the end, and report images/s measured after a sync from the steps after the first (which
includes compilation). :func:`run_steps` is that loop; what differs (the step's inputs, the
metric sums, the epoch record, what a checkpoint holds) comes in as callbacks.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import jax

__all__ = ["run_steps"]


def run_steps(state: Any, step: Callable[[Any], tuple[Any, Any]], *, start: int, total: int,
              steps_per_epoch: int, ckpt_every: int, images_per_step: int, name: str,
              show: bool, add_metrics: Callable[[Any], None],
              end_epoch: Callable[[Any, int, float | None], str | None],
              save: Callable[[int, Any], None]) -> tuple[Any, float | None]:
    """Runs steps ``start .. total - 1`` of a resumable training loop.

    Args:
        state: the training state at step ``start``.
        step: ``state -> (state, metrics)``; the caller's closure draws the batches.
        start, total: the first step to run and the step count to reach.
        steps_per_epoch: an epoch ends when the step count is a multiple of it.
        ckpt_every: a checkpoint is saved when the step count is a multiple of it, and at the
            end.
        images_per_step: for the images/s figure.
        name: the progress bar's label (stderr).
        show: whether to show the progress bar and the epoch lines.
        add_metrics: called with each step's metrics, fetched to the host in step order, before
            every epoch end and checkpoint (the metrics stay on the device until then).
        end_epoch: ``(state, done, images_per_second) -> line or None``, at each epoch end;
            the caller writes its record and resets its sums; a returned line is printed.
        save: ``(done, state)``, at each checkpoint.

    Returns:
        ``(state, images_per_second)``, the rate measured at the last epoch end (or at the end
        of a run that stops within an epoch); None when fewer than two steps ran.
    """
    from tqdm import tqdm

    pending: list[Any] = []

    def flush() -> None:
        for m in jax.device_get(pending):
            add_metrics(m)
        pending.clear()

    bar = tqdm(total=total, initial=start, file=sys.stderr, disable=not show, desc=name,
               unit="step", dynamic_ncols=True, smoothing=0)
    t_first: float | None = None
    ips: float | None = None

    def throughput(done: int) -> float | None:
        # after a sync: steps are dispatched asynchronously, so a rate taken at dispatch time
        # would count queued, unfinished steps; includes metric and checkpoint overhead
        jax.block_until_ready(state)
        if done - start < 2:
            return ips
        rate = images_per_step * (done - start - 1) / max(time.time() - t_first, 1e-9)
        bar.set_postfix(img_s=f"{rate:.0f}", refresh=False)
        return rate

    if show and total > start:
        bar.set_description_str(f"{name}: compiling the step")
    for t in range(start, total):
        state, m = step(state)
        pending.append(m)
        if t == start:
            jax.block_until_ready(state)
            t_first = time.time()
            # rate and ETA from the steps after the first, which included compilation
            bar.set_description_str(name, refresh=False)
            bar.initial, bar.start_t = bar.n + 1, t_first
        bar.update(1)
        done = t + 1
        if done % steps_per_epoch == 0:
            flush()
            ips = throughput(done)
            line = end_epoch(state, done, ips)
            if show and line:
                bar.write(line, file=sys.stderr)
        if done == total and done % steps_per_epoch:
            ips = throughput(done)  # the run's one figure, taken before the final checkpoint
        if done % ckpt_every == 0 or done == total:
            flush()
            save(done, state)
    flush()
    bar.close()
    return state, ips
