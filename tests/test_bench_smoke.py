"""The benchmark's class builder (benchmarks/classbuild.py), not its timings: for N=3 it writes valid nbgrader
notebooks, the same files for nbgrader and the kit, and the kit grades the reference student full marks.
(Speed is measured by `make bench`, never asserted in tests.)"""
from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import nbformat

from tests._grading import grade

REPO = Path(__file__).resolve().parents[1]


def _bench(name: str):
    """benchmarks/NAME.py as a module (the folder is no package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # a dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


def _classbuild():
    return _bench("classbuild")


def test_bench_class_builder(tmp_path):
    cb = _classbuild()
    bc = cb.build(tmp_path, 3)
    assert list(bc.students.values()) == list(cb.MIX[:3])
    reference = next(sid for sid, variant in bc.students.items() if variant == "ada")

    for sid in bc.students:
        path = bc.notebook(sid)
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        meta = [c.metadata["nbgrader"] for c in nb.cells]
        assert all(m["schema_version"] == 3 for m in meta)
        assert [m["grade_id"] for m in meta if m["solution"]] == list(cb.EXERCISES)
        tests = [m for m in meta if m["grade"]]
        assert [m["grade_id"] for m in tests] == [f"test_{ex}" for ex in cb.EXERCISES if ex in cb.TESTS]
        assert all(m["points"] == cb.TEST_POINTS and m["locked"] for m in tests)
        code = "\n".join(c.source for c in nb.cells)
        assert "### BEGIN SOLUTION" not in code and "NotImplementedError" not in code
        assert not any(c.metadata["nbgrader"]["grade_id"] in ("load", "train") for c in nb.cells)

    # the released notebook came from nbgrader itself, and both courses hold the same assignment
    release = bc.nbgrader_course / "release" / cb.ASSIGNMENT / cb.NOTEBOOK
    assert "NotImplementedError" in release.read_text()
    assert (bc.autograder_course / "release" / cb.ASSIGNMENT / cb.NOTEBOOK).read_text() == release.read_text()
    assert (bc.autograder_course / "release" / cb.ASSIGNMENT / "mnist_data.py").is_file()
    assert json.loads(bc.notebook("ben001").read_text()) != json.loads(bc.notebook(reference).read_text())

    result = grade(bc.notebook(reference), reference)
    assert result.score == result.max_score > 0, result.exercise_scores()


def test_ab_grades_the_same_class_on_both_sides(tmp_path):
    """`make ab`'s tool, on HEAD against this tree: both sides build and grade the class; where the tree is
    HEAD (a clean clone) the two give the class the same points. Where perf can count, `--counters` adds each
    run's kernel counts; where it cannot, `--counters` is refused with the reason."""
    import subprocess
    ab = _bench("ab")
    events = ab.counter_events()
    counters = [] if isinstance(events, str) else ["--counters"]
    if not counters:
        refused = subprocess.run([sys.executable, str(REPO / "benchmarks" / "ab.py"), "HEAD", "--counters"],
                                 capture_output=True, text=True, timeout=60)
        assert refused.returncode == 2 and events in refused.stderr and "Traceback" not in refused.stderr
    out = tmp_path / "ab.json"
    patch = tmp_path / "marker.patch"   # side A gets a file of its own: it applies to any HEAD, changes no grade
    patch.write_text("diff --git a/AB_SIDE_A b/AB_SIDE_A\nnew file mode 100644\n--- /dev/null\n+++ b/AB_SIDE_A\n"
                     "@@ -0,0 +1 @@\n+patched\n")
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "ab.py"), "HEAD", "--n", "3", "--rounds", "1",
                           "--jobs", "1", "--out", str(out), "--patch", str(patch)] + counters,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "with " + str(patch) + " applied" in done.stdout and "+ marker" in done.stdout
    assert not (REPO / "AB_SIDE_A").exists(), "the patch went to side A's worktree only"
    figures = json.loads(out.read_text())
    (a, b), = [(f["a"], f["b"]) for f in figures["jobs"].values()]
    assert len(a) == len(b) == 1 and a[0] > 0 and b[0] > 0
    assert "B ÷ A" in done.stdout and len(figures["points"]) == 2
    if os.geteuid() == 0 and os.path.isfile("/sys/fs/cgroup/cpuacct/cgroup.procs"):   # the CPU seconds, measured
        (cpu_a, cpu_b), = [(f["cpu_a"], f["cpu_b"]) for f in figures["jobs"].values()]
        assert cpu_a[0] > 1 and cpu_b[0] > 1 and "CPU seconds of the whole process tree" in done.stdout
        assert not [g for g in os.listdir("/sys/fs/cgroup/cpuacct") if g.startswith("autograder-ab-")]
    else:
        assert "no CPU figures" in done.stdout
    if counters:   # three submissions and a start-up: thousands of page faults, some context switches, per side
        (counts_a, counts_b), = [(f["counts_a"], f["counts_b"]) for f in figures["jobs"].values()]
        for counts in counts_a + counts_b:
            assert counts["page-faults"] > 10_000 and counts["context-switches"] > 10, counts
            assert "mmap" not in counts or counts["mmap"] > 100, counts
        assert "What the kernel did for each run" in done.stdout
    changed = subprocess.run(["git", "status", "--porcelain", "--", "autograder", "solutions", "source", "release",
                              "benchmarks/classbuild.py"], cwd=REPO, capture_output=True, text=True).stdout
    if not changed:   # this tree grades as HEAD does (always so on a clean clone): the same points twice
        assert len(set(figures["points"].values())) == 1, figures["points"]
    worktrees = subprocess.run(["git", "worktree", "list"], cwd=REPO, capture_output=True, text=True).stdout
    assert str(tmp_path) not in worktrees and "autograder-ab-" not in worktrees, "the side's worktree is removed"


def test_ab_refuses_what_is_not_a_commit():
    import subprocess
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "ab.py"), "no-such-revision"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "not a commit of this repository" in done.stderr
    assert "Traceback" not in done.stderr


def test_ab_refuses_a_patch_that_does_not_apply(tmp_path):
    import subprocess
    patch = tmp_path / "stale.patch"
    patch.write_text("diff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n@@ -1,1 +1,1 @@\n"
                     "-no such first line in the README\n+a replacement\n")
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "ab.py"), "HEAD", "--patch", str(patch)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "does not apply to HEAD" in done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    worktrees = subprocess.run(["git", "worktree", "list"], cwd=REPO, capture_output=True, text=True).stdout
    assert "autograder-ab-" not in worktrees, "the side's worktree is removed"
    missing = subprocess.run([sys.executable, str(REPO / "benchmarks" / "ab.py"), "HEAD", "--patch",
                              str(tmp_path / "absent.patch")], capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "no patch file" in missing.stderr


def test_procwatch_tells_the_zygotes_forks_apart():
    """The memory figures' roles, on a literal process tree of a `--jobs 1` run: the judges' template and its
    judge are zygote forks as much as a session server is; what tells them apart is whose children are jails."""
    pw = _bench("procwatch")
    zyg, cli, jail_uid = "python -m autograder.jail.zygote 5", "python -m autograder.cli grade sgd_mnist", 200_123
    tree = [pw.Proc(10, 1, 1, cli), pw.Proc(11, 10, 2, zyg), pw.Proc(12, 11, 3, zyg),    # cli, zygote, template
            pw.Proc(13, 12, 4, zyg), pw.Proc(14, 11, 5, zyg),                          # judge, session server
            pw.Proc(15, 14, 6, zyg, max_uid=jail_uid), pw.Proc(16, 14, 7, zyg, max_uid=jail_uid + 1),
            pw.Proc(17, 10, 8, "python -m autograder.report.nbgrader_sink")]
    watch = pw.TreeWatch(10)
    watch.procs = {(p.pid, p.start): p for p in tree}
    roles = {pid: role for (pid, _), role in watch.roles().items()}
    assert roles == {10: "worker", 11: "zygote", 12: "template", 13: "judge", 14: "zygote fork", 15: "jail",
                     16: "jail", 17: "other"}


def test_ab_reads_perf_stat_output():
    """`perf stat -x,` lines as perf 6 writes them (value, unit, event, run time, share, ...), literal."""
    ab = _bench("ab")
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".perf", delete=False) as f:
        f.write("# started on Thu Dec  3 00:30:00 2026\n\n"
                "437330,,page-faults,586661667,100.00,248.167,K/sec\n"
                "18610,,context-switches,586661667,100.00,460.231,/sec\n"
                "5234,,syscalls:sys_enter_mmap,586661667,100.00,,\n"
                "<not counted>,,syscalls:sys_enter_brk,0,0.00,,\n")
    try:
        assert ab.read_counts(Path(f.name)) == {"page-faults": 437330, "context-switches": 18610, "mmap": 5234}
    finally:
        os.unlink(f.name)


def test_ab_says_why_it_cannot_count(monkeypatch):
    ab = _bench("ab")
    monkeypatch.setattr(ab.shutil, "which", lambda name: None)
    assert ab.counter_events() == "perf is not installed (Debian: apt-get install linux-perf)"


def test_cputree_reads_perf_script_output():
    """`perf script --show-task-events -F comm,pid,tid,time,period,event` lines as perf 6 writes them, literal: a
    thread's samples count for its process, an exec names the process, childless small children fold."""
    ct = _bench("cputree")
    text = """\
       perf-exec     0/0         0.000000: PERF_RECORD_COMM: perf-exec:100/100
          python   100/100   10.000000: PERF_RECORD_COMM exec: python:100/100
          python   100/100   10.001000:    1000000 cpu-clock: 
          python   100/100   10.002000: PERF_RECORD_FORK(100:105):(100:100)
          python   100/105   10.003000:    1000000 cpu-clock: 
          python   100/100   10.004000: PERF_RECORD_FORK(101:101):(100:100)
          python   101/101   10.005000:    1000000 cpu-clock: 
          python   101/101   10.006000:    1000000 cpu-clock: 
          python   101/101   10.006500:    1000000 cpu-clock: 
          python   101/101   10.007000: PERF_RECORD_FORK(102:102):(101:101)
        ldconfig   102/102   10.007500: PERF_RECORD_COMM exec: ldconfig:102/102
        ldconfig   102/102   10.008000: PERF_RECORD_EXIT(102:102):(101:101)
          python   101/101   10.009000: PERF_RECORD_FORK(103:103):(101:101)
          python   103/103   10.010000:    1000000 cpu-clock: 
          python   100/100   10.011000: PERF_RECORD_FORK(104:104):(100:100)
          python   104/104   10.012000: PERF_RECORD_COMM exec: python:104/104
"""
    procs = ct.read_script(text)
    assert sorted(procs) == [100, 101, 102, 103, 104]            # the thread 105 is no process
    assert procs[100].ns == 2_000_000 and procs[100].execd       # its thread's sample included
    assert procs[101].parent == 100 and not procs[101].execd and procs[101].ns == 3_000_000
    assert procs[102].name == "ldconfig" and procs[102].execd and procs[103].name == "python"
    assert procs[104].execd and procs[104].ns == 0
    assert ct.subtree_ns(procs, 100) == 6_000_000
    lines, rows = ct.render(procs, fold=0.2)
    assert [(r["depth"], r["pid"], r["kind"], round(r["own_s"], 3), round(r["tree_s"], 3), r["folded"])
            for r in rows] == [(0, 100, "exec", 0.002, 0.006, 1), (1, 101, "fork", 0.003, 0.004, 1),
                               (2, None, "children", 0.001, 0.001, 2), (1, 104, "exec", 0.0, 0.0, 1)]
    assert rows[2]["name"] == "ldconfig, python" and "[2 short-lived children: ldconfig, python]" in lines[3]


BURNER = r"""
import os
def burn(n):
    s = 0
    for i in range(n):
        s += i
for _ in range(2):
    if os.fork() == 0:
        burn(4_000_000)
        os._exit(0)
for _ in range(5):
    if os.fork() == 0:
        os._exit(0)
burn(1_000_000)
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
"""


def test_cputree_measures_a_real_process_tree(tmp_path):
    """Two forks that burn CPU each get their own line; five that do nothing fold into one; or, where perf cannot
    record here, the tool says why and exits 2."""
    import shutil
    import subprocess
    out = tmp_path / "tree.json"
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "cputree.py"), "--json", str(out), "--",
                           sys.executable, "-c", BURNER], capture_output=True, text=True, timeout=300)
    if shutil.which("perf") is None:
        assert done.returncode == 2 and "perf is not installed" in done.stderr, done.stderr
        return
    if done.returncode == 2 and "perf record wrote nothing" in done.stderr:
        return   # perf is here but may not record (not root, perf_event_paranoid): the tool said so
    assert done.returncode == 0, done.stderr
    rows = json.loads(out.read_text())["rows"]
    root, forks = rows[0], [r for r in rows if r["depth"] == 1 and r["kind"] == "fork"]
    assert root["kind"] == "exec" and len(forks) == 2, done.stdout
    assert all(f["own_s"] > 0.1 for f in forks), done.stdout            # 4M loop steps: ~0.2 s or more each
    folded = [r for r in rows if r["kind"] == "children"]
    assert len(folded) == 1 and folded[0]["folded"] == 5, done.stdout
    assert abs(root["tree_s"] - sum(r["own_s"] for r in rows)) < 1e-6
    assert "short-lived children" in done.stdout
