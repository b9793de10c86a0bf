#!/usr/bin/env python
"""Speed and memory of the kit, side by side with real nbgrader, in one run (`make bench`).

1. builds a class of N compact `sgd_mnist` submissions (default 200, a large course section; see
   classbuild.py): identical files for both graders, nbgrader notebooks with the imports cell, the ten
   exercise cells (solutions, classic mistakes, untouched stubs) and four visible nbgrader test cells;
2. grades all of it with `autograder grade --jobs 1` and `--jobs <cores>` (interleaved rounds, the median run
   reported), then the class's first `--small-n` (40) the same way (a small class, where the fixed start-up
   weighs more), then all of it with real `nbgrader autograde` (serial, one kernel per notebook); wall
   clocks only (polling /proc costs CPU: memory comes from a separate watched run);
3. times `autograder check NOTEBOOK` against a bare `python -c "import torch"` (interleaved runs, medians;
   by default `check` goes through the warm check server, whose first start is reported apart; with
   AUTOGRADER_NO_SERVER=1 it grades in-process);
   then `%autograde NOTEBOOK` in a Jupyter kernel (the first call, then again on the unchanged notebook and
   on an edited one);
4. grades 200 submissions one after another in one process (`grade_notebooks` in a loop) and records the
   worker's RSS (and its judge's and zygote's) after each: it must stay flat;
5. prints a table and the acceptance lines (computed on the whole class), and writes every figure to a JSON
   file (--out).

Usage:  python benchmarks/bench.py [--n 200] [--small-n 40] [--jobs CORES] [--quick] [--out FILE.json] [--keep]
                                  [--strict]
Exit 0 once the figures are printed (1 with --strict when an acceptance line fails); a traceback if the run broke.
"""
from __future__ import annotations

import argparse
import re
import csv
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import classbuild  # noqa: E402
from procwatch import TreeWatch, rss_of  # noqa: E402

ASSIGNMENT = classbuild.ASSIGNMENT
BIN = Path(sys.executable).parent


def autograder_cmd() -> list[str]:
    script = BIN / "autograder"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "autograder.cli"]


def script_python() -> str:
    """The interpreter the `autograder` console script runs (its shebang), else this one."""
    script = BIN / "autograder"
    try:
        first = script.read_text(errors="replace").splitlines()[0]
    except (OSError, IndexError):
        return sys.executable
    return first[2:].strip() if first.startswith("#!") and Path(first[2:].strip()).is_file() else sys.executable


def say(*args) -> None:
    print(*args, flush=True)


_PROGRESS = re.compile(r"^\[\d+/\d+\] .*\(([0-9.]+) s, at ([0-9.]+) s\)$")


def grading_phase(log: Path) -> float | None:
    """Seconds from the first submission's start to the last one's end, read off `grade`'s progress lines:
    the run's wall time less its fixed costs (starting the grader, writing the gradebook)."""
    spans = [(float(m[2]) - float(m[1]), float(m[2]))
             for line in Path(log).read_text(errors="replace").splitlines() if (m := _PROGRESS.match(line.strip()))]
    return round(max(e for _, e in spans) - min(s for s, _ in spans), 3) if spans else None


def run_watched(cmd: list[str], *, cwd: Path, env: dict | None = None, log: Path, watch: bool = False) -> dict:
    """Run a command and time its wall clock; with `watch`, also poll its process tree's memory (polling
    /proc costs CPU, so timed runs are not watched: memory comes from a separate run)."""
    with open(log, "w") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        if watch:
            with TreeWatch(proc.pid) as watcher:
                rc = proc.wait()
        else:
            rc = proc.wait()
        wall = time.perf_counter() - start
    return {"cmd": " ".join(cmd), "rc": rc, "wall_s": round(wall, 3),
            "memory": watcher.summary() if watch else None, "log": str(log)}


# ---------------------------------------------------------------- grading runs
def grade_autograder(bc: classbuild.BenchClass, jobs: int, work: Path, *, watch: bool = False,
                     subset: Path | None = None) -> dict:
    """`autograder grade --jobs N` on the whole class, or on `subset` (a folder holding some of its
    submissions)."""
    course = bc.autograder_course
    for leftover in ("gradebook.db", "feedback"):  # every run starts from the same state
        path = course / leftover
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    label = f"jobs{jobs}" + ("-memory" if watch else "") + (f"-{subset.name}" if subset else "")
    out = work / f"graded-{label}"
    shutil.rmtree(out, ignore_errors=True)
    submitted = subset or bc.submitted
    # --gradebook: the kit fills nbgrader's gradebook.db and feedback/, as nbgrader autograde does
    cmd = autograder_cmd() + ["grade", ASSIGNMENT, "--submissions", str(submitted), "--out", str(out),
                              "--jobs", str(jobs), "--force", "--gradebook", "--course-root", str(course)]
    res = run_watched(cmd, cwd=course, log=work / f"autograder-{label}.log", watch=watch)
    rows = list(csv.DictReader(open(out / "grades.csv"))) if (out / "grades.csv").is_file() else []
    seconds = []
    for sid in sorted(p.name for p in submitted.iterdir()):
        path = out / sid / "results.json"
        if path.is_file():
            seconds.append(json.loads(path.read_text()).get("seconds", 0.0) or 0.0)
    res.update(jobs=jobs, out=str(out), graded=sum(r["status"] == "graded" for r in rows), rows=len(rows),
               scores={r["student_id"]: {k: float(v) for k, v in r.items()
                                         if k not in ("student_id", "status") and v not in ("", None)}
                       for r in rows},
               median_submission_s=round(statistics.median(seconds), 3) if seconds else None,
               grading_phase_s=grading_phase(Path(res["log"])),
               sum_submission_s=round(sum(seconds), 3))
    return res


def interleaved(bc: classbuild.BenchClass, jobs: int, work: Path, rounds: int, *, subset: Path | None = None,
                what: str) -> tuple[dict, dict]:
    """The median run of `--jobs 1` and of `--jobs <jobs>`, `rounds` runs each, interleaved so that a noisy
    moment of a shared machine hits both alike."""
    runs: dict[int, list[dict]] = {1: [], jobs: []} if jobs != 1 else {1: []}
    for i in range(rounds):
        for k in runs:
            say(f"autograder grade --jobs {k} on {what} (round {i + 1} of {rounds}) ...")
            runs[k].append(grade_autograder(bc, k, work, subset=subset))
            say(f"  {runs[k][-1]['wall_s']:.1f} s, graded {runs[k][-1]['graded']}")
    return median_run(runs[1]), median_run(runs[jobs])


def subset_of(bc: classbuild.BenchClass, k: int, work: Path) -> Path:
    """A submissions folder holding the class's first `k` students (copies of the same files)."""
    folder = work / f"first{k}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    for sid in list(bc.students)[:k]:
        shutil.copytree(bc.submitted / sid, folder / sid)
    return folder


def median_run(results: list[dict]) -> dict:
    """The run with the median wall time (the lower middle one for an even count), with every run's wall."""
    ordered = sorted(results, key=lambda res: res["wall_s"])
    pick = dict(ordered[(len(ordered) - 1) // 2])
    pick["walls_s"] = [res["wall_s"] for res in results]
    return pick


def grade_nbgrader(bc: classbuild.BenchClass, work: Path, exclude: list[str]) -> dict:
    cmd = [sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, "--force"]
    if exclude:  # grade only the first K
        cmd.append(f"--CourseDirectory.student_id_exclude={','.join(exclude)}")
    res = run_watched(cmd, cwd=bc.nbgrader_course, env=classbuild.nbgrader_env(), log=work / "nbgrader.log")
    done = sorted(bc.nbgrader_course.glob(f"autograded/*/{ASSIGNMENT}/{classbuild.NOTEBOOK}"))
    res.update(graded=len(done))
    return res


def nbgrader_scores(bc: classbuild.BenchClass) -> dict[str, dict[str, float]]:
    """student -> {exercise: points of its visible test cell} from nbgrader's gradebook."""
    from nbgrader.api import Gradebook
    out: dict[str, dict[str, float]] = {}
    with Gradebook(f"sqlite:///{bc.nbgrader_course / 'gradebook.db'}") as gb:
        for sid in bc.students:
            out[sid] = {}
            for ex in classbuild.TESTS:
                try:
                    out[sid][ex] = float(gb.find_grade(f"test_{ex}", "sgd_mnist", ASSIGNMENT, sid).score)
                except Exception:  # noqa: BLE001 - not graded
                    pass
    return out


def agreement(bc, ours: dict, theirs: dict) -> dict:
    """On the exercises nbgrader's visible tests cover: do both graders agree on full marks or not?"""
    agree = total = 0
    disagree = []
    for sid in bc.students:
        for ex in classbuild.TESTS:
            if ex in theirs.get(sid, {}) and ex in ours.get(sid, {}):
                total += 1
                a = ours[sid][ex] >= classbuild.TEST_POINTS
                b = theirs[sid][ex] >= classbuild.TEST_POINTS
                agree += a == b
                if a != b:
                    disagree.append(f"{sid}/{ex}: ours {ours[sid][ex]:g}, nbgrader {theirs[sid][ex]:g}")
    return {"compared": total, "agree": agree, "disagreements": disagree}


# ---------------------------------------------------------------- check vs import torch
def check_timings(bc: classbuild.BenchClass, work: Path, rounds: int) -> dict:
    import importlib.util
    pkg = Path(importlib.util.find_spec("autograder").submodule_search_locations[0])
    has_server = (pkg / "server.py").is_file()
    has_no_server = any("AUTOGRADER_NO_SERVER" in (pkg / f).read_text() for f in ("check.py", "cli.py", "config.py")
                        if (pkg / f).is_file())   # older kits read it in check.py
    runtime = work / "xdg-runtime"  # a private check server for this benchmark, stopped at the end
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime))
    env_noserver = dict(env, AUTOGRADER_NO_SERVER="1")
    compact = bc.notebook(next(iter(bc.students)))  # a reference-solutions student (full marks)
    full = full_lesson_notebook(bc)
    cwd = bc.autograder_course
    # the compact notebooks come from a plain nbgrader release (no metadata) and sit in the nbgrader course,
    # which `check` would take for theirs: name both
    named = ["--assignment", ASSIGNMENT, "--course-root", str(bc.autograder_course)]
    commands = {
        "import torch": ([sys.executable, "-c", "import torch"], env),
        "check (compact notebook)": (autograder_cmd() + ["check", str(compact), *named], env),
        "check (full lesson notebook)": (autograder_cmd() + ["check", str(full)], env),
    }
    if has_no_server:
        commands["check, AUTOGRADER_NO_SERVER=1"] = (autograder_cmd() + ["check", str(compact), *named], env_noserver)

    def once(name: str) -> tuple[float, int]:
        cmd, e = commands[name]
        t = time.perf_counter()
        rc = subprocess.run(cmd, cwd=cwd, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        return time.perf_counter() - t, rc

    first = None
    if has_server:  # the first check starts the server (cold); later ones find it warm
        first_s, rc = once("check (compact notebook)")
        first = {"wall_s": round(first_s, 3), "rc": rc}
    times: dict[str, list[float]] = {k: [] for k in commands}
    rcs: dict[str, set] = {k: set() for k in commands}
    for _ in range(rounds):
        for name in commands:
            s, rc = once(name)
            times[name].append(round(s, 3))
            rcs[name].add(rc)
    if has_server:  # every server this benchmark started (its sockets are in the private runtime folder)
        stop_servers(runtime)
    med = {k: round(statistics.median(v), 3) for k, v in times.items()}
    base = med["import torch"]
    return {"rounds": rounds, "server": has_server, "first_check_starting_server": first,
            "runs_s": times, "median_s": med, "exit_codes": {k: sorted(v) for k, v in rcs.items()},
            "ratio_to_import_torch": {k: round(v / base, 2) for k, v in med.items() if k != "import torch"}}


def stop_servers(runtime: Path) -> None:
    """Stop every check server whose socket lies in this benchmark's private runtime folder."""
    from autograder.server import _connect, _recv, _send
    for sock_path in (runtime / "autograder").glob("*.sock"):
        sock = _connect(sock_path)
        if sock is not None:
            with sock:
                _send(sock, {"op": "stop"})
                _recv(sock)


def full_lesson_notebook(bc: classbuild.BenchClass, assignment: str = ASSIGNMENT) -> Path:
    """What a self-learner checks: the whole lesson notebook (data, training, plots) with the solutions,
    next to its released files (the release notebook carries its assignment's name)."""
    from autograder.coursedir import CourseDir
    from autograder.demo import load_students
    from autograder.demo.build import solutions, student_notebooks
    bundle = CourseDir(classbuild.REPO).bundle(assignment)
    release = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in bundle.notebooks(bundle.release)}
    folder = bc.root / f"self-learner-{assignment}"
    folder.mkdir(exist_ok=True)
    for extra in bundle.release.glob("*.py"):
        shutil.copy(extra, folder / extra.name)
    reference = next(s for s in load_students(bundle) if s.full)
    texts = student_notebooks(reference, release, solutions(bundle.source))
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder / sorted(texts)[0]


# ---------------------------------------------------------------- the second lesson, kit only
def second_lesson(work: Path, n: int, jobs: int, rounds: int, check_rounds: int) -> dict:
    """mnist_basics: a class of `n` built from its sample class (solutions, misconceptions, a broken rule, a
    hostile notebook, a corrupted file, stubs), graded with --jobs 1 and --jobs <jobs> (interleaved rounds,
    medians), and `autograder check` on its full lesson notebook through the warm server (nbgrader is timed
    on sgd_mnist only: its visible tests are written for that lesson's compact class)."""
    from autograder.coursedir import CourseDir
    from autograder.demo.build import build_class
    bundle = CourseDir(classbuild.REPO).bundle("mnist_basics")
    course_copy, students = build_class(bundle, work / "mnist_basics-course")
    course = course_copy.course
    sample = sorted(p for p in course.submitted().iterdir())
    for k in range(len(sample), n):      # the sample class repeated, as many times as it takes
        shutil.copytree(sample[k % len(sample)], course.submitted() / f"{sample[k % len(sample)].name}{k:03d}")
    runs: dict[int, list[dict]] = {1: [], jobs: []} if jobs != 1 else {1: []}
    for i in range(rounds):
        for k in runs:
            out = work / f"mnist_basics-graded-{k}"
            shutil.rmtree(out, ignore_errors=True)
            cmd = autograder_cmd() + ["grade", "mnist_basics", "--out", str(out), "--jobs", str(k), "--force",
                                      "--course-root", str(course.root)]
            say(f"autograder grade mnist_basics --jobs {k} on {n} (round {i + 1} of {rounds}) ...")
            res = run_watched(cmd, cwd=course.root, log=work / f"mnist_basics-{k}-{i}.log")
            rows = list(csv.DictReader(open(out / "grades.csv"))) if (out / "grades.csv").is_file() else []
            secs = [json.loads(p.read_text()).get("seconds", 0.0) for p in out.glob("*/results.json")]
            res.update(rows=len(rows), graded=sum(r["status"] == "graded" for r in rows),
                       median_submission_s=round(statistics.median(secs), 3) if secs else None)
            runs[k].append(res)
            say(f"  {res['wall_s']:.1f} s, graded {res['graded']} of {res['rows']}")
    j1, jn = median_run(runs[1]), median_run(runs[jobs])
    runtime = work / "xdg-runtime-mnist_basics"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime))
    env.pop("AUTOGRADER_NO_SERVER", None)
    nb = full_lesson_notebook(classbuild.BenchClass(root=work, nbgrader_course=work, autograder_course=work),
                              "mnist_basics")
    cmd = autograder_cmd() + ["check", str(nb), "--course-root", str(classbuild.REPO)]
    t = time.perf_counter()
    first_rc = subprocess.run(cmd, env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    first = time.perf_counter() - t
    walls = []
    for _ in range(check_rounds):
        t = time.perf_counter()
        subprocess.run(cmd, env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        walls.append(round(time.perf_counter() - t, 3))
    stop_servers(runtime)
    return {"n": n, "students": len(students), "jobs1": j1, "jobsN": jn,
            "s_per_submission": {"jobs1": round(j1["wall_s"] / n, 4), "jobsN": round(jn["wall_s"] / n, 4)},
            "jobs_speedup": round(j1["wall_s"] / jn["wall_s"], 3),
            "check_first_s": round(first, 3), "check_first_rc": first_rc, "check_runs_s": walls,
            "check_median_s": round(statistics.median(walls), 3) if walls else None}


# ---------------------------------------------------------------- %autograde in a Jupyter kernel
def autograde_timings(notebook: Path, cwd: Path, work: Path, rounds: int) -> dict:
    """`%autograde NOTEBOOK` in a Jupyter kernel of this environment (what a self-learner runs in a
    notebook), from the execute request to its reply, table shown: the first call (it starts a warm check
    server of its own) apart; then `rounds` more on the unchanged notebook (the issue's "second %autograde":
    the kit reuses the result of a notebook unchanged in all that grading reads), interleaved with `rounds`
    on an edited one (the notebook's metadata touched: graded again by the warm server)."""
    from jupyter_client.manager import start_new_kernel
    runtime = work / "xdg-runtime-autograde"  # a private check server, stopped at the end
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime))
    env.pop("AUTOGRADER_NO_SERVER", None)
    km, kc = start_new_kernel(kernel_name="python3", env=env, cwd=str(cwd), startup_timeout=120)

    def run(code: str, *, table: bool = True) -> tuple[float, list[str]]:
        shown: list[str] = []

        def hook(msg):
            if msg["msg_type"] == "display_data":
                shown.append(msg["content"]["data"].get("text/plain", ""))
        t = time.perf_counter()
        reply = kc.execute_interactive(code, timeout=600, output_hook=hook)
        wall = time.perf_counter() - t
        if reply["content"]["status"] != "ok" or (table and not shown):
            raise RuntimeError(f"{code} showed no table in the kernel: {reply['content']}")
        return round(wall, 3), (shown[0].splitlines() if shown else [])

    def edit(i: int) -> None:
        nb = json.loads(notebook.read_text(encoding="utf-8"))
        nb["metadata"]["bench_edit"] = i
        notebook.write_text(json.dumps(nb, indent=1), encoding="utf-8")

    line = f"%autograde {notebook}"
    try:
        load_s, _ = run("%load_ext autograder", table=False)
        first_s, table = run(line)
        unchanged, edited = [], []
        for i in range(rounds):
            unchanged.append(run(line))
            edit(i)
            edited.append(run(line))
            run(line)                                   # the edited notebook's result, for the next round
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        stop_servers(runtime)
    same = all(t[0] == table[0] and t[2:] == table[2:] for _, t in unchanged + edited)
    reused = all(t[1].endswith("unchanged since it was last checked, so the same result") for _, t in unchanged)
    graded = not any(t[1].endswith("so the same result") for _, t in edited)
    walls_u, walls_e = [w for w, _ in unchanged], [w for w, _ in edited]
    return {"rounds": rounds, "notebook": str(notebook), "load_ext_s": load_s, "first_s": first_s,
            "unchanged_s": walls_u, "edited_s": walls_e, "median_unchanged_s": round(statistics.median(walls_u), 3),
            "median_edited_s": round(statistics.median(walls_e), 3), "table": table[0],
            "same_table_every_time": same, "unchanged_reused": reused, "edited_graded_again": graded}


# ---------------------------------------------------------------- memory over a long class
def memory_run(bc: classbuild.BenchClass, count: int, work: Path) -> dict:
    out = work / "memory.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--memory-worker", str(bc.submitted),
           str(bc.autograder_course), str(count), str(out)]
    t = time.perf_counter()
    done = subprocess.run(cmd, cwd=bc.autograder_course, capture_output=True, text=True)
    if done.returncode != 0 or not out.is_file():
        return {"error": (done.stdout + done.stderr)[-3000:]}
    data = json.loads(out.read_text())
    data["wall_s"] = round(time.perf_counter() - t, 2)
    return data


def _slope(ys: list[float]) -> float:
    n = len(ys)
    if n < 2:
        return 0.0
    mx, my = (n - 1) / 2, sum(ys) / n
    return sum((i - mx) * (y - my) for i, y in enumerate(ys)) / sum((i - mx) ** 2 for i in range(n))


def memory_worker(submitted: Path, course_root: Path, count: int, out: Path) -> None:
    """In a fresh process: grade `count` submissions in a row, as one grading worker does, recording RSS."""
    from autograder.coursedir import CourseDir
    from autograder.grader import grade_notebooks, grader_for
    # In the order the class was built (student k is MIX[k % len(MIX)]: "ada000", "ben001", ...), not sorted by
    # name, which puts all 15 untouched stubs (kim) and all of lou's at the end: each kind of submission takes its
    # own paths through the checks, whose first runs grow the judge's heap to a plateau (a warm-up, not a leak;
    # seen: +14 MiB over the first ~40 stubs in a row, then flat). Interleaved, every path is warm before the
    # second half, where growth would be a leak.
    notebooks = sorted(submitted.glob(f"*/{ASSIGNMENT}/*.ipynb"),
                       key=lambda p: (int(re.sub(r"\D", "", p.parts[-3]) or 0), p.parts[-3]))
    bundle = CourseDir(course_root).bundle(ASSIGNMENT)
    grader = grader_for(bundle)
    zygote = grader.zygote.pid
    worker, judge, zyg, secs, statuses, judges = [], [], [], [], {}, set()
    for i in range(count):
        nb = notebooks[i % len(notebooks)]
        r = grade_notebooks(notebooks=[nb], student_id=f"m{i:04d}", bundle=bundle, grader=grader)
        statuses[r.status] = statuses.get(r.status, 0) + 1
        secs.append(r.seconds)
        worker.append(rss_of() / 2**20)
        judges.add(grader._judge.pid)
        judge.append(rss_of(grader._judge.pid) / 2**20)
        zyg.append(rss_of(zygote) / 2**20)

    def stats(series: list[float]) -> dict:
        warm = series[len(series) // 10:]  # after a warm-up tenth
        return {"first_mib": round(series[0], 1), "last_mib": round(series[-1], 1), "max_mib": round(max(series), 1),
                "growth_after_warmup_mib": round(warm[-1] - warm[0], 2),
                "growth_second_half_mib": round(series[-1] - series[len(series) // 2], 2),
                "slope_kib_per_submission": round(_slope(warm) * 1024, 2)}
    out.write_text(json.dumps({"submissions": count, "statuses": statuses,
                               "median_submission_s": round(statistics.median(secs), 3),
                               "worker": stats(worker), "judge": stats(judge), "judge_processes": len(judges),
                               "zygote": stats(zyg),
                               "worker_series_mib": [round(x, 1) for x in worker],
                               "judge_series_mib": [round(x, 1) for x in judge],
                               "zygote_series_mib": [round(x, 1) for x in zyg]}, indent=1))


# ---------------------------------------------------------------- report
def machine() -> dict:
    cpu = ""
    for line in (Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").is_file() else []):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = 0
    if Path("/proc/meminfo").is_file():
        mem = int(Path("/proc/meminfo").read_text().split()[1]) // 2**20
    versions = {}
    for mod in ("torch", "nbgrader"):
        try:
            from importlib.metadata import version
            versions[mod] = version(mod)
        except Exception:  # noqa: BLE001
            pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": mem, "python": platform.python_version(),
            "platform": platform.platform(), **versions}


def loadavg() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def print_report(r: dict) -> None:
    n, nbn, jobs = r["n"], r["nbgrader"]["n"], r["jobs"]
    a1, aj, nb = r["autograder_jobs1"], r["autograder_jobsN"], r["nbgrader"]
    say("")
    say("=" * 100)
    m = r["machine"]
    say(f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; Python {m['python']}, "
        f"torch {m.get('torch')}, nbgrader {m.get('nbgrader')}")
    say(f"load average before / after: {r['loadavg_before']} / {r['loadavg_after']}")
    say(f"class: {n} submissions ({r['class_mix']}); nbgrader graded {nbn} of them")
    say("")
    say(f"{'grader':<36} {'subs':>5} {'wall s':>8} {'s/submission':>13} {'nbgrader ÷ this':>16}")
    say("-" * 82)
    for label, res, k in (("nbgrader autograde (serial)", nb, nbn),
                          ("autograder grade --jobs 1", a1, n),
                          (f"autograder grade --jobs {jobs}", aj, n)):
        ratio = "" if res is nb else f"{r['speed']['ratio_jobs1' if res is a1 else 'ratio_jobsN']:.1f}x"
        say(f"{label:<36} {k:>5} {res['wall_s']:>8.1f} {res['wall_s'] / k:>13.3f} {ratio:>16}")
    if len(a1.get("walls_s", [])) > 1:
        say(f"(each kit row: the median of {len(a1['walls_s'])} interleaved runs; walls --jobs 1 {a1['walls_s']}, "
            f"--jobs {jobs} {aj['walls_s']})")
    say(f"jobs speed-up (--jobs 1 -> --jobs {jobs}), throughput: {r['speed']['jobs_speedup']:.2f}x")
    say(f"inside the kit, one submission (median results.json 'seconds', --jobs 1): {a1['median_submission_s']} s; "
        f"fixed cost of the --jobs 1 run (wall - sum): {a1['wall_s'] - a1['sum_submission_s']:.1f} s")
    st = r["speed"].get("steady")
    if st:
        say(f"grading phase only (first submission's start to last one's end; fixed costs {st['fixed_s']['jobs1']} s "
            f"and {st['fixed_s']['jobsN']} s left out): --jobs 1 {st['s_per_submission']['jobs1']:.3f} s/submission "
            f"({st['ratio_jobs1']:.1f}x), --jobs {jobs} {st['s_per_submission']['jobsN']:.3f} s/submission "
            f"({st['ratio_jobsN']:.1f}x); jobs speed-up {st['jobs_speedup']:.2f}x")
    sc = r.get("small_class")
    if sc:
        say(f"a small class, the first {sc['n']} of them (the fixed start-up weighs more): --jobs 1 "
            f"{sc['jobs1']['wall_s']:.1f} s ({sc['s_per_submission']['jobs1']:.3f} s/submission, "
            f"{sc['ratio_jobs1']:.1f}x nbgrader's per submission above), --jobs {jobs} {sc['jobsN']['wall_s']:.1f} s "
            f"({sc['s_per_submission']['jobsN']:.3f} s/submission, {sc['ratio_jobsN']:.1f}x); jobs speed-up "
            f"{sc['jobs_speedup']:.2f}x (walls {sc['jobs1']['walls_s']} / {sc['jobsN']['walls_s']})")
    mg = r["speed"].get("marginal")
    if mg:
        say(f"marginal cost of a submission (the whole class's wall less its first {sc['n']}'s, per extra submission): "
            f"--jobs 1 {mg['s_per_submission']['jobs1']:.3f} s, --jobs {jobs} {mg['s_per_submission']['jobsN']:.3f} s; "
            f"throughput speed-up {mg['jobs_speedup']:.2f}x")
    steady = r["speed"].get("ratio_steady_state")
    if steady:
        say(f"steady state, fixed costs left out: nbgrader's s/submission ÷ the kit's median seconds per submission "
            f"= {steady:.1f}x (--jobs 1)")
    ag = r.get("agreement")
    if ag:
        say(f"nbgrader's visible tests vs our hidden checks, full marks or not: agree on {ag['agree']} of "
            f"{ag['compared']} (student, exercise) pairs" + (f"; differ: {'; '.join(ag['disagreements'][:8])}"
                                                             if ag["disagreements"] else ""))
    say("")
    c = r["check"]
    say(f"check vs import torch ({c['rounds']} interleaved runs, medians):")
    if c.get("first_check_starting_server"):
        rc = c["first_check_starting_server"]["rc"]
        say(f"  first check (starts the warm server)   {c['first_check_starting_server']['wall_s']:.2f} s"
            + (f"   exit code {rc}" if rc else ""))
    for k, v in c["median_s"].items():
        ratio = c["ratio_to_import_torch"].get(k)
        codes = c["exit_codes"][k]
        say(f"  {k:<38} {v:6.2f} s" + (f"   {ratio:.2f}x import torch" if ratio else "")
            + f"   runs {c['runs_s'][k]}" + (f"   exit codes {codes}" if codes != [0] else ""))
    a = r.get("autograde")
    if a:
        say(f"%autograde NOTEBOOK in a Jupyter kernel, execute request to reply ({a['rounds']} rounds, medians; "
            "the full lesson notebook):")
        say(f"  first (starts the warm check server)      {a['first_s']:6.2f} s")
        say(f"  again, the notebook unchanged (reused)    {a['median_unchanged_s']:6.3f} s   runs {a['unchanged_s']}")
        say(f"  again, the notebook edited (graded again) {a['median_edited_s']:6.3f} s   runs {a['edited_s']}")
    b = r.get("mnist_basics")
    if b:
        say(f"the second lesson, mnist_basics, kit only ({b['n']} submissions from its {b['students']}-student sample "
            f"class, medians of {len(b['jobs1']['walls_s'])} interleaved runs):")
        say(f"  --jobs 1 {b['jobs1']['wall_s']:.1f} s ({b['s_per_submission']['jobs1']:.3f} s/submission), --jobs "
            f"{r['jobs']} {b['jobsN']['wall_s']:.1f} s ({b['s_per_submission']['jobsN']:.3f} s/submission); speed-up "
            f"{b['jobs_speedup']:.2f}x; one submission {b['jobs1']['median_submission_s']} s (median results.json)")
        say(f"  check of the full lesson notebook: first {b['check_first_s']:.2f} s (starts the warm server), then "
            f"median {b['check_median_s']} s, runs {b['check_runs_s']}")
    say("")
    say("peak memory per process role, from a separate --jobs 1 run watched every 50 ms (worker = the grading "
        "process; template = the judges' template, judge = its forks, zygote fork = session servers and jail "
        "launchers, other = e.g. the gradebook writer; see procwatch.py): peak RSS (VmHWM; includes pages shared "
        "copy-on-write with the parent) / peak private memory (USS), MiB, max over the role's processes (how many):")
    for label, res in (("--jobs 1", r["memory_run"]),):
        roles = res["memory"]["roles"]
        parts = [f"{role} {v['peak_hwm_mib']:.0f}/{v['peak_uss_mib']:.0f} (x{v['count']})"
                 for role, v in sorted(roles.items())]
        say(f"  {label:<9} " + ", ".join(parts) + f"; whole tree (sum of PSS) {res['memory']['peak_tree_pss_mib']:.0f}")
    mem = r.get("memory_flat") or {}
    if "worker" in mem:
        w, z = mem["worker"], mem["zygote"]
        say(f"memory over {mem['submissions']} submissions graded in one worker ({mem['statuses']}, "
            f"{mem['median_submission_s']} s each):")
        say(f"  worker RSS: first {w['first_mib']} MiB, last {w['last_mib']} MiB, max {w['max_mib']} MiB, "
            f"slope after warm-up {w['slope_kib_per_submission']} KiB/submission")
        if "judge" in mem:
            j = mem["judge"]
            say(f"  judge RSS ({mem['judge_processes']} process(es) for all of them): first {j['first_mib']} MiB, "
                f"last {j['last_mib']} MiB, max {j['max_mib']} MiB, slope after warm-up "
                f"{j['slope_kib_per_submission']} KiB/submission, growth over the second half "
                f"{j['growth_second_half_mib']} MiB")
        say(f"  zygote RSS: first {z['first_mib']} MiB, last {z['last_mib']} MiB, max {z['max_mib']} MiB, "
            f"slope after warm-up {z['slope_kib_per_submission']} KiB/submission")
    elif mem:
        say(f"memory run failed: {mem.get('error')}")
    say("")
    say("acceptance (issue 'speed'):")
    for line in r["acceptance"]:
        verdict = ("yes " if line["ok"] else "no  ") if line.get("info") else ("PASS" if line["ok"] else "FAIL")
        say(f"  {verdict}  {line['what']}: {line['value']}")
    say("=" * 100)


def acceptance(r: dict) -> list[dict]:
    s, c = r["speed"], r["check"]
    # a check that failed (a usage error exits 2 in a blink) is no timing of a check: the notebook is a reference
    first = c.get("first_check_starting_server") or {"rc": 0}
    checks_ok = first["rc"] == 0 and all(codes == [0] for name, codes in c["exit_codes"].items()
                                         if name.startswith("check"))
    lines = [
        {"what": f"autograder grade (--jobs {r['jobs']}, the default) >= 20x faster per submission than nbgrader",
         "value": f"{s['ratio_jobsN']:.1f}x", "ok": s["ratio_jobsN"] >= 20},
        {"what": "  one worker alone (--jobs 1) >= 20x faster per submission than nbgrader (beyond the issue)",
         "value": f"{s['ratio_jobs1']:.1f}x", "ok": s["ratio_jobs1"] >= 20, "info": True},
        {"what": "autograder check <= 1.3x a bare import torch (median; every check exits 0, full marks)",
         "value": f"{c['ratio_to_import_torch']['check (compact notebook)']:.2f}x" + (
             "" if checks_ok else f", but exit codes {c['exit_codes']}"),
         "ok": c["ratio_to_import_torch"]["check (compact notebook)"] <= 1.3 and checks_ok},
        {"what": f"--jobs {r['jobs']} >= 1.7x the throughput of --jobs 1", "value": f"{s['jobs_speedup']:.2f}x",
         "ok": s["jobs_speedup"] >= 1.7},
    ]
    a = r.get("autograde")
    if a:
        lines += [
            {"what": "a second %autograde on an unchanged notebook < 0.5 s (warm server, median; same table)",
             "value": f"{a['median_unchanged_s']:.3f} s",
             "ok": a["median_unchanged_s"] < 0.5 and a["unchanged_reused"] and a["same_table_every_time"]},
            {"what": "  the same on an edited notebook, graded again by the warm server (beyond the issue)",
             "value": f"{a['median_edited_s']:.3f} s", "ok": a["median_edited_s"] < 0.5 and a["edited_graded_again"],
             "info": True},
        ]
    st = s.get("steady")
    if st:
        lines += [
            {"what": f"  the same, grading phase only (fixed start-up and gradebook costs left out), --jobs {r['jobs']}",
             "value": f"{st['ratio_jobsN']:.1f}x", "ok": st["ratio_jobsN"] >= 20},
            {"what": f"  the same, grading phase only: --jobs {r['jobs']} >= 1.7x the throughput of --jobs 1",
             "value": f"{st['jobs_speedup']:.2f}x", "ok": st["jobs_speedup"] >= 1.7},
        ]
    mg = s.get("marginal")
    if mg:
        lines.append({"what": f"  the same, marginal throughput (the {r['n'] - r['small_class']['n']} submissions the "
                              f"whole class adds to its first {r['small_class']['n']}: start-up cancels out)",
                      "value": f"{mg['jobs_speedup']:.2f}x", "ok": mg["jobs_speedup"] >= 1.7})
    a1, aj, nb = r["autograder_jobs1"], r["autograder_jobsN"], r["nbgrader"]
    complete = a1["graded"] == aj["graded"] == r["n"] and nb["graded"] == nb["n"] and nb["rc"] == 0
    lines.insert(0, {"what": "both graders graded every submission (else the timings mean little)",
                     "value": f"kit {a1['graded']}+{aj['graded']} of {r['n']}+{r['n']}, nbgrader {nb['graded']} of "
                              f"{nb['n']} (rc {nb['rc']})", "ok": complete})
    mem = r.get("memory_flat") or {}
    if "worker" in mem:
        growth = mem["worker"]["slope_kib_per_submission"]
        lines.append({"what": f"a worker's memory is flat over {mem['submissions']} submissions "
                              "(slope after warm-up < 16 KiB per submission)",
                      "value": f"{growth} KiB/submission", "ok": growth < 16})
    if "judge" in mem:
        half = mem["judge"]["growth_second_half_mib"]
        lines.append({"what": f"  its judge process too (growth over the second half of the {mem['submissions']} "
                              "< 1 MiB; it warms up over the first ~100)",
                      "value": f"{half} MiB", "ok": half < 1})
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=None, help="submissions in the class (default 200; --quick: 8)")
    p.add_argument("--small-n", type=int, default=None,
                   help="also time the kit on the class's first K submissions, a small class where the fixed "
                        "start-up weighs more (default 40; --quick: 0, skipped)")
    p.add_argument("--nbgrader-n", type=int, default=None,
                   help="grade only the first K with nbgrader (default: all N; its figure is per submission)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="the parallel run's --jobs (default: cores)")
    p.add_argument("--rounds", type=int, default=None, help="check / import torch runs (default 5; --quick: 3)")
    p.add_argument("--grade-rounds", type=int, default=None,
                   help="autograder grade runs per --jobs setting, interleaved; the median run is reported "
                        "(default 3; --quick: 1)")
    p.add_argument("--memory-n", type=int, default=None, help="submissions in the memory run (default 200; --quick: 40)")
    p.add_argument("--basics-n", type=int, default=None,
                   help="submissions in the second lesson's (mnist_basics) class (default 40; --quick: 10; 0 skips)")
    p.add_argument("--quick", action="store_true", help="a small run (about 2 minutes)")
    p.add_argument("--out", type=Path, default=None, help="write the figures to this JSON file")
    p.add_argument("--keep", action="store_true", help="keep the work folder (class, logs, results)")
    p.add_argument("--strict", action="store_true", help="exit 1 when an acceptance line fails (default: report only)")
    p.add_argument("--memory-worker", nargs=4, metavar=("SUBMITTED", "COURSE", "COUNT", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.memory_worker:
        sub, course, count, out = args.memory_worker
        memory_worker(Path(sub), Path(course), int(count), Path(out))
        return 0
    n = args.n or (8 if args.quick else 200)
    small_n = min(n, args.small_n if args.small_n is not None else (0 if args.quick else 40))
    nbn = min(n, args.nbgrader_n or n)
    rounds = args.rounds or (3 if args.quick else 5)
    grade_rounds = max(1, args.grade_rounds or (1 if args.quick else 3))
    memory_n = args.memory_n if args.memory_n is not None else (40 if args.quick else 200)
    basics_n = args.basics_n if args.basics_n is not None else (10 if args.quick else 40)
    jobs = max(1, args.jobs)

    work = Path(tempfile.mkdtemp(prefix="autograder-bench-"))
    r: dict = {"n": n, "jobs": jobs, "machine": machine(), "loadavg_before": loadavg(), "work": str(work),
               "command": " ".join([Path(sys.executable).name, "benchmarks/bench.py", *(argv or sys.argv[1:])])}
    t0 = time.perf_counter()
    try:
        say(f"building a class of {n} submissions in {work} ...")
        t = time.perf_counter()
        bc = classbuild.build(work / "class", n)
        r["build_s"] = round(time.perf_counter() - t, 2)
        mix: dict[str, int] = {}
        for v in bc.students.values():
            mix[v] = mix.get(v, 0) + 1
        r["class_mix"] = ", ".join(f"{k} x{v}" for k, v in sorted(mix.items(), key=lambda kv: -kv[1]))
        r["autograder_jobs1"], r["autograder_jobsN"] = interleaved(bc, jobs, work, grade_rounds, what=f"all {n}")
        small = subset_of(bc, small_n, work) if 0 < small_n < n else None
        if small:
            a1s, ajs = interleaved(bc, jobs, work, grade_rounds, subset=small, what=f"the first {small_n}")
            for res in (a1s, ajs):
                res.pop("scores", None)
            r["small_class"] = {"n": small_n, "jobs1": a1s, "jobsN": ajs,
                                "jobs_speedup": round(a1s["wall_s"] / ajs["wall_s"], 3)}
        say("autograder grade --jobs 1 again, watching memory ...")
        r["memory_run"] = grade_autograder(bc, 1, work, watch=True, subset=small)
        say(f"nbgrader autograde on {nbn} (serial) ...")
        r["nbgrader"] = grade_nbgrader(bc, work, exclude=list(bc.students)[nbn:])
        r["nbgrader"]["n"] = nbn
        say(f"  {r['nbgrader']['wall_s']:.1f} s, autograded {r['nbgrader']['graded']} (rc {r['nbgrader']['rc']})")

        a1, aj, nb = r["autograder_jobs1"], r["autograder_jobsN"], r["nbgrader"]
        per = {"nbgrader": nb["wall_s"] / nbn, "jobs1": a1["wall_s"] / n, "jobsN": aj["wall_s"] / n}
        r["speed"] = {"s_per_submission": {k: round(v, 4) for k, v in per.items()},
                      "ratio_jobs1": round(per["nbgrader"] / per["jobs1"], 2),
                      "ratio_jobsN": round(per["nbgrader"] / per["jobsN"], 2),
                      "jobs_speedup": round(a1["wall_s"] / aj["wall_s"], 3),
                      "ratio_steady_state": (round(per["nbgrader"] / a1["median_submission_s"], 2)
                                             if a1.get("median_submission_s") else None)}
        if a1.get("grading_phase_s") and aj.get("grading_phase_s"):
            steady = {"jobs1": a1["grading_phase_s"] / n, "jobsN": aj["grading_phase_s"] / n}
            r["speed"]["steady"] = {
                "s_per_submission": {k: round(v, 4) for k, v in steady.items()},
                "ratio_jobs1": round(per["nbgrader"] / steady["jobs1"], 2),
                "ratio_jobsN": round(per["nbgrader"] / steady["jobsN"], 2),
                "jobs_speedup": round(a1["grading_phase_s"] / aj["grading_phase_s"], 3),
                "fixed_s": {"jobs1": round(a1["wall_s"] - a1["grading_phase_s"], 2),
                            "jobsN": round(aj["wall_s"] - aj["grading_phase_s"], 2)}}
        if "small_class" in r:
            sc = r["small_class"]
            sc["s_per_submission"] = {"jobs1": round(sc["jobs1"]["wall_s"] / small_n, 4),
                                      "jobsN": round(sc["jobsN"]["wall_s"] / small_n, 4)}
            sc["ratio_jobsN"] = round(per["nbgrader"] / sc["s_per_submission"]["jobsN"], 2)
            sc["ratio_jobs1"] = round(per["nbgrader"] / sc["s_per_submission"]["jobs1"], 2)
            # throughput proper: what the class's other N - K submissions added to the wall clock (the fixed
            # start-up and end costs cancel out, no progress lines needed)
            extra = {k: (r[f"autograder_{k}"]["wall_s"] - sc[k]["wall_s"]) / (n - small_n) for k in ("jobs1", "jobsN")}
            if all(v > 0 for v in extra.values()):
                r["speed"]["marginal"] = {"s_per_submission": {k: round(v, 4) for k, v in extra.items()},
                                          "jobs_speedup": round(extra["jobs1"] / extra["jobsN"], 3)}
        try:
            theirs = nbgrader_scores(bc)
            r["agreement"] = agreement(bc, a1["scores"], theirs)
        except Exception as exc:  # noqa: BLE001 - a figure, not the benchmark
            r["agreement"] = {"compared": 0, "agree": 0, "disagreements": [f"could not read nbgrader's gradebook: {exc}"]}

        say(f"check vs import torch, {rounds} rounds ...")
        r["check"] = check_timings(bc, work, rounds)
        say(f"%autograde in a Jupyter kernel, {rounds} rounds ...")
        r["autograde"] = autograde_timings(full_lesson_notebook(bc), bc.autograder_course, work, rounds)
        if basics_n > 0:
            say(f"the second lesson, mnist_basics: {basics_n} submissions ...")
            r["mnist_basics"] = second_lesson(work, basics_n, jobs, grade_rounds, rounds)
        if memory_n > 0:
            say(f"memory: {memory_n} submissions graded in one worker ...")
            r["memory_flat"] = memory_run(bc, memory_n, work)
        r["loadavg_after"] = loadavg()
        r["total_s"] = round(time.perf_counter() - t0, 1)
        r["acceptance"] = acceptance(r)
        for res in (a1, aj):
            res.pop("scores", None)
        print_report(r)
        say(f"total {r['total_s']} s")
        out = args.out or Path(tempfile.gettempdir()) / f"autograder-bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(r, indent=1) + "\n")
        say(f"figures written to {out}")
        return 1 if args.strict and not all(line["ok"] for line in r["acceptance"] if not line.get("info")) else 0
    finally:
        if args.keep:
            say(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
