"""A submission's files are the student's: reading them (as root) follows no link, leaves no folder, trusts no
size, and turns every problem into that submission's own message. Hostile layouts are built here."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from autograder.notebook import (MAX_NOTEBOOKS, InvalidNotebook, content_hash, find_submissions, read_cells,
                                 read_submission)

NB = {"cells": [{"cell_type": "code", "source": ["def f(x):\n", "    return x\n"], "metadata": {}, "outputs": []},
                {"cell_type": "markdown", "source": "text", "metadata": {}}],
      "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def notebook(path: Path, cells: list[str] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nb = NB if cells is None else dict(NB, cells=[{"cell_type": "code", "source": c} for c in cells])
    path.write_text(json.dumps(nb))
    return path


@pytest.fixture
def course(tmp_path):
    """A course: the master notebook in source/, a classmate's submission, an outside secret."""
    root = tmp_path / "course"
    notebook(root / "source" / "a1" / "a1.ipynb", ["def f(x):\n    return 'MASTER'"])
    notebook(root / "submitted" / "alice" / "a1" / "a1.ipynb", ["def f(x):\n    return 'ALICE'"])
    (tmp_path / "secret.txt").write_text("root only")
    os.chmod(tmp_path / "secret.txt", 0o600)
    return root


def problem(paths, root) -> str:
    with pytest.raises(InvalidNotebook) as err:
        read_submission(paths, root=root)
    return str(err.value)


def test_the_three_layouts_are_found(tmp_path):
    subs = tmp_path / "subs"
    notebook(subs / "nb_layout" / "a1" / "one.ipynb")
    notebook(subs / "nb_layout" / "a1" / "two.ipynb")
    notebook(subs / "flat_folder" / "x.ipynb")
    notebook(subs / "flat_file.ipynb")
    (subs / "nothing" / "a1").mkdir(parents=True)
    notebook(subs / ".hidden" / "a1" / "x.ipynb")
    (subs / "README").write_text("not a submission")
    found = find_submissions(subs, "a1")
    assert found == {"flat_file": [subs / "flat_file.ipynb"], "flat_folder": [subs / "flat_folder" / "x.ipynb"],
                     "nb_layout": [subs / "nb_layout" / "a1" / "one.ipynb", subs / "nb_layout" / "a1" / "two.ipynb"],
                     "nothing": []}
    sub = read_submission(found["nb_layout"], root=subs)
    assert sub.notebooks == ["one.ipynb", "two.ipynb"] and len(sub.cells) == 2
    assert sub.sha256 == content_hash(found["nb_layout"], root=subs) == content_hash(found["nb_layout"])


@pytest.mark.parametrize("attack", ["notebook", "assignment_folder", "student_folder", "flat_notebook"])
def test_links_are_listed_but_never_followed(course, attack):
    """The red team's 100/100: a notebook, an assignment folder or a student folder linked to the master."""
    subs = course / "submitted"
    if attack == "notebook":
        (subs / "mallory" / "a1").mkdir(parents=True)
        (subs / "mallory" / "a1" / "a1.ipynb").symlink_to(course / "source" / "a1" / "a1.ipynb")
    elif attack == "assignment_folder":
        (subs / "mallory").mkdir()
        (subs / "mallory" / "a1").symlink_to(course / "source" / "a1", target_is_directory=True)
    elif attack == "student_folder":
        (subs / "mallory").symlink_to(course / "source", target_is_directory=True)
    else:
        (subs / "mallory.ipynb").symlink_to(course / "source" / "a1" / "a1.ipynb")
    found = find_submissions(subs, "a1")
    assert set(found) == {"alice", "mallory"}
    assert found["mallory"], "the link is listed, so that the submission gets its own row"
    message = problem(found["mallory"], subs)
    assert "symbolic link" in message, message
    with pytest.raises(InvalidNotebook, match="symbolic link"):
        read_submission(found["mallory"])   # without `root` too: what was listed is the link itself
    assert read_submission(found["alice"], root=subs).cells[0][1].endswith("'ALICE'")


def test_a_stub_plus_a_link_to_a_classmate_is_refused(course):
    subs = course / "submitted"
    notebook(subs / "mallory" / "a1" / "a1.ipynb", ["raise NotImplementedError"])
    (subs / "mallory" / "a1" / "z_extra.ipynb").symlink_to(subs / "alice" / "a1" / "a1.ipynb")
    found = find_submissions(subs, "a1")["mallory"]
    assert [p.name for p in found] == ["a1.ipynb", "z_extra.ipynb"]
    assert "z_extra.ipynb: is a symbolic link" in problem(found, subs)


def test_a_link_swapped_in_after_listing_is_still_refused(course):
    """Between find_submissions and read_submission the folder becomes a link: `root` walks it fd by fd."""
    subs = course / "submitted"
    notebook(subs / "mallory" / "a1" / "a1.ipynb")
    found = find_submissions(subs, "a1")["mallory"]
    (subs / "mallory" / "a1").rename(subs / "mallory" / "old")
    (subs / "mallory" / "a1").symlink_to(course / "source" / "a1", target_is_directory=True)
    assert "the folder a1: is a symbolic link" in problem(found, subs)


def test_nothing_outside_the_submissions_folder_is_read(course):
    subs = course / "submitted"
    outside = course / "source" / "a1" / "a1.ipynb"
    assert "outside the submissions folder" in problem([outside], subs)
    assert "outside the submissions folder" in problem([subs / "alice" / ".." / ".." / "source" / "a1" / "a1.ipynb"],
                                                       subs)


def test_hard_links_are_refused(course):
    """150 hard links to one 17 MiB notebook OOM-killed a worker; one hard link to a classmate copies them."""
    subs = course / "submitted"
    (subs / "mallory" / "a1").mkdir(parents=True)
    os.link(subs / "alice" / "a1" / "a1.ipynb", subs / "mallory" / "a1" / "a1.ipynb")
    found = find_submissions(subs, "a1")
    assert "has 2 hard links" in problem(found["mallory"], subs)
    assert "has 2 hard links" in problem(found["alice"], subs)   # alice's own file is now shared too


def test_sizes_and_counts_are_checked_before_reading(tmp_path):
    subs = tmp_path / "subs"
    (subs / "big" / "a1").mkdir(parents=True)
    with open(subs / "big" / "a1" / "a1.ipynb", "wb") as f:   # 64 GiB, sparse: read, it would take minutes
        f.truncate(64 << 30)
    assert "larger than 20 MiB" in problem(find_submissions(subs, "a1")["big"], subs)
    (subs / "three").mkdir()
    for i in range(3):  # three notebooks of 15 MiB: each is fine, the submission is not
        with open(subs / "three" / f"n{i}.ipynb", "wb") as f:
            f.truncate(15 << 20)
    assert "larger than 40 MiB in all" in problem(find_submissions(subs, "a1")["three"], subs)
    for i in range(MAX_NOTEBOOKS + 5):
        notebook(subs / "many" / f"n{i:03}.ipynb")
    many = find_submissions(subs, "a1")["many"]
    assert len(many) == MAX_NOTEBOOKS + 1
    assert "more than 32 notebooks" in problem(many, subs)


@pytest.mark.parametrize("content,expect", [
    (b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),            # RecursionError inside json
    (b'{"cells": ' + b"[" * 1_000_001 + b"]" * 1_000_001 + b"}", "nested lists"),
    (b'{"cells": [' + b"{}," * 1_100_000 + b"{}]}", "nested lists"),   # 3 MB that would build 1.1M dicts
    (b"\xff\xfe{}", "not a text file"),
    (b'{"cells": "x"}', "not a Jupyter notebook"),
    (b'{"cells": [1]}', "cell 0 is not a notebook cell"),
    (b'{"cells": [{"cell_type": "code", "source": 5}]}', "no readable source"),
    (b"   \n", "empty"),
])
def test_parse_problems_become_messages(tmp_path, content, expect):
    path = tmp_path / "nb.ipynb"
    path.write_bytes(content)
    with pytest.raises(InvalidNotebook, match=expect):
        read_cells(path)


def test_what_is_not_a_file_is_refused_without_hanging(tmp_path):
    subs = tmp_path / "subs"
    (subs / "fifo" / "a1").mkdir(parents=True)
    os.mkfifo(subs / "fifo" / "a1" / "a1.ipynb")          # opening it to read would block for ever
    (subs / "dev" / "a1").mkdir(parents=True)
    (subs / "dev" / "a1" / "a1.ipynb").symlink_to("/dev/zero")
    found = find_submissions(subs, "a1")
    assert "not a regular file" in problem(found["fifo"], subs)
    assert "symbolic link" in problem(found["dev"], subs)


def test_names_that_are_not_text_still_get_a_row(tmp_path):
    subs = tmp_path / "subs"
    raw = [b"caf\xe9", b"\x1b[2Jfake", "bidi\u202eexe".encode(), b"tab\tname"]
    for name in raw:
        d = os.path.join(os.fsencode(subs), name, b"a1")
        os.makedirs(d)
        notebook(Path(os.fsdecode(d)) / "a1.ipynb")
    os.makedirs(os.path.join(os.fsencode(subs), b"nb_in_bad", b"a1"))
    bad_nb = os.path.join(os.fsencode(subs), b"nb_in_bad", b"a1", b"n\xff.ipynb")
    notebook(Path(os.fsdecode(bad_nb)))
    found = find_submissions(subs, "a1")
    assert sorted(found) == sorted(["caf\\xe9", "fake", "bidiexe", "tab\tname", "nb_in_bad"])
    for sid, paths in found.items():
        sid.encode("utf-8")                                   # every id is text
        sub = read_submission(paths, root=subs)
        assert sub.cells and all(n.encode("utf-8") for n in sub.notebooks)
    assert read_submission(found["nb_in_bad"], root=subs).notebooks == ["n\\xff.ipynb"]


def test_ids_that_display_alike_stay_apart(tmp_path):
    subs = tmp_path / "subs"
    for name in (b"a\xff", b"a\\xff"):    # the byte 0xff, and the four characters a \ x f f
        notebook(Path(os.fsdecode(os.path.join(os.fsencode(subs), name, b"a1", b"n.ipynb"))))
    found = find_submissions(subs, "a1")
    assert sorted(found) == ["a\\xff", "a\\xff~2"]
    assert len({tuple(v) for v in found.values()}) == 2


def test_sources_that_no_python_file_holds_are_made_text(tmp_path):
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"cells": [{"cell_type": "code", "source": "x = '\udcff'\x00"}]}))
    assert read_cells(path) == ["x = '\ufffd'\ufffd"]


def test_content_hash_reads_as_safely(course, tmp_path):
    subs = course / "submitted"
    (subs / "mallory" / "a1").mkdir(parents=True)
    link = subs / "mallory" / "a1" / "a1.ipynb"
    link.symlink_to(course / "source" / "a1" / "a1.ipynb")
    big = subs / "mallory" / "a1" / "b.ipynb"
    with open(big, "wb") as f:
        f.truncate(64 << 30)
    h1 = content_hash([link, big], root=subs)
    h2 = content_hash([big], root=subs)
    assert h1 != h2 and len(h1) == 64     # stable, and nothing was read (the 64 GiB file would take minutes)


def test_nbgrader_timestamp_copy_never_follows_a_link(course):
    """`timestamp.txt` linked to a root-only file was copied world-readable into feedback/."""
    from autograder.report.gradebook import copy_submission_file
    sub = course / "submitted" / "alice" / "a1"
    secret = course.parent / "secret.txt"
    (sub / "timestamp.txt").symlink_to(secret)
    assert copy_submission_file(course / "submitted", ["alice", "a1", "timestamp.txt"], course / "out.txt") is None
    assert not (course / "out.txt").exists()
    (sub / "timestamp.txt").unlink()
    os.link(secret, sub / "timestamp.txt")                 # a hard link to it: refused too
    assert copy_submission_file(course / "submitted", ["alice", "a1", "timestamp.txt"], course / "out.txt") is None
    (sub / "timestamp.txt").unlink()
    (sub / "timestamp.txt").write_text("x" * 5000)         # too big to be a timestamp
    assert copy_submission_file(course / "submitted", ["alice", "a1", "timestamp.txt"], course / "out.txt") is None
    (sub / "timestamp.txt").write_text("2026-11-23 10:00:00.000000 UTC")
    os.chmod(sub / "timestamp.txt", 0o666)
    (sub / "submission_secret.txt").write_text("s3cret")
    os.chmod(sub / "submission_secret.txt", 0o600)
    out = course / "fb"
    assert copy_submission_file(course / "submitted", ["alice", "a1", "timestamp.txt"], out / "t.txt") == out / "t.txt"
    assert copy_submission_file(course / "submitted", ["alice", "a1", "submission_secret.txt"], out / "s.txt")
    assert (out / "t.txt").read_text() == "2026-11-23 10:00:00.000000 UTC"
    assert stat.S_IMODE((out / "t.txt").stat().st_mode) == 0o644        # never more open than rw-r--r--
    assert stat.S_IMODE((out / "s.txt").stat().st_mode) == 0o600        # the secret stays the owner's
    (course / "submitted" / "bob").symlink_to(course / "submitted" / "alice", target_is_directory=True)
    assert copy_submission_file(course / "submitted", ["bob", "a1", "timestamp.txt"], out / "b.txt") is None
