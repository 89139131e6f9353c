"""Keep BLAS on one thread in media workers.

The tick's matrix products are small (a few hundred rows); OpenBLAS still wakes its thread
pool for them, and on a loaded 2-core machine the hand-off costs more than the product:
the in-band DTMF detector took 8 ms per tick for 16 legs multi-threaded, 0.4 ms on one
thread. numpy has no API for this, so call OpenBLAS's own setter on the loaded library.
"""

from __future__ import annotations

import ctypes
import os

_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
            "openblas_set_num_threads64_", "openblas_set_num_threads")


def _loaded_openblas() -> list[str]:
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:
        return []
    return sorted(p for p in paths if p.startswith("/"))


def single_threaded_blas() -> bool:
    """Limit BLAS to one thread in this process; True if a loaded OpenBLAS was told so."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # for libraries loaded later
    done = False
    for path in _loaded_openblas():
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _SETTERS:
            setter = getattr(library, name, None)
            if setter is not None:
                setter(1)
                done = True
                break
    return done
