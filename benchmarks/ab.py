#!/usr/bin/env python
"""An earlier revision of the engine against this working tree, side by side, in one run (`make ab REV=...`).

A shared machine drifts by far more than a change to the engine costs (the same `make bench` varied by ±50%
over a day), so figures from two days cannot be compared. This builds the same sgd_mnist class once per side
(each with its own revision's `benchmarks/classbuild.py`: the same students, each side's own bundle layout),
then grades it with `autograder grade --jobs J` for every J in `--jobs`, alternating the two sides within
each round, and prints every wall, the medians and the round-by-round ratio (this tree ÷ REV). As root on
cgroup v1 it also measures each run's CPU seconds (the whole process tree, in a cpuacct group of its own),
which another tenant's load disturbs less than a wall.

Side A is REV, checked out in a temporary git worktree and imported from there (PYTHONPATH before the
editable install); side B is this working tree, the installed kit (its jail zygote starts with a clean
environment and imports the installed kit, so B cannot be another revision).

`--patch FILE` applies a patch to side A's worktree first (e.g. benchmarks/patches/: to ask what one change of
design costs on its own, measured on the old engine).

`--counters` also counts, over each run's whole process tree, what the kernel did for it: page faults, context
switches, and mmap/munmap/brk calls (`perf stat`, from Debian's linux-perf; the calls need root for perf's
syscall tracepoints). Counts do not drift with another tenant's load as times do, so a difference of a few
percent that the walls cannot resolve shows there, or does not; they say nothing of user-space work (a
virtual machine seldom exposes the CPU's instruction counter).

Usage:  python benchmarks/ab.py REV [--patch FILE] [--n 60] [--rounds 3] [--jobs 1 2] [--counters] [--out FILE.json]
        [--keep]
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "sgd_mnist"

BUILD = """\
import json, sys
from pathlib import Path
sys.path.insert(0, str(Path(sys.argv[1]) / "benchmarks"))
import autograder, classbuild
bc = classbuild.build(Path(sys.argv[2]), int(sys.argv[3]))
print(json.dumps({"course": str(bc.autograder_course), "submitted": str(bc.submitted),
                  "kit": autograder.__file__}))
"""


def side_env(tree: Path | None) -> dict:
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(tree)] + [p for p in [env.get("PYTHONPATH")] if p])
    return env


def build(tree: Path, env: dict, root: Path, n: int) -> dict:
    root.mkdir(parents=True)   # also the cwd: `python -c` and `-m` put the cwd first on sys.path
    done = subprocess.run([sys.executable, "-c", BUILD, str(tree), str(root), str(n)], env=env, cwd=root,
                          capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"building the class at {tree} failed:\n{done.stderr[-3000:]}")
    made = json.loads(done.stdout.strip().splitlines()[-1])
    if not Path(made["kit"]).resolve().is_relative_to(tree.resolve()):
        raise SystemExit(f"the side at {tree} imported the kit from {made['kit']}")
    return made


CPUACCT = Path("/sys/fs/cgroup/cpuacct")


class CpuMeter:
    """The CPU time of a command and everything it starts (the grader, its zygote, workers, judges and jails),
    from a cgroup-v1 cpuacct group of its own: steadier than walls on a shared machine, where another tenant's
    load stretches a wall but not the CPU seconds the run itself used. Where no such group can be made (not
    root, cgroup v2 only), `seconds` stays None and the table says so."""

    def __init__(self):
        self.group = None
        if os.geteuid() == 0 and (CPUACCT / "cgroup.procs").is_file():
            group = CPUACCT / f"autograder-ab-{os.getpid()}-{time.monotonic_ns()}"
            try:
                group.mkdir()
                self.group = group
            except OSError:
                pass
        self.seconds = None

    def join(self) -> None:   # preexec_fn: the child moves itself in before it execs
        if self.group is not None:
            (self.group / "cgroup.procs").write_text(str(os.getpid()))

    def close(self) -> None:
        if self.group is None:
            return
        self.seconds = int((self.group / "cpuacct.usage").read_text()) / 1e9
        for _ in range(50):    # the last jails may still be exiting
            try:
                self.group.rmdir()
                return
            except OSError:
                time.sleep(0.1)


COUNTED = ("page-faults", "context-switches", "syscalls:sys_enter_mmap", "syscalls:sys_enter_munmap",
           "syscalls:sys_enter_brk")


def counter_events() -> tuple[str, ...] | str:
    """The events `perf stat` can count here (the syscall tracepoints need root), or why none can be."""
    perf = shutil.which("perf")
    if perf is None:
        return "perf is not installed (Debian: apt-get install linux-perf)"
    for events in (COUNTED, COUNTED[:2]):
        done = subprocess.run([perf, "stat", "-x,", "-e", ",".join(events), "--", "true"], capture_output=True,
                              text=True)
        if done.returncode == 0 and "<not supported>" not in done.stderr:
            return events
    return f"perf stat cannot count here: {done.stderr.strip()[-300:]}"


def read_counts(path: Path) -> dict[str, int]:
    """`perf stat -x,` output: value,unit,event,... per line (`<not counted>` where it could not count)."""
    counts = {}
    for line in path.read_text().splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[0].strip().isdigit():
            counts[fields[2].removeprefix("syscalls:sys_enter_")] = int(fields[0])
    return counts


def grade(side: dict, jobs: int, out: Path, events: tuple[str, ...] = ()) -> dict:
    course = Path(side["course"])
    for leftover in ("gradebook.db", "feedback"):        # every run starts from the same state
        path = course / leftover
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "autograder.cli", "grade", ASSIGNMENT, "--submissions", side["submitted"],
           "--out", str(out), "--jobs", str(jobs), "--force", "--course-root", str(course)] + side["extra"]
    counts_file = out.with_name(out.name + ".perf")
    if events:   # perf stat follows every fork, and sums the counts of children that ended into their parent's
        cmd = ["perf", "stat", "-x,", "-o", str(counts_file), "-e", ",".join(events), "--"] + cmd
    meter = CpuMeter()
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, cwd=course, env=side["env"], capture_output=True, text=True, timeout=3600,
                              preexec_fn=meter.join)
    finally:
        wall = time.perf_counter() - start
        meter.close()
    if done.returncode != 0 or not (out / "grades.csv").is_file():
        raise SystemExit(f"{side['name']}: grade --jobs {jobs} failed:\n{done.stderr[-3000:]}")
    rows = list(csv.DictReader(open(out / "grades.csv")))
    total = sum(float(v) for r in rows for k, v in r.items() if k not in ("student_id", "status") and v)
    counts = read_counts(counts_file) if events else {}
    return {"wall_s": round(wall, 2), "cpu_s": None if meter.seconds is None else round(meter.seconds, 2),
            "graded": sum(r["status"] == "graded" for r in rows), "points": total, "counts": counts}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:4]))
    p.add_argument("rev", help="the earlier revision (a commit, tag or branch of this repository)")
    p.add_argument("--patch", type=Path, help="a patch (git diff) applied to REV's worktree before it is graded")
    p.add_argument("--n", type=int, default=60, help="submissions in the class (default 60)")
    p.add_argument("--rounds", type=int, default=3, help="rounds; each grades both sides once per --jobs")
    p.add_argument("--jobs", type=int, nargs="+", default=[1, os.cpu_count() or 1], help="the --jobs to compare")
    p.add_argument("--counters", action="store_true",
                   help="also count page faults, context switches and mmap/munmap/brk calls per run (perf stat)")
    p.add_argument("--out", type=Path, help="write every figure to this JSON file")
    p.add_argument("--keep", action="store_true", help="keep the work folder")
    args = p.parse_args(argv)
    jobs_list = sorted(set(args.jobs))

    rev = subprocess.run(["git", "rev-parse", "--verify", f"{args.rev}^{{commit}}"], cwd=REPO,
                         capture_output=True, text=True)
    if rev.returncode != 0:
        p.error(f"{args.rev!r} is not a commit of this repository")
    commit = rev.stdout.strip()
    events: tuple[str, ...] = ()
    if args.counters:
        found = counter_events()
        if isinstance(found, str):
            p.error(f"--counters: {found}")
        events = found
    patch = args.patch.resolve() if args.patch else None
    if patch is not None and not patch.is_file():
        p.error(f"no patch file at {args.patch}")
    work = Path(tempfile.mkdtemp(prefix="autograder-ab-"))
    tree_a = work / "tree-a"
    subprocess.run(["git", "worktree", "add", "--detach", "-q", str(tree_a), commit], cwd=REPO, check=True)
    try:
        name_a = f"A {commit[:7]}"
        if patch is not None:
            applied = subprocess.run(["git", "apply", str(patch)], cwd=tree_a, capture_output=True, text=True)
            if applied.returncode != 0:
                raise SystemExit(f"ab.py: the patch {args.patch} does not apply to {args.rev}:\n{applied.stderr}")
            name_a += f" + {patch.stem}"
            print(f"side A is {commit[:7]} with {args.patch} applied", flush=True)
        sides = []
        for name, tree, env in ((name_a, tree_a, side_env(tree_a)),
                                ("B this tree", REPO, side_env(None))):
            print(f"building the class of {args.n} for {name} ...", flush=True)
            side = build(tree, env, work / name.split()[0], args.n)
            helptext = subprocess.run([sys.executable, "-m", "autograder.cli", "grade", "--help"], env=env,
                                      cwd=work, capture_output=True, text=True).stdout
            # since #11 the kit writes nbgrader's gradebook only when asked; before, always
            side.update(name=name, env=env, extra=["--gradebook"] if "--gradebook" in helptext else [])
            sides.append(side)
        walls: dict[str, dict[int, list]] = {s["name"]: {j: [] for j in jobs_list} for s in sides}
        cpus: dict[str, dict[int, list]] = {s["name"]: {j: [] for j in jobs_list} for s in sides}
        counts: dict[str, dict[int, list]] = {s["name"]: {j: [] for j in jobs_list} for s in sides}
        points: dict[str, float] = {}
        for r in range(args.rounds):
            for j in jobs_list:
                order = sides if (r + j) % 2 == 0 else sides[::-1]   # neither side always goes first
                for side in order:
                    res = grade(side, j, work / f"out-{side['name'].split()[0]}", events)
                    walls[side["name"]][j].append(res["wall_s"])
                    counts[side["name"]][j].append(res["counts"])
                    cpus[side["name"]][j].append(res["cpu_s"])
                    points[side["name"]] = res["points"]
                    cpu = "" if res["cpu_s"] is None else f"  CPU {res['cpu_s']:7.2f} s"
                    print(f"  round {r + 1}  --jobs {j}  {side['name']:<14} {res['wall_s']:7.2f} s{cpu}  "
                          f"({res['graded']} graded)", flush=True)
        a, b = (s["name"] for s in sides)
        print(f"\n{args.n} submissions, {args.rounds} rounds, {os.cpu_count()} cores\n")
        print("| --jobs | A walls s | B walls s | A median | B median | B ÷ A (medians) | B ÷ A by round |")
        print("|---|---|---|---|---|---|---|")
        summary = {}
        for j in jobs_list:
            wa, wb = walls[a][j], walls[b][j]
            ma, mb = statistics.median(wa), statistics.median(wb)
            paired = [round(y / x, 2) for x, y in zip(wa, wb)]
            summary[j] = {"a": wa, "b": wb, "ratio_of_medians": round(mb / ma, 3), "ratios": paired}
            print(f"| {j} | {', '.join(f'{w:.1f}' for w in wa)} | {', '.join(f'{w:.1f}' for w in wb)} | "
                  f"{ma:.1f} | {mb:.1f} | {mb / ma:.2f} | {', '.join(map(str, paired))} |")
        if all(c is not None for side in cpus.values() for cs in side.values() for c in cs):
            print("\nCPU seconds of the whole process tree (a cpuacct cgroup around each run):\n")
            print("| --jobs | A CPU s | B CPU s | A median | B median | B ÷ A (medians) |")
            print("|---|---|---|---|---|---|")
            for j in jobs_list:
                ca, cb = cpus[a][j], cpus[b][j]
                ma, mb = statistics.median(ca), statistics.median(cb)
                summary[j].update(cpu_a=ca, cpu_b=cb, cpu_ratio_of_medians=round(mb / ma, 3))
                print(f"| {j} | {', '.join(f'{c:.1f}' for c in ca)} | {', '.join(f'{c:.1f}' for c in cb)} | "
                      f"{ma:.1f} | {mb:.1f} | {mb / ma:.2f} |")
        else:
            print("\n(no CPU figures: a cpuacct cgroup could not be made here; it needs root and cgroup v1)")
        if events:
            print(f"\nWhat the kernel did for each run, per submission, start-up included (perf stat over "
                  f"the whole process tree; medians of {args.rounds}):\n")
            names = [e.removeprefix("syscalls:sys_enter_") for e in events]
            print("| --jobs | " + " | ".join(f"{n} A / B (B ÷ A)" for n in names) + " |")
            print("|---|" + "---|" * len(names))
            for j in jobs_list:
                cells = []
                for n in names:
                    ca = statistics.median(c.get(n, 0) for c in counts[a][j]) / args.n
                    cb = statistics.median(c.get(n, 0) for c in counts[b][j]) / args.n
                    cells.append(f"{ca:.1f} / {cb:.1f} ({cb / ca:.2f})" if ca else f"{ca:.1f} / {cb:.1f}")
                summary[j].update(counts_a=counts[a][j], counts_b=counts[b][j])
                print(f"| {j} | " + " | ".join(cells) + " |")
        print(f"\npoints given to the class: A {points[a]:g}, B {points[b]:g}")
        if args.out:
            args.out.write_text(json.dumps({"rev": commit, "n": args.n, "rounds": args.rounds,
                                            "jobs": summary, "points": points}, indent=1) + "\n")
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree_a)], cwd=REPO, capture_output=True)
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
