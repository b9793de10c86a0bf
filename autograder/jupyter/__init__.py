"""The kit inside Jupyter: `%autograde` in a kernel, a Check button in JupyterLab.

- `magic.py`: the IPython extension (`%load_ext autograder` reaches it through `autograder.load_ipython_extension`)
- `serverext.py`: the jupyter-server extension, the Check button's endpoint (enabled by
  `etc/jupyter/jupyter_server_config.d/autograder.json`, installed by pip)
- `labextension/`: the prebuilt JupyterLab extension (source in `jupyterlab-autograder/` at the top of the
  repository; pip installs the built files into `share/jupyter/labextensions/`, no Node.js needed)
- `grading.py`: the one call into the engine; `table.py`: the table both show

Importing this package imports nothing heavy: Jupyter's server imports it at start-up.
"""
from __future__ import annotations

LABEXTENSION = "jupyterlab-autograder"


def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": "autograder.jupyter"}]


def _load_jupyter_server_extension(serverapp) -> None:
    from autograder.jupyter.serverext import load
    load(serverapp)


def _jupyter_labextension_paths() -> list[dict]:
    return [{"src": "labextension", "dest": LABEXTENSION}]
