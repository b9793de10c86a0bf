"""The kit inside a real JupyterLab, in headless Chromium (Debian's package, driven by Playwright from PyPI).

A JupyterLab on a free local port, with a token, serves a filled release notebook (the reference solutions
pasted into the release, with one known misconception: a softmax over dim 0). The browser runs the
notebook's last cell (the optional self-check, `%autograde` with no argument) and clicks the toolbar's Check
button; both must show the hidden checks' table. The kit's server extension and labextension are installed
the way pip installs them (a `jupyter_server_config.d` file, a `labextensions/` folder on the Jupyter path),
from this work tree.

The screenshot of the Check dialog is kept as an artefact: `$AUTOGRADER_ARTIFACTS` (default
`<tmp>/autograder-artifacts/`) `jupyter-check.png`, and `jupyter-autograde-cell.png` for the cell's output;
the test names them in a warning, so `pytest` prints where they are. Skipped, with the reason, where Chromium
or Playwright is missing (`make test` installs both on this machine kind).
"""
from __future__ import annotations

import json
import os
import re
import threading
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import pytest

from tests.jupytertools import (HINT_SOFTMAX, SOFTMAX_DIM0, filled_release, kernel_env, private_runtime,
                                self_learner_course, stop_check_servers)
from tests.nbtools import REPO

CHROMIUM = os.environ.get("AUTOGRADER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
LABEXTENSION = REPO / "autograder" / "jupyter" / "labextension"
START_TIMEOUT_S = 90
UI_TIMEOUT_MS = 90_000

pytestmark = pytest.mark.slow
TOTAL = re.compile(r"^Hidden checks: (\d+) / 100 points$")


class Artefact(UserWarning):
    """Where a test left a file to look at (a screenshot)."""


def _missing() -> str:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return (f"Chromium is not installed ({CHROMIUM} is missing): `apt-get install -y chromium` "
                "(make test does it when run as root), or set AUTOGRADER_CHROMIUM")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed: pip install -e '.[dev]' (make test does it)"
    return ""


def post_check(url: str, token: str, path: str, **extra) -> dict:
    """POST the Check endpoint as the button does; the JSON reply."""
    request = urllib.request.Request(f"{url}/autograder/check", method="POST",
                                     data=json.dumps({"path": path, **extra}).encode(),
                                     headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=300) as reply:
        return json.loads(reply.read())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path_factory):
    """A JupyterLab with the kit's extensions, serving a self-learner's clone of the course that holds the
    filled notebook."""
    base = tmp_path_factory.mktemp("lab")
    root = base / "clone"                  # the folder JupyterLab serves: a self-learner's clone of the course
    work = self_learner_course(root)
    filled_release(work / "sgd_mnist.ipynb", replace={"softmax": SOFTMAX_DIM0})
    # installed as pip installs them: etc/jupyter/jupyter_server_config.d/ and share/jupyter/labextensions/
    config = base / "etc"
    (config / "jupyter_server_config.d").mkdir(parents=True)
    shutil.copy(REPO / "autograder" / "jupyter" / "config" / "autograder.json", config / "jupyter_server_config.d")
    data = base / "share"
    (data / "labextensions").mkdir(parents=True)
    (data / "labextensions" / "jupyterlab-autograder").symlink_to(LABEXTENSION, target_is_directory=True)
    # every cell in the page (JupyterLab 4 otherwise renders only the cells near the viewport)
    settings = base / "user-config" / "lab" / "user-settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    news = base / "user-config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    runtime = private_runtime()
    port, token = _free_port(), "autograder-test-" + os.urandom(8).hex()
    env = dict(kernel_env(runtime), JUPYTER_CONFIG_PATH=str(config), JUPYTER_PATH=str(data),
               JUPYTER_CONFIG_DIR=str(base / "user-config"), JUPYTER_DATA_DIR=str(base / "user-data"),
               JUPYTER_RUNTIME_DIR=str(base / "runtime"))
    # the warm check server starts (cold: the slowest step) while JupyterLab starts and the browser loads it
    warm_up = subprocess.Popen([sys.executable, "-m", "autograder.cli", "check", str(work / "sgd_mnist.ipynb")],
                               cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = open(base / "jupyterlab.log", "wb")
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1",
           "--ServerApp.port_retries=0", "--ServerApp.allow_root=True", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.news_url=None"]
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log_text = (base / "jupyterlab.log").read_text()[-3000:]
                    raise RuntimeError(f"JupyterLab did not start:\n{log_text}") from None
                time.sleep(0.2)
        yield {"url": url, "token": token, "root": root, "base": base, "log": base / "jupyterlab.log",
               "warm_up": warm_up}
    finally:
        warm_up.wait(timeout=300)
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        stop_check_servers(runtime)


def _artefact(page, where: Path, name: str) -> Path:
    shot = where / name
    page.screenshot(path=str(shot), full_page=False)
    folder = Path(os.environ.get("AUTOGRADER_ARTIFACTS", Path(tempfile.gettempdir()) / "autograder-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, folder / name)
    warnings.warn(Artefact(f"screenshot kept: {folder / name}"), stacklevel=2)
    return folder / name


def _check_table(table) -> int:
    """The table shows the filled notebook's one mistake: softmax below full, every other exercise full."""
    from playwright.sync_api import expect
    points = {}
    for row in table.locator("tr.ag-row").all():
        name = row.locator("td").first.inner_text().strip()
        got, most = row.locator(".ag-points").inner_text().split(" / ")
        points[name] = (int(got), int(most))
    assert len(points) == 10 and all(most == 10 for _, most in points.values()), points
    assert [n for n, (got, most) in points.items() if got < most] == ["softmax"], points
    expect(table.locator("tr.ag-row", has_text="softmax").first.locator(".ag-hint")).to_contain_text(HINT_SOFTMAX)
    total = int(TOTAL.match(table.locator(".ag-total").inner_text())[1])
    assert total == sum(got for got, _ in points.values()) < 100
    return total


def _run_cell(page, cell) -> None:
    """Run `cell` and stay on it (Ctrl+Enter in its editor) once the kernel is idle. A keypress that lands
    while JupyterLab is still connecting the kernel (a busy machine) can be lost: press again, at most
    twice more, while the cell's prompt still says it never ran."""
    from playwright.sync_api import expect
    expect(page.locator("#jp-main-statusbar")).to_contain_text("| Idle")
    prompt = cell.locator(".jp-InputArea-prompt")
    for attempt in range(3):
        cell.scroll_into_view_if_needed()
        cell.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Control+Enter")
        try:
            expect(prompt).not_to_have_text(re.compile(r"^\[ \]:$"), timeout=15_000)
            return
        except AssertionError:
            if attempt == 2:
                raise


def autograde_cell_and_check_button_show_the_hidden_checks_table(lab):
    """In the browser: the release's last cell, run, shows the table; run again, the same; the Check button
    shows it too."""
    missing = _missing()
    if missing:
        pytest.skip(missing)
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        # Playwright gives the browser a fresh, empty profile of its own (the --user-data-dir this network needs)
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(UI_TIMEOUT_MS)
            expect.set_options(timeout=UI_TIMEOUT_MS)
            page.goto(f"{lab['url']}/lab/tree/release/sgd_mnist/sgd_mnist.ipynb?token={lab['token']}")
            cells = page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell")
            last = cells.last
            expect(last).to_contain_text('run_line_magic("autograde", "")')
            last = cells.nth(cells.count() - 1)  # stays this cell
            expect(page.locator(".jp-NotebookPanel-toolbar .jp-autograder-check")).to_be_visible()

            # 1. the release's last cell: %autograde with no argument grades this notebook, saved first
            lab["warm_up"].wait(timeout=300)   # the check server is up (two first checks at once would start two)
            _run_cell(page, last)
            table = last.locator(".jp-OutputArea-output .autograder-result")
            expect(table).to_be_visible()
            expect(table).to_contain_text("sgd_mnist.ipynb")
            expect(table).to_contain_text("saved by Jupyter just now")
            expect(table.locator("tr.ag-row")).to_have_count(10)
            expect(table).not_to_contain_text("unchanged since it was last checked")
            total = _check_table(table)
            _artefact(page, lab["base"], "jupyter-autograde-cell.png")
            # run it again: saved again (outputs and counts changed), unchanged in all that grading reads
            started = time.monotonic()
            page.keyboard.press("Control+Enter")
            page.wait_for_function(  # checked every frame (expect's retries back off to a second)
                "() => [...document.querySelectorAll('.autograder-result .ag-about')].some("
                "e => e.textContent.includes('unchanged since it was last checked'))", polling="raf")
            again = time.monotonic() - started   # a figure, not a limit: speed is make bench's to measure
            expect(table).to_contain_text("unchanged since it was last checked, so the same result")
            expect(table).to_contain_text("saved by Jupyter just now")
            assert _check_table(table) == total
            warnings.warn(Artefact(f"the cell run again (saved, then the same result): {again:.2f} s in the browser"),
                          stacklevel=2)

            # 2. the toolbar's Check button: saves, grades through the server extension, shows the same table
            page.locator(".jp-NotebookPanel-toolbar .jp-autograder-check button, "
                         ".jp-NotebookPanel-toolbar button.jp-autograder-check").first.click()
            dialog = page.locator(".jp-Dialog .autograder-result")
            expect(dialog).to_be_visible()
            expect(page.locator(".jp-Dialog-header")).to_have_text("sgd_mnist.ipynb: hidden checks")
            assert _check_table(dialog) == total, "the button and %autograde show the same table"
            dialog.locator("tr.ag-row", has_text="softmax").first.locator("summary").click()
            expect(dialog.locator("details[open] table tr").first).to_be_visible()
            _artefact(page, lab["base"], "jupyter-check.png")
        except Exception:
            _artefact(page, lab["base"], "jupyter-failed.png")
            raise
        finally:
            browser.close()


def check_endpoint_answers_with_the_table(lab):
    """The endpoint itself (what the button calls): the table as HTML and text, and the totals."""
    lab["warm_up"].wait(timeout=300)
    reply = post_check(lab["url"], lab["token"], "release/sgd_mnist/sgd_mnist.ipynb")
    assert reply["ok"] is True and reply["status"] == "graded" and reply["max_score"] == 100
    assert reply["html"].startswith('<div class="autograder-result"')
    assert reply["text"].startswith(f"Hidden checks: {reply['score']:g} / 100 points (the course's grading")
    assert HINT_SOFTMAX in reply["text"]
    assert post_check(lab["url"], lab["token"], "../etc/passwd.ipynb") == {
        "ok": False, "error": "../etc/passwd.ipynb is outside this Jupyter server's folder"}
    assert post_check(lab["url"], lab["token"], "nowhere.ipynb") == {
        "ok": False, "error": "no such notebook: nowhere.ipynb (save it first)"}
    only = post_check(lab["url"], lab["token"], "release/sgd_mnist/sgd_mnist.ipynb", exercises=["softmax"])
    assert only["max_score"] == 10 and only["score"] < 10


ENDLESS = ("import time\n\n\ndef accuracy(log_probs, y):\n"
           "    while True:   # an endless loop (asleep: it costs the test no CPU)\n        time.sleep(0.05)\n")


def check_endpoint_never_blocks_the_server_and_a_timeout_says_so(lab):
    """nbgrader's Validate blocks its server while it runs (#1232) and shows a JSON error for an endless loop
    (#1846). Here the server answers other requests at once while a check runs, and the loop is a hint."""
    lab["warm_up"].wait(timeout=300)
    filled_release(lab["root"] / "release" / "sgd_mnist" / "endless.ipynb", replace={"accuracy": ENDLESS})
    reply: dict = {}
    check = threading.Thread(target=lambda: reply.update(
        post_check(lab["url"], lab["token"], "release/sgd_mnist/endless.ipynb", exercises=["accuracy"])))
    started = time.monotonic()
    check.start()
    waits = []
    while check.is_alive():
        t = time.monotonic()
        with urllib.request.urlopen(f"{lab['url']}/api/contents/release/sgd_mnist?content=0&token={lab['token']}",
                                    timeout=10):
            waits.append(time.monotonic() - t)
        time.sleep(0.05)
    took = time.monotonic() - started
    assert took > 2 and len(waits) > 20, f"the check took {took:.1f} s: too short to show anything"
    assert max(waits) < 0.5, f"the server stalled {max(waits):.2f} s while a check ran"
    assert reply["ok"] is True and reply["score"] == 0 and reply["max_score"] == 10
    assert "`accuracy` did not finish within its time limit (an endless loop, or far too slow)" in reply["text"]


def check_endpoint_needs_the_token(lab):
    """Only the server's own users may grade."""
    request = urllib.request.Request(f"{lab['url']}/autograder/check", method="POST",
                                     data=json.dumps({"path": "release/sgd_mnist/sgd_mnist.ipynb"}).encode())
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 403


def test_the_kit_in_jupyterlab(lab, subtests):
    """One JupyterLab (and its warm check server, the costly part), every aspect a subtest; the browser's
    is skipped, with the reason, where Chromium or Playwright is missing."""
    for aspect in (autograde_cell_and_check_button_show_the_hidden_checks_table, check_endpoint_answers_with_the_table,
                   check_endpoint_never_blocks_the_server_and_a_timeout_says_so, check_endpoint_needs_the_token):
        with subtests.test(msg=aspect.__name__.replace("_", " ")):
            aspect(lab)
