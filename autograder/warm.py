"""Imports worth paying once per long-lived process (the zygote and the judges' template), not once per judge
or jail.

Only imports: no torch op runs, so forking afterwards stays safe. The grader starts the zygote (a fresh
interpreter: see `autograder.jail.spawn.Zygote`) first; the zygote imports torch, forks the judges' template
(see `autograder.judge.process.serve_template`), and then both warm up at the same time on separate cores, each
with what only it needs. torch is imported once per run, and judges and jails share its memory; the grader
process itself never imports it."""
from __future__ import annotations

import os


def warm_torch() -> None:
    """What both the judge and the jail need: torch, one intra-op thread per process (--jobs parallelises)."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    # torch.cuda.is_available() through NVML does not initialise CUDA, so judges forked afterwards can use it
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    # numpy's OpenBLAS would otherwise start a thread per core at import; every judge and jail is a fork of
    # this process, and forking is cleanest with one thread (each process computes on one core anyway)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import torch
    torch.set_num_threads(1)


def _warm_lazy_torch() -> None:
    """torch imports torch._dynamo (and sympy with it) on the first optimizer or meta-device op: ~0.8 s that
    every forked jail would pay again."""
    import sympy  # noqa: F401
    import torch._dynamo  # noqa: F401
    import torch.fx.experimental.symbolic_shapes  # noqa: F401


def warm_jail() -> None:
    """The zygote's share: what notebooks use (matplotlib), and torch's lazy imports, which meta-device ops
    and optimizers trigger in the jail. (No cell translator: the judge translates the cells.)"""
    warm_torch()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    _warm_lazy_torch()
    import autograder.jail.runtime  # noqa: F401  (every jail runs it)
    from autograder.jail.evidence import warm_ops
    warm_ops()
    warm_seed_sources()


# torch.manual_seed, which nearly every notebook calls, queues a seeding call for each accelerator backend that is
# not initialised yet (`torch.cuda._lazy_call` and its xpu and mtia twins), each with its caller's formatted
# stack, and formatting reads the source file of every frame: these modules' files
SEED_STACK_MODULES = ("torch._compile", "torch._dynamo.eval_frame", "torch.random", "torch.cuda", "torch.cuda.random",
                      "torch.xpu", "torch.xpu.random", "torch.mtia")


def warm_seed_sources() -> None:
    """Read the source lines torch.manual_seed's stacks show into `linecache` once, here, so that no jail reads
    those files again (~1.7 ms per jail; each jail still checks that they did not change, one stat each).
    Imports nothing: a module this torch does not have (or has not imported by now) is skipped."""
    import linecache
    import sys
    for name in SEED_STACK_MODULES:
        path = getattr(sys.modules.get(name), "__file__", None)
        if path:
            linecache.getlines(path)


def warm_judge() -> None:
    """The judges' template's share: the cell translator (judges read the student's source) and pytest. Not torch's
    lazy imports: the checks use no optimizer (`autograder.checking.optim` writes SGD and Adam out), no
    meta-device op and no assert_close (`autograder.checking.compare.close`), so a judge never pays for
    torch._dynamo, sympy or torch.distributed.tensor (a test holds them to it)."""
    warm_torch()
    import IPython.core.inputtransformer2  # noqa: F401
    import pytest  # noqa: F401

