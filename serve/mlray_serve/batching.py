"""Dynamic request batching with @serve.batch's semantics, in plain asyncio.

Ray Serve's own `@serve.batch` queues the requests of a replica in production (see `app.py`); this queue is its
stand-in where Ray is not installed (the tests), and both are driven the same way by `server.ModelServer`:
`await submit(item)` returns that item's result, and `set_max_batch_size` / `set_batch_wait_timeout_s` change the
queue in place, which is what `reconfigure` needs to apply a new `user_config` without restarting the replica.

Semantics mirrored from `@serve.batch`: the first queued item opens a batch; the batch is handed to the handler as
soon as `max_batch_size` items wait, or `batch_wait_timeout_s` after the first item arrived, whichever comes first;
one batch runs at a time; the handler returns one result per item, in order; an exception fails every item of
that batch and no other.
"""
import asyncio
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, List, Mapping, Optional

# @serve.batch's own default wait, so a user_config without batch_wait_timeout_s behaves as Ray would.
DEFAULT_BATCH_WAIT_TIMEOUT_S = 0.01


@dataclass(frozen=True)
class BatchSettings:
    """What `user_config` says about batching. max_batch_size None means requests are predicted one by one."""

    max_batch_size: Optional[int] = None
    batch_wait_timeout_s: float = DEFAULT_BATCH_WAIT_TIMEOUT_S

    @property
    def enabled(self) -> bool:
        return self.max_batch_size is not None

    @staticmethod
    def from_user_config(user_config: Optional[Mapping[str, Any]]) -> "BatchSettings":
        """Reads max_batch_size (whole number ≥ 1) and batch_wait_timeout_s (seconds ≥ 0); raises ValueError."""
        config = dict(user_config or {})
        size = config.get("max_batch_size")
        if size is not None:
            if isinstance(size, bool) or not isinstance(size, (int, float, str)):
                raise ValueError(f"user_config.max_batch_size must be a whole number >= 1; got {size!r}")
            try:
                number = float(size)
            except ValueError:
                raise ValueError(f"user_config.max_batch_size must be a whole number >= 1; got {size!r}") from None
            if number < 1 or number != int(number):
                raise ValueError(f"user_config.max_batch_size must be a whole number >= 1; got {size!r}")
            size = int(number)
        timeout = config.get("batch_wait_timeout_s", DEFAULT_BATCH_WAIT_TIMEOUT_S)
        try:
            timeout = float(timeout)
        except (TypeError, ValueError):
            raise ValueError(f"user_config.batch_wait_timeout_s must be a number of seconds >= 0; got {timeout!r}") from None
        if timeout < 0:
            raise ValueError(f"user_config.batch_wait_timeout_s must be a number of seconds >= 0; got {timeout!r}")
        return BatchSettings(size, timeout)


class AsyncBatcher:
    """A queue that hands items to `handle_batch` in batches (see the module's docstring for the rules)."""

    def __init__(self, handle_batch: Callable[[List[Any]], Awaitable[List[Any]]],
                 max_batch_size: int = 1, batch_wait_timeout_s: float = DEFAULT_BATCH_WAIT_TIMEOUT_S):
        self._handle_batch = handle_batch
        self.max_batch_size = max_batch_size
        self.batch_wait_timeout_s = batch_wait_timeout_s
        self._queue: Optional[asyncio.Queue] = None
        self._worker: Optional[asyncio.Task] = None

    def set_max_batch_size(self, size: int) -> None:
        self.max_batch_size = size

    def set_batch_wait_timeout_s(self, seconds: float) -> None:
        self.batch_wait_timeout_s = seconds

    async def submit(self, item: Any) -> Any:
        if self._worker is None or self._worker.done():
            # Created on first use: the queue and its task belong to the event loop the requests arrive on.
            self._queue = asyncio.Queue()
            self._worker = asyncio.get_running_loop().create_task(self._run())
        result = asyncio.get_running_loop().create_future()
        await self._queue.put((item, result))
        return await result

    async def _next_batch(self) -> List[Any]:
        loop = asyncio.get_running_loop()
        batch = [await self._queue.get()]
        deadline = loop.time() + self.batch_wait_timeout_s
        while len(batch) < self.max_batch_size:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except asyncio.TimeoutError:
                break
        return batch

    async def _run(self) -> None:
        while True:
            batch = await self._next_batch()
            items = [item for item, _ in batch]
            try:
                results = await self._handle_batch(items)
                if len(results) != len(items):
                    raise RuntimeError(f"the batch handler returned {len(results)} results for {len(items)} items")
            except Exception as e:  # fails this batch's requests only; the queue keeps serving
                for _, future in batch:
                    if not future.done():
                        future.set_exception(e)
                continue
            for (_, future), value in zip(batch, results):
                if not future.done():  # a caller that gave up (cancelled) no longer waits for it
                    future.set_result(value)
