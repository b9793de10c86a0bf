"""Peak memory of a process tree, by polling /proc (Linux) every ~50 ms from a background thread.

Every process ever seen under the root is recorded (keyed by pid and start time, so a reused pid is a new
process) with its highest VmRSS seen and its kernel-kept high-water mark VmHWM (which catches peaks between
two polls). Roles are assigned at the end from the whole tree:

    jail         runs as a jail uid (>= 200000): the student's code
    zygote       `python -m autograder.jail.zygote` (forks the jails)
    zygote fork  the zygote's per-judge session servers and the jails' launchers (before the uid drop)
    template     the judges' template: a fork of the zygote whose children are judges
    worker       the process that owns a zygote: the grading worker (with --jobs 1, the CLI process itself)
    judge        the template's forked child (the hidden checks, one submission after another); in revisions
                 before the template, a worker's forked child
    kernel       an ipykernel (nbgrader's per-notebook kernel)
    main         the root, when it is none of the above (nbgrader autograde, or the --jobs N parent)
    other        anything else (e.g. a child collecting the checks' points before the zygote starts, alembic)
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

JAIL_UID_BASE = 200_000
KIB = 1024


@dataclass
class Proc:
    pid: int
    ppid: int
    start: int
    cmdline: str
    max_uid: int = 0
    peak_rss: int = 0     # bytes, highest VmRSS seen by the poll
    hwm: int = 0          # bytes, highest VmHWM seen (the kernel's own peak RSS of the process)
    uss: int = 0          # bytes, highest private memory seen (Private_Clean + Private_Dirty of smaps_rollup)
    pss: int = 0          # bytes, highest proportional set size seen
    first: float = 0.0
    last: float = 0.0


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return None


def children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        text = _read(f"/proc/{pid}/task/{tid}/children")
        if text:
            out += [int(x) for x in text.split()]
    return out


def descendants(root: int) -> list[int]:
    seen, todo = [], [root]
    while todo:
        pid = todo.pop()
        seen.append(pid)
        todo += children(pid)
    return seen


class TreeWatch:
    """with TreeWatch(pid) as w: ...; then w.summary()."""

    def __init__(self, root: int, interval: float = 0.05, full_every: int = 10):
        """Every poll reads each process's status (cheap) and a jail's smaps_rollup; every `full_every`-th
        poll reads every process's smaps_rollup (about 2 ms each for a torch process) for PSS and USS."""
        self.root, self.interval, self.full_every = root, interval, full_every
        self.procs: dict[tuple[int, int], Proc] = {}
        self.peak_total_rss = 0
        self.peak_total_pss = 0
        self.polls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "TreeWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.interval)

    def poll(self) -> None:
        now = time.monotonic()
        total = total_pss = 0
        full = self.polls % self.full_every == 0
        for pid in descendants(self.root):
            stat = _read(f"/proc/{pid}/stat")
            status = _read(f"/proc/{pid}/status")
            if not stat or not status:
                continue
            fields = stat[stat.rfind(")") + 2:].split()
            ppid, start = int(fields[1]), int(fields[19])
            key = (pid, start)
            proc = self.procs.get(key)
            if proc is None:
                cmd = (_read(f"/proc/{pid}/cmdline") or "").replace("\0", " ").strip()
                proc = self.procs[key] = Proc(pid=pid, ppid=ppid, start=start, cmdline=cmd, first=now)
            proc.last = now
            values = {}
            for line in status.splitlines():
                name, _, rest = line.partition(":")
                if name in ("VmRSS", "VmHWM"):
                    values[name] = int(rest.split()[0]) * KIB
                elif name == "Uid":
                    values["uid"] = int(rest.split()[0])
            rss = values.get("VmRSS", 0)
            total += rss
            proc.peak_rss = max(proc.peak_rss, rss)
            proc.hwm = max(proc.hwm, values.get("VmHWM", 0))
            proc.max_uid = max(proc.max_uid, values.get("uid", 0))
            if full or values.get("uid", 0) >= JAIL_UID_BASE:
                pss, uss = _smaps(pid)
                proc.pss, proc.uss = max(proc.pss, pss), max(proc.uss, uss)
                total_pss += pss
        self.peak_total_rss = max(self.peak_total_rss, total)
        if full:
            self.peak_total_pss = max(self.peak_total_pss, total_pss)
        self.polls += 1

    # ------------------------------------------------------------ roles
    def roles(self) -> dict[tuple[int, int], str]:
        by_pid: dict[int, list[Proc]] = {}
        for p in self.procs.values():
            by_pid.setdefault(p.pid, []).append(p)

        def parent(p: Proc) -> Proc | None:
            cands = [q for q in by_pid.get(p.ppid, []) if q.start <= p.start]
            return max(cands, key=lambda q: q.start) if cands else None

        def is_zyg(p: Proc | None) -> bool:
            return p is not None and "autograder.jail.zygote" in p.cmdline

        out: dict[tuple[int, int], str] = {}
        owners: dict[tuple[int, int], int] = {}  # a zygote's parent -> the zygote's start time
        for p in self.procs.values():
            par = parent(p)
            if is_zyg(p) and par is not None and not is_zyg(par):
                owners[(par.pid, par.start)] = min(p.start, owners.get((par.pid, par.start), p.start))
        kids: dict[tuple[int, int], list[Proc]] = {}
        for p in self.procs.values():
            par = parent(p)
            if par is not None:
                kids.setdefault((par.pid, par.start), []).append(p)

        def is_zygote(p: Proc | None) -> bool:   # the zygote itself, not one of its forks
            return is_zyg(p) and not is_zyg(parent(p))

        def is_template(p: Proc | None) -> bool:   # a zygote fork whose children are not jails (nor launchers)
            children = kids.get((p.pid, p.start), []) if p is not None else []
            return (is_zyg(p) and is_zygote(parent(p)) and bool(children)
                    and all(c.max_uid < JAIL_UID_BASE and is_zyg(c) and not kids.get((c.pid, c.start))
                            for c in children))

        for key, p in self.procs.items():
            par = parent(p)
            if p.max_uid >= JAIL_UID_BASE:
                role = "jail"
            elif is_zyg(p):
                role = ("zygote" if not is_zyg(par) else "template" if is_template(p)
                        else "judge" if is_template(par) else "zygote fork")
            elif key in owners:
                role = "worker"
            elif (par is not None and (par.pid, par.start) in owners and p.cmdline == par.cmdline
                  and p.start >= owners[(par.pid, par.start)]):
                role = "judge"
            elif "ipykernel" in p.cmdline:
                role = "kernel"
            elif p.pid == self.root:
                role = "main"
            else:
                role = "other"
            out[key] = role
        return out

    def summary(self) -> dict:
        """role -> {count, peak_rss_mib (max over processes of the highest VmRSS polled),
        peak_hwm_mib (max VmHWM)}, and the tree's peak total RSS (shared pages counted once per process)."""
        roles = self.roles()
        out: dict[str, dict] = {}
        for key, role in roles.items():
            p = self.procs[key]
            r = out.setdefault(role, {"count": 0, "peak_rss_mib": 0.0, "peak_hwm_mib": 0.0, "peak_uss_mib": 0.0,
                                      "peak_pss_mib": 0.0})
            r["count"] += 1
            if role in ("other", "main") and len(r.setdefault("commands", [])) < 3 and p.cmdline[:100] not in r["commands"]:
                r["commands"].append(p.cmdline[:100])
            r["peak_rss_mib"] = max(r["peak_rss_mib"], round(p.peak_rss / 2**20, 1))
            r["peak_hwm_mib"] = max(r["peak_hwm_mib"], round(p.hwm / 2**20, 1))
            r["peak_uss_mib"] = max(r["peak_uss_mib"], round(p.uss / 2**20, 1))
            r["peak_pss_mib"] = max(r["peak_pss_mib"], round(p.pss / 2**20, 1))
        return {"roles": out, "peak_tree_rss_mib": round(self.peak_total_rss / 2**20, 1),
                "peak_tree_pss_mib": round(self.peak_total_pss / 2**20, 1), "polls": self.polls}


def _smaps(pid: int) -> tuple[int, int]:
    """(PSS, USS) of a process in bytes, from smaps_rollup (0, 0 if unreadable)."""
    text = _read(f"/proc/{pid}/smaps_rollup") or ""
    pss = uss = 0
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name == "Pss":
            pss = int(rest.split()[0]) * KIB
        elif name in ("Private_Clean", "Private_Dirty"):
            uss += int(rest.split()[0]) * KIB
    return pss, uss


def rss_of(pid: int | str = "self") -> int:
    """VmRSS of a process, bytes (0 if gone)."""
    text = _read(f"/proc/{pid}/status") or ""
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * KIB
    return 0
