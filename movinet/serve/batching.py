"""One model, many streams: steps of concurrent streams are gathered into one batched model call.

    scheduler = BatchScheduler(model, max_batch=16, window_s=0.004)
    await scheduler.start()
    output = await scheduler.step(clip, state)      # from each connection's task, one frame at a time
    await scheduler.stop()

A single worker thread owns the model. The scheduler takes the first waiting step, then gathers
more for at most `window_s` (or until every active stream has one waiting, or `max_batch`), and
runs them as one `ServedModel.step_batch`. Steps that arrive while the model is busy simply queue
and go together into the next call, so under load the batch fills by itself and the window only
costs latency when the server is nearly idle. Each stream keeps its own state and has at most one
step in flight (its connection awaits each step), so a batch never holds one stream twice.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from movinet.serve.model import ServedModel, State


@dataclass(frozen=True)
class StepOutput:
    """The result of one stream's step.

    Attributes:
        logits: (num_classes,) float32.
        state: the stream's new state.
        latency_ms: duration of the model call the step was part of.
        batch_size: streams in that call.
        wait_ms: time from submission to the start of the model call.
    """

    logits: np.ndarray
    state: State
    latency_ms: float
    batch_size: int
    wait_ms: float


@dataclass
class _Request:
    clip: np.ndarray
    state: State
    future: asyncio.Future
    submitted: float = field(default_factory=time.perf_counter)


@dataclass
class SchedulerStats:
    """Counters for `GET /health` and the benchmark."""

    steps: int = 0
    calls: int = 0
    model_seconds: float = 0.0
    largest_batch: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "model_calls": self.calls, "largest_batch": self.largest_batch,
                "mean_batch": round(self.steps / self.calls, 3) if self.calls else 0.0,
                "model_seconds": round(self.model_seconds, 3)}


class SchedulerStopped(RuntimeError):
    """A step was submitted to a scheduler that is not running (the server is shutting down)."""


class BatchScheduler:
    """Gathers concurrent single-frame stream steps into batched model calls.

    Args:
        model: the served stream model.
        max_batch: most streams per model call (1: every step alone, i.e. no batching).
        window_s: how long the first waiting step waits for others to join its call.
    """

    def __init__(self, model: ServedModel, *, max_batch: int = 16, window_s: float = 0.004) -> None:
        if max_batch < 1 or window_s < 0:
            raise ValueError(f"max_batch must be >= 1 and window_s >= 0, got {max_batch} and {window_s}")
        self.model, self.max_batch, self.window_s = model, max_batch, window_s
        self.stats = SchedulerStats()
        self.active_streams = 0  # kept by the connections: no need to wait for more than this many
        self._queue: asyncio.Queue[_Request] | None = None
        self._task: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Start the worker (inside the server's event loop)."""
        self._queue = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="movinet-model")
        self._task = asyncio.create_task(self._run(), name="movinet-batch-scheduler")

    async def stop(self) -> None:
        """Stop the worker; steps still waiting fail with SchedulerStopped."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._queue is not None:
            while not self._queue.empty():
                request = self._queue.get_nowait()
                if not request.future.done():
                    request.future.set_exception(SchedulerStopped("the server is shutting down"))
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def step(self, clip: np.ndarray, state: State) -> StepOutput:
        """Classify one stream's next frame(s).

        Args:
            clip: (3, t, height, width) float32, preprocessed (`ServedModel.prepare_frame`).
            state: the stream's current state (batch 1).

        Returns:
            StepOutput with the logits and the new state.

        Raises:
            SchedulerStopped: the scheduler is not running.
            Exception: whatever the model raised for the batch this step was in.
        """
        if not self.running or self._queue is None:
            raise SchedulerStopped("the model scheduler is not running")
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Request(clip, state, future))
        return await future

    async def classify_clip(self, clip: np.ndarray) -> tuple[np.ndarray, float]:
        """Whole-clip logits of a fresh stream fed `clip` frame by frame (an upload).

        Each frame is one step among the streams' steps, so a clip delays a live stream by at most
        one model call, never by the whole clip; for a causal model the result equals one call on
        the whole clip.

        Args:
            clip: (3, T, height, width) float32, preprocessed.

        Returns:
            ((num_classes,) float32 logits after the last frame, seconds of model calls it took part in).

        Raises:
            SchedulerStopped: the scheduler stopped.
        """
        state, model_seconds = self.model.new_state(), 0.0
        output = None
        for index in range(clip.shape[1]):
            output = await self.step(clip[:, index:index + 1], state)
            state, model_seconds = output.state, model_seconds + output.latency_ms / 1000.0
        if output is None:
            raise ValueError("an empty clip has no logits")
        return output.logits, model_seconds

    # -- the worker --------------------------------------------------------------------------------

    async def _run(self) -> None:
        assert self._queue is not None  # set by start()
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._gather(self._queue)
            if not batch:
                continue
            started = time.perf_counter()
            try:
                logits, states = await loop.run_in_executor(
                    self._executor, self.model.step_batch, [r.clip for r in batch], [r.state for r in batch])
            except Exception as error:  # noqa: BLE001 - reported to every stream of the batch
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(error)
                continue
            latency = time.perf_counter() - started
            self._record(len(batch), latency)
            for index, request in enumerate(batch):
                if not request.future.done():  # a closed connection's step is simply discarded
                    request.future.set_result(StepOutput(
                        logits[index], states[index], latency * 1000.0, len(batch),
                        (started - request.submitted) * 1000.0))

    async def _gather(self, queue: asyncio.Queue[_Request]) -> list[_Request]:
        """The next batch: what is waiting now, plus what arrives within the window."""
        batch = [await queue.get()]
        deadline = time.perf_counter() + self.window_s
        while len(batch) < self.max_batch:
            if not queue.empty():
                batch.append(queue.get_nowait())
                continue
            remaining = deadline - time.perf_counter()
            if remaining <= 0 or len(batch) >= max(1, self.active_streams):
                break
            try:
                batch.append(await asyncio.wait_for(queue.get(), remaining))
            except asyncio.TimeoutError:
                break
        # Steps of connections that closed meanwhile are dropped before they cost model time.
        return [request for request in batch if not request.future.done()]

    def _record(self, batch_size: int, seconds: float) -> None:
        stats = self.stats
        stats.steps += batch_size
        stats.calls += 1
        stats.model_seconds += seconds
        stats.largest_batch = max(stats.largest_batch, batch_size)
