"""The command line: help for every command, exit code 2 and one clear line (no traceback) on bad usage."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.cli import build_parser, main

REPO = Path(__file__).resolve().parents[1]

COMMANDS = [["release"], ["validate"], ["grade"], ["check"], ["demo"], ["quickstart"], ["export"],
            ["export", "gradescope"]]


def run_cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


def test_top_level_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for cmd in ("release", "validate", "grade", "check", "demo", "quickstart", "export"):
        assert f"    {cmd}" in text
    assert "Exit codes" in text


@pytest.mark.parametrize("cmd", COMMANDS, ids=" ".join)
def test_each_command_explains_itself(cmd, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*cmd, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: autograder " + " ".join(cmd))
    assert len(text.splitlines()) >= 6  # a description, not just a usage line


def test_help_is_instant_and_imports_nothing_heavy():
    code = ("import sys; from autograder.cli import build_parser; build_parser().format_help(); "
            "print(sorted(m for m in ('torch', 'nbgrader', 'nbformat') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("args, message", [
    ([], "required"),
    (["frobnicate"], "invalid choice"),
    (["grade"], "required"),
    (["grade", "sgd_mnist", "--jobs", "many"], "invalid int"),
    (["grade", "no_such_assignment", "--submissions", "."], "unknown assignment 'no_such_assignment'"),
    (["grade", "../../etc", "--submissions", "."], "not a plain name"),
    (["grade", "sgd_mnist", "--submissions", "/no/such/folder"], "no submissions folder"),
    (["grade", "sgd_mnist", "--submissions", ".", "--jobs", "0"], "--jobs must be at least 1"),
    (["check"], "required"),
    (["check", "/no/such/notebook.ipynb"], "no such notebook"),
    (["release", "no_such_assignment"], "unknown assignment"),
    (["validate", "no_such_assignment"], "unknown assignment"),
    (["export", "gradescope", "sgd_mnist"], "--out"),
    (["check", "--assignment", "no_such", "release/sgd_mnist/sgd_mnist.ipynb"], "unknown assignment 'no_such'"),
    (["check", "--exercise", "no_such", "release/sgd_mnist/sgd_mnist.ipynb"], "no exercise no_such in sgd_mnist"),
    (["quickstart"], "required"),
    (["export", "gradescope", "no_such", "--out", "x.zip"], "unknown assignment"),
    (["export", "gradescope", "--out", "x.zip", "--visibility", "always"], "invalid choice"),
])
def test_bad_usage_exits_2_without_traceback(args, message, capsys):
    before = _tree_state()
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert _tree_state() == before       # refused before anything was written


def _tree_state() -> str:
    """What git sees in the course (the cwd of these calls), ignored folders included, untracked ones listed;
    not bytecode caches, which the other test worker's imports may be writing meanwhile."""
    out = subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout
    return "\n".join(line for line in out.splitlines() if "__pycache__" not in line)


def test_console_script_exit_code_and_stderr(tmp_path):
    proc = run_cli("grade", "no_such_assignment", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("autograder: error:") and "Traceback" not in proc.stderr


def test_demo_refuses_a_foreign_non_empty_folder(tmp_path, capsys):
    (tmp_path / "thesis.tex").write_text("precious")
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "not a demo folder" in capsys.readouterr().err
    assert (tmp_path / "thesis.tex").read_text() == "precious"


def test_parser_maps_options_onto_keyword_arguments():
    args = vars(build_parser().parse_args(["grade", "sgd_mnist", "--out", "o", "-j", "3", "--force"]))
    assert args["func"].__name__ == "cmd_grade"
    assert {k: args[k] for k in ("assignment", "jobs", "force")} == {"assignment": "sgd_mnist", "jobs": 3,
                                                                     "force": True}


def test_check_infers_the_assignment_and_says_so(tmp_path):
    """No --assignment: the release notebook's metadata names it; the same result from any folder."""
    nb = tmp_path / "mine.ipynb"
    nb.write_bytes((REPO / "release" / "sgd_mnist" / "sgd_mnist.ipynb").read_bytes())
    env = dict(os.environ, AUTOGRADER_NO_SERVER="1")
    runs = [subprocess.run([sys.executable, "-m", "autograder.cli", "check", str(nb), "--course-root", str(REPO),
                            "--exercise", "softmax"], capture_output=True, text=True, timeout=300, cwd=cwd, env=env)
            for cwd in (REPO, tmp_path)]
    for run in runs:
        assert run.returncode == 1, run.stderr[-2000:]
        assert "checking against assignment 'sgd_mnist' (from mine.ipynb's metadata)" in run.stderr
        assert "sgd_mnist: 0 / 10 points" in run.stdout
    assert runs[0].stdout == runs[1].stdout


def test_check_without_a_course_says_how_to_name_one(tmp_path):
    nb = tmp_path / "mine.ipynb"
    nb.write_bytes((REPO / "release" / "sgd_mnist" / "sgd_mnist.ipynb").read_bytes())
    env = {k: v for k, v in os.environ.items() if k != "AUTOGRADER_COURSE"}
    run = subprocess.run([sys.executable, "-m", "autograder.cli", "check", str(nb)], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path, env=env)
    assert run.returncode == 2 and "no course directory found" in run.stderr and "--course-root" in run.stderr


def test_quickstart_refuses_a_non_empty_folder_and_never_overwrites(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit) as exit_info:
        main(["quickstart", str(tmp_path)])
    assert exit_info.value.code == 2 and "not empty" in capsys.readouterr().err
    (tmp_path / "nbgrader_config.py").write_text("# mine\n")
    with pytest.raises(SystemExit):
        main(["quickstart", str(tmp_path), "--force"])
    assert "would overwrite nbgrader_config.py" in capsys.readouterr().err
    assert (tmp_path / "nbgrader_config.py").read_text() == "# mine\n" and not (tmp_path / "source").exists()
