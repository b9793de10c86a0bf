"""The judge process: one per grading process, reused from one submission to the next, replaced when it fails,
and whatever happens to it costs only the submission it was grading."""
from __future__ import annotations

import os
import signal
import time
from dataclasses import replace

from autograder.jail import walls
from autograder.config import GradeOptions
from autograder.grader import grade_notebooks, grader_for
from tests._grading import BUNDLE
from tests.nbtools import REPO, full, variant

OPTS = GradeOptions(cell_timeout=3.0, exercises=("softmax", "matmul"))
SLEEPY_SOFTMAX = "import time\ndef softmax(x):\n    time.sleep(30)\n    return x\n"


def grade(path, sid, options=OPTS):
    return grade_notebooks(notebooks=[path], student_id=sid, bundle=BUNDLE, options=options)


def judge_of():
    return grader_for(BUNDLE)._judge


def assert_full_marks(r):
    assert r.status == "graded", (r.status, r.message)
    assert all(full(r, e) for e in OPTS.exercises), r.exercise_scores()


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def jail_uids_alive(judge_pid: int) -> list[int]:
    """Processes running as one of the uids that judge's jails get (see walls.jail_uid)."""
    uids = walls.jail_uids(judge_pid)
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                uid = os.stat(f"/proc/{entry}").st_uid
            except OSError:
                continue
            if uid in uids and alive(int(entry)):
                found.append(int(entry))
    return found


def test_one_judge_grades_one_submission_after_another(tmp_path):
    path = variant(tmp_path / "nb.ipynb")
    first = grade(path, "first")
    pid = judge_of().pid
    second = grade(path, "second")
    assert_full_marks(first)
    assert_full_marks(second)
    assert judge_of().pid == pid and alive(pid)


def test_a_judge_that_died_between_submissions_is_replaced(tmp_path):
    path = variant(tmp_path / "nb.ipynb")
    assert_full_marks(grade(path, "before"))
    old = judge_of().pid
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while alive(old) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert_full_marks(grade(path, "after"))
    assert judge_of().pid not in (0, old)


def test_a_submission_past_its_time_limit_costs_only_itself(tmp_path):
    slow = variant(tmp_path / "slow.ipynb", replace={"softmax": SLEEPY_SOFTMAX})
    started = time.monotonic()
    r = grade(slow, "slow", options=replace(OPTS, submission_timeout=4.0, cell_timeout=20.0))
    assert r.status == "timeout", (r.status, r.message)
    assert time.monotonic() - started < 15
    assert judge_of().pid == 0          # the judge was killed with its jails ...
    assert_full_marks(grade(variant(tmp_path / "nb.ipynb"), "next"))   # ... and the next one is fresh


def test_the_timed_out_judges_jails_are_killed(tmp_path):
    assert_full_marks(grade(variant(tmp_path / "nb.ipynb"), "warm"))
    pid = judge_of().pid
    slow = variant(tmp_path / "slow.ipynb", replace={"softmax": SLEEPY_SOFTMAX})
    assert grade(slow, "slow", options=replace(OPTS, submission_timeout=4.0, cell_timeout=20.0)).status == "timeout"
    deadline = time.monotonic() + 10
    while jail_uids_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not jail_uids_alive(pid)


def test_the_judge_holds_none_of_its_parents_other_files(tmp_path):
    """E.g. the gradebook writer's stdin: a judge holding it open would keep the writer from seeing EOF."""
    grader_for(BUNDLE)
    if judge_of() is not None:
        judge_of().stop()
    r, w = os.pipe()
    try:
        assert_full_marks(grade(variant(tmp_path / "nb.ipynb"), "fds"))
        pid = judge_of().pid
        ours = f"pipe:[{os.fstat(w).st_ino}]"
        held = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        assert ours not in held, held
    finally:
        os.close(r)
        os.close(w)


def test_a_forked_worker_lets_go_of_its_parents_judge(tmp_path):
    """`grade --jobs` forks its workers from the grader: a worker that inherits a handle on a judge starts its
    own, never signals the parent's, and keeps no copy of that judge's pipes (the parent's judge would otherwise
    not see its job pipe end while the worker lives)."""
    import json
    path = variant(tmp_path / "nb.ipynb")
    assert_full_marks(grade(path, "parent"))
    parent = judge_of()
    theirs = {f"pipe:[{os.fstat(fd).st_ino}]" for fd in (parent.job_w, parent.out_r)}
    parent_pid = parent.pid
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(r)
            result = grade(path, "child")
            held = set()
            for fd in os.listdir("/proc/self/fd"):
                try:
                    held.add(os.readlink(f"/proc/self/fd/{fd}"))
                except OSError:
                    pass
            os.write(w, json.dumps({"status": result.status, "full": all(full(result, e) for e in OPTS.exercises),
                                    "judge": judge_of().pid, "kept": sorted(held & theirs)}).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        said = json.loads(f.read() or b"{}")
    os.waitpid(child, 0)
    assert said.get("status") == "graded" and said["full"], said
    assert said["judge"] not in (0, parent_pid) and said["kept"] == [], said
    assert judge_of().pid == parent_pid and alive(parent_pid)   # the parent's judge was left alone ...
    assert_full_marks(grade(path, "parent again"))
    assert judge_of().pid == parent_pid                          # ... and still serves the parent


LAZY_TORCH = ("torch._dynamo", "sympy", "torch.distributed.tensor")
SLIM_JUDGE = r'''
import sys, tempfile
from pathlib import Path
sys.path.insert(0, "tests")
from catalogue import RIGHT, WRONG, batches, notebook, write
from autograder.notebook import read_submission
from autograder.config import GradeOptions
from autograder.coursedir import CourseDir
from autograder.grader import JudgeState
from autograder.jail.spawn import Zygote
state = JudgeState(CourseDir(Path(".").resolve()).bundle("sgd_mnist"))   # what the judges' template holds
session = Zygote().session()
tmp = Path(tempfile.mkdtemp())
graded = 0
for i, batch in enumerate([[]] + batches(WRONG) + batches(RIGHT)):
    path = write(notebook({e.exercise: e.code for e in batch}), tmp / f"n{i}.ipynb")
    out = state.judge_one(session, read_submission([path]), f"s{i}", GradeOptions())
    session.kill_spawned()
    graded += len(out["tests"]) > 40 and not out["problems"]
print("GRADED", graded, i + 1)
print("LAZY", sorted(m for m in %r if m in sys.modules))
'''


def test_judge_never_pays_for_torchs_lazy_imports():
    """The judges' template warms up without torch._dynamo, sympy and torch.distributed.tensor (~1.3 s before
    the first submission): it is forked from the zygote before the zygote imports them. A judge that needed
    them would import them on its own, once per worker. Grading the whole catalogue (every known-wrong and
    alternative right answer) with a judge's state in this process must not import them."""
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", SLIM_JUDGE % (LAZY_TORCH,)], cwd=REPO, capture_output=True,
                         text=True, timeout=600)
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines() if line.startswith(("GRADED", "LAZY")))
    graded, total = lines.get("GRADED", "0 -1").split()
    assert graded == total, out.stdout + out.stderr[-3000:]
    assert lines.get("LAZY") == "[]", out.stdout + out.stderr[-3000:]


def test_a_judges_template_that_died_is_started_again(tmp_path):
    """The template (judges are forked from it) is the kit's own process: if it dies (the machine's memory),
    the next submission gets a new one, and no submission is charged for it."""
    path = variant(tmp_path / "nb.ipynb")
    assert_full_marks(grade(path, "before"))
    grader = grader_for(BUNDLE)
    old_template, old_judge = grader.template.pid, judge_of().pid
    os.kill(old_template, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while (alive(old_template) or alive(old_judge)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(old_judge)          # its judges die with it
    assert_full_marks(grade(path, "after"))
    assert grader.template.pid != old_template and alive(grader.template.pid)


ENVIRONMENT_PROBE = r'''
import os, sys
from pathlib import Path
repo = Path(sys.argv[2])
sys.path.insert(0, str(repo / "tests"))
from nbtools import variant
from autograder.config import GradeOptions
from autograder.coursedir import CourseDir
from autograder.grader import grade_notebooks, grader_for
os.environ["AUTOGRADER_PROBE_TOKEN"] = "s3cr3t-" + "canary"
bundle = CourseDir(repo).bundle("sgd_mnist")
grader = grader_for(bundle)
r = grade_notebooks(notebooks=[variant(Path(sys.argv[1]) / "nb.ipynb")], student_id="s", bundle=bundle,
                    options=GradeOptions(exercises=("softmax",)), grader=grader)
judge = grader._judge.pid
print("STATUS", r.status, r.score)
print("TORCH", "torch" in sys.modules, any(m.startswith("sgd_mnist") for m in sys.modules))
print("CANARY", b"canary" in open(f"/proc/{judge}/environ", "rb").read(),
      b"canary" in open(f"/proc/{grader.template.pid}/environ", "rb").read())
print("CWD", os.readlink(f"/proc/{judge}/cwd") == str(repo), os.getcwd() != str(repo))
maps = lambda pid: open(f"/proc/{pid}/maps").read()   # the zygote's warm-up maps matplotlib's extensions
print("EARLY", "/matplotlib/" in maps(grader.template.pid), "/matplotlib/" in maps(grader.zygote.pid))
'''


def test_the_grader_never_imports_torch_and_judges_hold_nothing_of_its_environment(tmp_path):
    """torch and the checks live in the zygote's line (the grader pays no `import torch`), and the checks run
    with the clean environment of the zygote, from the course root, wherever the grader was started."""
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", ENVIRONMENT_PROBE, str(tmp_path), str(REPO.resolve())], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines() if line[:1].isupper() and " " in line)
    assert lines.get("STATUS") == "graded 10.0", out.stdout + out.stderr[-3000:]
    assert lines.get("TORCH") == "False False", out.stdout
    assert lines.get("CANARY") == "False False", out.stdout
    assert lines.get("CWD") == "True True", out.stdout
    assert lines.get("EARLY") == "False True", out.stdout   # the template was forked before the zygote's warm-up


def test_a_restarted_template_never_grades_with_changed_checks(tmp_path):
    """A template that died mid-run is started again only while the bundle's checks are those the run began
    with; otherwise the submission's row says why (the kit's, not the student's), and no grade is given."""
    import shutil
    from autograder.coursedir import CourseDir
    from autograder.grader import Grader
    course = tmp_path / "course"
    for folder in ("source", "release", "solutions"):
        shutil.copytree(REPO / folder / "sgd_mnist", course / folder / "sgd_mnist")
    bundle = CourseDir(course).bundle("sgd_mnist")
    grader = Grader(bundle)
    path = variant(tmp_path / "nb.ipynb")
    first = grade_notebooks(notebooks=[path], student_id="a", bundle=bundle, options=OPTS, grader=grader)
    assert_full_marks(first)
    os.kill(grader.template.pid, signal.SIGKILL)
    with open(bundle.solutions / "test_softmax.py", "a") as f:
        f.write("\n# edited during the run\n")
    deadline = time.monotonic() + 10
    while alive(grader.template.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    second = grade_notebooks(notebooks=[path], student_id="b", bundle=bundle, options=OPTS, grader=grader)
    assert second.status == "internal_error" and second.score == 0, (second.status, second.message)
    assert "checks or references changed" in second.message, second.message
    grader.zygote.close()


SEED_PROBE = r'''
import json, linecache, sys
import torch, torch._dynamo
from autograder.warm import warm_seed_sources
if sys.argv[1] == "warm":
    warm_seed_sources()
read, real = [], linecache.updatecache
linecache.updatecache = lambda filename, module_globals=None: (read.append(filename), real(filename, module_globals))[1]
torch.manual_seed(0)
print(json.dumps(sorted({f for f in read if "/torch/" in f})))
'''


def test_the_zygote_has_read_the_sources_that_torch_manual_seed_formats():
    """torch.manual_seed formats a stack per accelerator backend it cannot seed yet; after the zygote's
    warm_seed_sources, none of torch's files is read again for it (each jail would otherwise read them)."""
    import json
    import subprocess
    import sys
    seen = {how: json.loads(subprocess.run([sys.executable, "-c", SEED_PROBE, how], capture_output=True, text=True,
                                           timeout=120, cwd=REPO, check=True).stdout)
            for how in ("cold", "warm")}
    assert any(f.endswith("/torch/random.py") for f in seen["cold"]), seen   # it formats stacks: the test measures
    assert seen["warm"] == [], seen
