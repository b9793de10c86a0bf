"""Imports worth paying once per long-lived process (the grader and the zygote), not once per judge or jail.

Only imports: no torch op runs, so forking afterwards stays safe. The grader imports torch, forks the zygote,
and then both finish warming up at the same time on separate cores, each with what only it needs."""
from __future__ import annotations

import os


def warm_torch() -> None:
    """What both the judge and the jail need: torch, one intra-op thread per process (--jobs parallelises)."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    # torch.cuda.is_available() through NVML does not initialise CUDA, so judges forked afterwards can use it
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    import torch
    torch.set_num_threads(1)


def _warm_lazy_torch() -> None:
    """torch imports torch._dynamo (and sympy with it) on the first optimizer, meta-device op or
    assert_close: ~1 s that every forked judge and jail would pay again."""
    import sympy  # noqa: F401
    import torch._dynamo  # noqa: F401
    import torch.fx.experimental.symbolic_shapes  # noqa: F401


def warm_jail() -> None:
    """The zygote's share: what notebooks use (matplotlib) and the cell translator."""
    warm_torch()
    import IPython.core.inputtransformer2  # noqa: F401
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    _warm_lazy_torch()


def warm_judge() -> None:
    """The grader's share: the cell translator (judges read the student's source) and pytest."""
    warm_torch()
    import IPython.core.inputtransformer2  # noqa: F401
    import pytest  # noqa: F401
    _warm_lazy_torch()

