"""Window-parallel inference on CPU: chunks of windows on a thread pool, one torch thread each.

Beat's windows are independent, so a large batch can run as chunks in T Python
threads with one intra-op torch thread each instead of one call on T intra-op
threads. Intra-op threading pays a thread barrier after every small op (norm,
GELU, attention per layer) and stalls whenever the OS deschedules one of its
threads; measured on 2 shared cores, one thread per chunk roughly doubled the
encoder's rate. The pools and the process-wide thread-count switch live here,
owned by the inference helpers, never by the `nn.Module`: the model's layers
stay plain, device-agnostic PyTorch.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import torch

# Windows per single-threaded call (the paper encoder's best one-thread rate, measured
# over 16-128) and the fewest per call worth a thread of its own.
ENCODE_CHUNK = 64
ENCODE_MIN_CHUNK = 8
_switch_lock = threading.Lock()  # the thread-count switch is process-wide: one switcher at a time
_pools: dict[int, ThreadPoolExecutor] = {}
# A forked child inherits the pools but not their threads (work sent there would wait forever).
os.register_at_fork(after_in_child=_pools.clear)

Work = Callable[[torch.Tensor], tuple[torch.Tensor, ...]]


def _in_inference_mode(work: Work, part: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """`work(part)` in inference mode: the mode is per thread, so pool threads set it themselves."""
    with torch.inference_mode():
        return work(part)


def window_parallel(windows: torch.Tensor, work: Work) -> tuple[torch.Tensor, ...]:
    """`work` over windows [N, ...], concatenated along N: on a CPU with T > 1 torch threads
    and enough windows, on chunks of windows in T Python threads with one torch thread each
    (windows are independent, so the result is the same); elsewhere (an accelerator, one
    thread, another switcher busy) one plain call.

    Fewer than 2 x ENCODE_MIN_CHUNK windows run on one thread: there the barriers
    dominate (batch 1: 19 ms on one thread, 860 ms on two busy shared cores).
    """
    threads = torch.get_num_threads()
    if windows.device.type != "cpu" or threads < 2 or not _switch_lock.acquire(blocking=False):
        return work(windows)
    try:
        torch.set_num_threads(1)
        try:
            if windows.shape[0] < 2 * ENCODE_MIN_CHUNK:  # too few to split: one thread, no barriers
                return work(windows)
            chunk = max(ENCODE_MIN_CHUNK, min(ENCODE_CHUNK, -(-windows.shape[0] // threads)))
            pool = _pools.get(threads) or _pools.setdefault(
                threads, ThreadPoolExecutor(threads, thread_name_prefix="beat-encode")
            )
            parts = list(pool.map(lambda part: _in_inference_mode(work, part), windows.split(chunk)))
        finally:
            torch.set_num_threads(threads)
    finally:
        _switch_lock.release()
    return tuple(torch.cat(outputs) for outputs in zip(*parts, strict=True))
