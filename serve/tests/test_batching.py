"""The asyncio batch queue: @serve.batch's rules (size cap, wait timeout, one batch at a time, errors per batch)."""
import asyncio

import pytest

from mlray_serve.batching import DEFAULT_BATCH_WAIT_TIMEOUT_S, AsyncBatcher, BatchSettings


class Recorder:
    def __init__(self, fail_when=None):
        self.batches = []
        self.fail_when = fail_when

    async def __call__(self, items):
        self.batches.append(list(items))
        if self.fail_when and self.fail_when(items):
            raise RuntimeError("batch failed")
        await asyncio.sleep(0)
        return [item * 10 for item in items]


def run(coro):
    return asyncio.run(coro)


def test_concurrent_items_are_batched_up_to_max_and_split_back_in_order():
    recorder = Recorder()

    async def scenario():
        batcher = AsyncBatcher(recorder, max_batch_size=4, batch_wait_timeout_s=0.5)
        return await asyncio.gather(*(batcher.submit(i) for i in range(10)))

    assert run(scenario()) == [i * 10 for i in range(10)]
    assert [len(b) for b in recorder.batches] == [4, 4, 2]
    assert sum(recorder.batches, []) == list(range(10))


def test_a_full_batch_does_not_wait_for_the_timeout():
    recorder = Recorder()

    async def scenario():
        batcher = AsyncBatcher(recorder, max_batch_size=2, batch_wait_timeout_s=30)
        return await asyncio.wait_for(asyncio.gather(batcher.submit(1), batcher.submit(2)), timeout=2)

    assert run(scenario()) == [10, 20]


def test_a_partial_batch_leaves_after_the_wait_timeout():
    recorder = Recorder()

    async def scenario():
        batcher = AsyncBatcher(recorder, max_batch_size=8, batch_wait_timeout_s=0.05)
        loop = asyncio.get_running_loop()
        start = loop.time()
        first = await batcher.submit(1)
        return first, loop.time() - start

    value, elapsed = run(scenario())
    assert value == 10 and recorder.batches == [[1]]
    assert 0.04 <= elapsed < 1.0


def test_a_late_item_within_the_wait_joins_the_open_batch():
    recorder = Recorder()

    async def scenario():
        # A long wait, and the late item fills the batch: it leaves as soon as the second item arrives.
        batcher = AsyncBatcher(recorder, max_batch_size=2, batch_wait_timeout_s=10)
        first = asyncio.ensure_future(batcher.submit(1))
        await asyncio.sleep(0.05)
        second = asyncio.ensure_future(batcher.submit(2))
        return await asyncio.wait_for(asyncio.gather(first, second), timeout=5)

    assert run(scenario()) == [10, 20]
    assert recorder.batches == [[1, 2]]


def test_an_exception_fails_its_batch_only_and_the_queue_keeps_serving():
    recorder = Recorder(fail_when=lambda items: 1 in items)

    async def scenario():
        batcher = AsyncBatcher(recorder, max_batch_size=2, batch_wait_timeout_s=0.5)
        failed = await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)
        ok = await asyncio.gather(batcher.submit(3), batcher.submit(4))
        return failed, ok

    failed, ok = run(scenario())
    assert all(isinstance(f, RuntimeError) for f in failed)
    assert ok == [30, 40]


def test_a_handler_returning_the_wrong_count_fails_the_batch():
    async def short(items):
        return items[:1]

    async def scenario():
        batcher = AsyncBatcher(short, max_batch_size=2, batch_wait_timeout_s=0.5)
        return await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)

    results = run(scenario())
    assert all(isinstance(r, RuntimeError) and "1 results for 2 items" in str(r) for r in results)


def test_setters_change_the_running_queue_in_place():
    recorder = Recorder()

    async def scenario():
        batcher = AsyncBatcher(recorder, max_batch_size=2, batch_wait_timeout_s=0.5)
        await asyncio.gather(*(batcher.submit(i) for i in range(4)))
        batcher.set_max_batch_size(4)
        batcher.set_batch_wait_timeout_s(0.5)
        await asyncio.gather(*(batcher.submit(i) for i in range(4)))

    run(scenario())
    assert [len(b) for b in recorder.batches] == [2, 2, 4]


def test_one_batch_runs_at_a_time():
    running, peak = [0], [0]

    async def slow(items):
        running[0] += 1
        peak[0] = max(peak[0], running[0])
        await asyncio.sleep(0.02)
        running[0] -= 1
        return items

    async def scenario():
        batcher = AsyncBatcher(slow, max_batch_size=1, batch_wait_timeout_s=0)
        return await asyncio.gather(*(batcher.submit(i) for i in range(5)))

    assert run(scenario()) == list(range(5))
    assert peak[0] == 1


@pytest.mark.parametrize("user_config, expected", [
    (None, BatchSettings(None, DEFAULT_BATCH_WAIT_TIMEOUT_S)),
    ({}, BatchSettings(None, DEFAULT_BATCH_WAIT_TIMEOUT_S)),
    ({"max_batch_size": 16}, BatchSettings(16, DEFAULT_BATCH_WAIT_TIMEOUT_S)),
    ({"max_batch_size": "8", "batch_wait_timeout_s": "0.2"}, BatchSettings(8, 0.2)),
    ({"max_batch_size": 4.0, "batch_wait_timeout_s": 0}, BatchSettings(4, 0.0)),
])
def test_settings_from_user_config(user_config, expected):
    assert BatchSettings.from_user_config(user_config) == expected


@pytest.mark.parametrize("user_config, key", [
    ({"max_batch_size": 0}, "max_batch_size"),
    ({"max_batch_size": 2.5}, "max_batch_size"),
    ({"max_batch_size": "many"}, "max_batch_size"),
    ({"max_batch_size": True}, "max_batch_size"),
    ({"max_batch_size": 4, "batch_wait_timeout_s": -1}, "batch_wait_timeout_s"),
    ({"max_batch_size": 4, "batch_wait_timeout_s": "soon"}, "batch_wait_timeout_s"),
])
def test_invalid_user_config_names_the_key(user_config, key):
    with pytest.raises(ValueError, match=f"user_config.{key}"):
        BatchSettings.from_user_config(user_config)
