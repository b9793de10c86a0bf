"""Imports worth paying once per long-lived process (the grader and the zygote)."""
from __future__ import annotations

import os


def warm_imports() -> None:
    """Import what judges and jails would otherwise import on first use (torch's meta-device machinery pulls
    in torch._dynamo and sympy: ~1 s; matplotlib; pytest; IPython's input transformer). Imports only: no
    torch op runs, so forking afterwards stays safe; one intra-op thread per process (--jobs parallelises)."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    # torch.cuda.is_available() through NVML does not initialise CUDA, so judges forked afterwards can use it
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    import IPython.core.inputtransformer2  # noqa: F401
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    import pytest  # noqa: F401
    import sympy  # noqa: F401
    import torch
    import torch._dynamo  # noqa: F401
    import torch.fx.experimental.symbolic_shapes  # noqa: F401
    torch.set_num_threads(1)
