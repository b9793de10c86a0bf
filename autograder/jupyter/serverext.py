"""The Check button's server side, a jupyter-server extension.

    POST {base_url}autograder/check   {"path": "<notebook, from the server's root>", "exercises": [...]}
    -> 200 {"ok": true, "status", "score", "max_score", "html", "text"}   the same table as `%autograde`
    -> 200 {"ok": false, "error": "<why, in words>"}                      nothing was graded

The button saves the notebook first (through this server's contents manager, as Ctrl+S does), so the
endpoint grades the saved file. Grading runs on a worker thread (one at a time, each through the kit's warm
check server, see grading.py), so the Jupyter server keeps answering every other request meanwhile; a
timeout or crash of the student's code is a result like any other, said in words in the table.

Loading the extension also marks the server's environment (`AUTOGRADER_JUPYTER_SERVER`), which every kernel
it starts inherits: `%autograde` then knows that the frontend can be asked to save (magic.py).
"""
from __future__ import annotations

import asyncio
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import tornado.web
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from autograder.jupyter.magic import SERVER_MARK, USAGE

ROUTE = ("autograder", "check")
_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="autograder-check")


class NotGradable(Exception):
    """A request that names no gradable notebook; the message is shown to the user."""


def notebook_path(root_dir: str, path: object) -> Path:
    """The notebook file a request names, which must lie under the server's root."""
    if not isinstance(path, str) or not path.endswith(".ipynb"):
        raise NotGradable(f"not a notebook path: {path!r}")
    root = Path(root_dir).resolve()
    full = (root / path.lstrip("/")).resolve()
    if full != root and root not in full.parents:
        raise NotGradable(f"{path} is outside this Jupyter server's folder")
    if not full.is_file():
        raise NotGradable(f"no such notebook: {path} (save it first)")
    return full


def exercise_names(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.isidentifier() for v in value):
        raise NotGradable(f"exercises must be a list of names; {USAGE}")
    return tuple(value)


def check_file(path: Path, exercises: tuple[str, ...]) -> dict:
    """Grade one saved notebook (on the worker thread) and build the reply."""
    from autograder.jupyter.grading import grade, reply, saved_when
    result, reused = grade(paths=[path], exercises=exercises)
    about = f"{path.name} ({path}), saved by Jupyter; graded as {saved_when(path)}"
    return reply(result, about=about + ("; unchanged since it was last checked, so the same result" if reused else ""))


class CheckHandler(APIHandler):
    auth_resource = "contents"

    @tornado.web.authenticated
    @authorized
    async def post(self) -> None:
        try:
            body = json.loads(self.request.body or b"{}")
            if not isinstance(body, dict):
                raise NotGradable("the request must be a JSON object")
            path = notebook_path(self.contents_manager.root_dir, body.get("path"))
            exercises = exercise_names(body.get("exercises"))
        except (NotGradable, ValueError) as exc:
            self.finish(json.dumps({"ok": False, "error": str(exc)}))
            return
        from autograder.coursedir import CourseError
        try:
            answer = await asyncio.wrap_future(_POOL.submit(check_file, path, exercises))
        except CourseError as exc:   # no course or assignment for this notebook: the user's to fix
            answer = {"ok": False, "error": str(exc)}
        except Exception as exc:  # noqa: BLE001 - a broken kit or setup: logged in full, one line to the user
            self.log.exception("autograder: grading %s failed", path)
            answer = {"ok": False, "error": f"the autograder kit could not grade {path.name}: "
                                            f"{type(exc).__name__}: {exc} (the Jupyter server's log has the traceback)"}
        self.finish(json.dumps(answer))


def load(serverapp) -> None:
    web_app = serverapp.web_app
    route = url_path_join(web_app.settings["base_url"], *ROUTE)
    web_app.add_handlers(".*$", [(route, CheckHandler)])
    os.environ[SERVER_MARK] = "1"
    serverapp.log.info("autograder: Check endpoint at %s", route)
