"""An autograder for notebook homework in PyTorch: student code runs in a jail, hidden checks in the judge.

The engine holds no assignment: each is a bundle of a course directory (see autograder.coursedir)."""

__version__ = "0.1.0"


def load_ipython_extension(ipython) -> None:
    """`%load_ext autograder`: adds `%autograde` to the kernel (see autograder/jupyter/magic.py). Imported
    only then, so `import autograder` stays light."""
    from autograder.jupyter.magic import load_ipython_extension as load
    load(ipython)
