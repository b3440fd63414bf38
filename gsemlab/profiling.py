"""Stage timing and peak memory: what the Table IV analogue of chapter 7 measures.

:class:`Profiler` records the wall time, CPU time and (optionally) peak memory increase of named
stages (``with prof.stage("decoding"): ...``); :class:`MemorySampler` samples the process's allocated
memory in a background thread. Stdlib only (torch and psutil are imported when a stage needs them);
imports nothing of gsemlab.
"""

from __future__ import annotations

import contextlib
import threading
import time

__all__ = ["MemorySampler", "Profiler"]


class Profiler:
    """Wall time, CPU time and (optionally) peak memory of named stages (the Table IV analogue).

    Parameters
    ----------
    device : torch.device, str or None
        Where the stages run; on CUDA the timer synchronises and the memory is the CUDA allocator's.
    memory : bool
        Also record each stage's peak memory increase (MiB).

    Attributes
    ----------
    seconds, cpu_seconds : dict of str -> float
        Wall and process CPU seconds of each stage, summed over its runs.
    peak_mb : dict of str -> float
        Peak memory increase of each stage (MiB), the maximum over its runs; empty unless ``memory``.

    Examples
    --------
    >>> prof = Profiler()
    >>> with prof.stage("packing"):
    ...     pass
    >>> sorted(prof.seconds)
    ['packing']
    """

    def __init__(self, device=None, memory: bool = False):
        self.seconds: dict[str, float] = {}
        self.cpu_seconds: dict[str, float] = {}
        self.peak_mb: dict[str, float] = {}
        self._memory = memory
        self._cuda = device is not None and getattr(device, "type", str(device)) == "cuda"

    @contextlib.contextmanager
    def stage(self, name: str):
        """Time (and measure) the block run inside ``with profiler.stage(name):``."""
        sampler = None
        if self._memory:
            if self._cuda:
                import torch

                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                base = torch.cuda.memory_allocated()
            else:
                sampler = MemorySampler()
                sampler.start()
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            if self._cuda:
                import torch

                torch.cuda.synchronize()
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0
            self.cpu_seconds[name] = self.cpu_seconds.get(name, 0.0) + time.process_time() - c0
            if self._memory:
                if self._cuda:
                    peak = (torch.cuda.max_memory_allocated() - base) / 2**20
                else:
                    peak = sampler.stop()
                self.peak_mb[name] = max(self.peak_mb.get(name, 0.0), peak)


class MemorySampler:
    """Peak increase (MiB) of the memory the process has allocated, sampled every 0.5 ms while running.

    On Linux with glibc it reads ``mallinfo2()`` (bytes in use by malloc, which is where PyTorch's
    CPU tensors live): freed memory is counted as freed even when the allocator keeps it resident.
    Elsewhere it falls back to the resident set size (psutil), which misses reused memory.

    Parameters
    ----------
    interval : float
        Seconds between two samples.
    """

    def __init__(self, interval: float = 0.0005):
        self._read = _malloc_in_use() or _rss_reader()
        self._interval = interval
        self._stop = threading.Event()
        self._base = self._read()
        self._peak = self._base
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self._peak = max(self._peak, self._read())
            self._stop.wait(self._interval)

    def start(self) -> None:
        """Start sampling in a background thread."""
        self._thread.start()

    def stop(self) -> float:
        """Stop sampling; return the peak increase over the start, in MiB."""
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, self._read())
        return (self._peak - self._base) / 2**20


def _malloc_in_use():
    """A function returning glibc's bytes in use (``uordblks + hblkhd`` of ``mallinfo2``), or None."""
    import ctypes
    import ctypes.util

    class _MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                   "fsmblks", "uordblks", "fordblks", "keepcost")]

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        fn = libc.mallinfo2
    except (OSError, AttributeError):
        return None
    fn.restype = _MallInfo2

    def read() -> int:
        info = fn()
        return int(info.uordblks + info.hblkhd)

    return read


def _rss_reader():
    import psutil

    proc = psutil.Process()
    return lambda: proc.memory_info().rss
