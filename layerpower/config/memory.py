"""Facts of the C allocator and the kernel that the profiler and the predictors share (bytes)."""

from __future__ import annotations

#: glibc's largest dynamic mmap threshold on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX): a request at least this
#: large is always mapped fresh, and unmapped again on free
MMAP_THRESHOLD_MAX_BYTES = 32 << 20
#: the base page size of x86-64 and arm64 Linux
PAGE_BYTES = 4096
#: ``GLIBC_TUNABLES`` for a steady heap: fixed thresholds (which turn glibc's dynamic ones off), the trim
#: threshold at 1 GiB so a forward's freed activations stay mapped, the mmap threshold at glibc's 32 MiB
STEADY_MALLOC_TUNABLES = "glibc.malloc.trim_threshold=1073741824:glibc.malloc.mmap_threshold=33554432"
