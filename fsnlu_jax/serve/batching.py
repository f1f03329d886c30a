"""Request batching for the server: concurrent requests collected for a few ms, run as one call.

A request waits at most ``max_wait_s`` after the first one of its batch
arrived (or until ``max_rows`` rows are waiting); the batch then goes to the
predictor in one call, which pads it by length bucket
(:meth:`fsnlu_jax.serve.MultitaskPredictor.predict`), on one worker thread:
the model runs one batch at a time while the event loop keeps accepting and
answering requests. Requests arriving while a batch runs form the next one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
from typing import Any, Callable, Sequence

from fsnlu_jax.serve.errors import InputError

_log = logging.getLogger(__name__)


@dataclasses.dataclass
class _Pending:
  requests: Sequence[Any]
  future: asyncio.Future


class Batcher:
  """Collects parsed requests from concurrent handlers into batches of the predictor.

  Use inside a running event loop: ``await start()``, ``await submit(rows)``
  from handlers, ``await stop()``.
  """

  def __init__(self, predict: Callable[[list], list], *, max_wait_s: float = 0.005,
               max_rows: int = 64, max_pending_rows: int = 8192):
    """Args: predict: ``predict(requests) -> answers`` (same length, same order);
    max_wait_s: how long the first request of a batch waits for company;
    max_rows: a batch closes early at this many rows; max_pending_rows: more
    rows waiting than this and a new request is refused (503: overloaded)."""
    self._predict, self.max_wait_s, self.max_rows = predict, max_wait_s, max_rows
    self.max_pending_rows = max_pending_rows
    self._queue: asyncio.Queue[_Pending] | None = None
    self._task: asyncio.Task | None = None
    self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="fsnlu-model")
    self.pending_rows = 0
    self.stats = dict(batches=0, rows=0, requests=0, largest_batch=0)

  async def start(self) -> None:
    self._queue = asyncio.Queue()
    self._task = asyncio.get_running_loop().create_task(self._run())

  async def stop(self) -> None:
    if self._task is not None:
      self._task.cancel()
      await asyncio.gather(self._task, return_exceptions=True)
    self._executor.shutdown(wait=True)

  async def submit(self, requests: Sequence[Any]) -> list[Any]:
    """The predictor's answers to ``requests``, batched with whatever else is waiting.

    Raises:
      InputError: 503 when too many rows are already waiting.
    """
    if self.pending_rows + len(requests) > self.max_pending_rows:
      raise InputError("overloaded", f"{self.pending_rows} rows are waiting (limit "
                       f"{self.max_pending_rows}); retry later", status=503)
    future = asyncio.get_running_loop().create_future()
    self.pending_rows += len(requests)
    await self._queue.put(_Pending(requests, future))
    return await future

  async def _collect(self) -> list[_Pending]:
    """The next batch: the first waiting request, plus those arriving within ``max_wait_s``."""
    loop = asyncio.get_running_loop()
    batch = [await self._queue.get()]
    rows, deadline = len(batch[0].requests), loop.time() + self.max_wait_s
    while rows < self.max_rows:
      if self._queue.empty():
        left = deadline - loop.time()
        if left <= 0:
          break
        try:
          item = await asyncio.wait_for(self._queue.get(), left)
        except asyncio.TimeoutError:
          break
      else:
        item = self._queue.get_nowait()
      batch.append(item)
      rows += len(item.requests)
    return batch

  async def _run(self) -> None:
    loop = asyncio.get_running_loop()
    while True:
      batch = await self._collect()
      rows = [r for p in batch for r in p.requests]
      try:
        answers = await loop.run_in_executor(self._executor, self._predict, rows)
      except Exception as error:  # pylint: disable=broad-except
        _log.exception("prediction failed for a batch of %d rows", len(rows))
        answers = error
      finally:
        self.pending_rows -= len(rows)
      self.stats.update(batches=self.stats["batches"] + 1, rows=self.stats["rows"] + len(rows),
                        requests=self.stats["requests"] + len(batch),
                        largest_batch=max(self.stats["largest_batch"], len(rows)))
      start = 0
      for p in batch:
        if p.future.done():  # the client went away
          start += len(p.requests)
          continue
        if isinstance(answers, Exception):
          p.future.set_exception(answers)
        else:
          p.future.set_result(answers[start:start + len(p.requests)])
        start += len(p.requests)
