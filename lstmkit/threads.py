"""Thread counts of child processes: what every numeric library reads when it loads.

BLAS libraries (NumPy's OpenBLAS among them) and OpenMP size their thread pools from
these variables once, when they load, and never again; so a process that must run a
given number of threads sets them before NumPy is imported, or is started with them.
Imports nothing heavy: a script can take the names from here before NumPy loads.
"""

from __future__ import annotations

import os
from pathlib import Path

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def thread_env(threads: int) -> dict[str, str]:
    """The environment of a child process whose every library runs ``threads``
    threads, and which imports this lstmkit."""
    env = dict(os.environ)
    env.update({variable: str(threads) for variable in THREAD_VARIABLES})
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return env
