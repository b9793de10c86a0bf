r"""Where a command's CPU time went, process by process: the command runs under `perf record -e cpu-clock`
(a software clock, so it works in virtual machines without a hardware counter), and its process tree is printed
with each process's own CPU seconds and its subtree's. Children that started no process of their own and each
took less than --fold of the whole (jails, ldconfig, short helpers) are summed into one line per parent, when there
are two or more.

It knows nothing of the kit, so it reads any revision alike. To see which role of one engine costs more than
another's, grade the same class with both (an earlier revision from a git worktree, put first on PYTHONPATH):

    python benchmarks/cputree.py -- .venv/bin/python -m autograder.cli grade sgd_mnist --submissions DIR \
        --out /tmp/run --jobs 1 --force
    git worktree add /tmp/old c4948ff && PYTHONPATH=/tmp/old python benchmarks/cputree.py -- ...the same...

A process is `exec` when it ran a program of its own (the grader, a fresh-interpreter zygote, nbgrader's
gradebook writer) and `fork` when it is a copy of its parent (judges, session servers, jails). The figures are
samples at --hz (1000 by default) times their period; over a grading run they came to about 5% below a
cpuacct cgroup's count of the same run (20.6 s against 21.5 s), so compare them with each other only. Needs
`perf` (Debian: linux-perf) and permission to record (root, or perf_event_paranoid <= 1).

Usage:  python benchmarks/cputree.py [--hz 1000] [--fold 0.01] [--json FILE] -- COMMAND [ARGS...]
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

FORK = re.compile(r"PERF_RECORD_FORK\((\d+):(\d+)\):\((\d+):(\d+)\)")
EXEC = re.compile(r"PERF_RECORD_COMM exec: (.+):(\d+)/(\d+)\s*$")
SAMPLE = re.compile(r"^\s*(.+?)\s+(\d+)/(\d+)\s+[\d.]+:\s+(\d+)\s+cpu-clock")


@dataclass
class Proc:
    pid: int
    parent: int | None = None
    name: str = ""
    execd: bool = False
    ns: int = 0                       # CPU time sampled in this process (all its threads)
    children: list[int] = field(default_factory=list)


def read_script(text: str) -> dict[int, Proc]:
    """The process tree of `perf script --show-task-events -F comm,pid,tid,time,period,event` output. A FORK
    whose new pid equals its tid is a process (otherwise a thread, counted with its process)."""
    procs: dict[int, Proc] = {}

    def proc(pid: int) -> Proc:
        return procs.setdefault(pid, Proc(pid))

    for line in text.splitlines():
        if m := FORK.search(line):
            pid, tid, ppid = int(m.group(1)), int(m.group(2)), int(m.group(3))
            if pid == tid and pid != ppid:
                child = proc(pid)
                child.parent = ppid
                child.name = child.name or proc(ppid).name
                proc(ppid).children.append(pid)
        elif m := EXEC.search(line):
            p = proc(int(m.group(2)))
            p.name, p.execd = m.group(1).strip(), True
        elif m := SAMPLE.match(line):
            p = proc(int(m.group(2)))
            p.name = p.name or m.group(1).strip()
            p.ns += int(m.group(4))
    procs.pop(0, None)   # perf's own placeholder
    return procs


def subtree_ns(procs: dict[int, Proc], pid: int) -> int:
    p = procs[pid]
    return p.ns + sum(subtree_ns(procs, c) for c in p.children)


def roots(procs: dict[int, Proc]) -> list[int]:
    return [pid for pid, p in procs.items() if p.parent is None or p.parent not in procs]


def render(procs: dict[int, Proc], fold: float = 0.01) -> tuple[list[str], list[dict]]:
    """Lines of the tree, and the same as JSON-able rows (depth, pid, name, kind, own_s, tree_s, folded)."""
    total = sum(p.ns for p in procs.values()) or 1
    lines: list[str] = [f"{'own CPU s':>10} {'subtree s':>10}  process (total {total / 1e9:.2f} s)"]
    rows: list[dict] = []

    def walk(pid: int, depth: int) -> None:
        p = procs[pid]
        kind = "exec" if p.execd else "fork"
        tree = subtree_ns(procs, pid)
        lines.append(f"{p.ns / 1e9:10.2f} {tree / 1e9:10.2f}  {'  ' * depth}{p.pid} {p.name} ({kind})")
        rows.append({"depth": depth, "pid": p.pid, "name": p.name, "kind": kind, "own_s": p.ns / 1e9,
                     "tree_s": tree / 1e9, "folded": 1})
        small = [c for c in p.children if not procs[c].children and procs[c].ns < fold * total]
        if len(small) < 2:   # one small child reads better on its own line
            small = []
        for c in p.children:
            if c not in small:
                walk(c, depth + 1)
        if small:
            ns = sum(procs[c].ns for c in small)
            names = sorted({procs[c].name for c in small})
            lines.append(f"{ns / 1e9:10.2f} {ns / 1e9:10.2f}  {'  ' * (depth + 1)}[{len(small)} short-lived "
                         f"children: {', '.join(names)}]")
            rows.append({"depth": depth + 1, "pid": None, "name": ", ".join(names), "kind": "children",
                         "own_s": ns / 1e9, "tree_s": ns / 1e9, "folded": len(small)})

    for r in sorted(roots(procs)):
        walk(r, 0)
    return lines, rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cputree.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("--hz", type=int, default=1000, help="samples per second of CPU time (default 1000)")
    p.add_argument("--fold", type=float, default=0.01,
                   help="sum childless children under this share of the whole into one line (default 0.01)")
    p.add_argument("--json", type=Path, help="write the rows to this JSON file too")
    p.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    args = p.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        p.error("no command given (put it after --)")
    perf = shutil.which("perf")
    if perf is None:
        p.error("perf is not installed (Debian: apt-get install linux-perf)")
    with tempfile.TemporaryDirectory(prefix="cputree-") as tmp:
        data = Path(tmp) / "perf.data"
        done = subprocess.run([perf, "record", "-q", "-e", "cpu-clock", "-F", str(args.hz), "-o", str(data), "--"]
                              + command)
        if not data.is_file() or data.stat().st_size == 0:
            print(f"cputree.py: perf record wrote nothing (exit {done.returncode}); it may need root or "
                  "kernel.perf_event_paranoid <= 1", file=sys.stderr)
            return 2
        script = subprocess.run([perf, "script", "-i", str(data), "--show-task-events",
                                 "-F", "comm,pid,tid,time,period,event"], capture_output=True, text=True)
        if script.returncode != 0:
            print(f"cputree.py: perf script failed: {script.stderr.strip()[-500:]}", file=sys.stderr)
            return 2
    procs = read_script(script.stdout)
    lines, rows = render(procs, args.fold)
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps({"command": command, "exit": done.returncode, "rows": rows}, indent=1))
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
