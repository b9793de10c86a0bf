"""Report: turn `SubmissionResult`s into the files of docs/contract.md §2 and into nbgrader's gradebook/feedback.

- `write_student_files(result, out=)`: `<out>/<student>/results.json`, `feedback.html`, `feedback.md`
- `write_grades_csv(results, path=)`: the class's grades.csv
- `write_nbgrader_gradebook(results, course_root=, assignment=)`: gradebook.db, so `nbgrader export` agrees
- `write_nbgrader_feedback(result, course_root=, assignment=)`: `feedback/<student>/<assignment>/`
- `render_table(result)`: the self-learner's terminal table (`autograder check`)
Student ids become folder names only through `paths.safe_folder_name`.
"""
from .files import write_grades_csv, write_student_files
from .gradebook import write_nbgrader_feedback, write_nbgrader_gradebook
from .html import render_html
from .paths import safe_folder_name
from .text import render_markdown, render_table

__all__ = ["write_student_files", "write_grades_csv", "write_nbgrader_gradebook", "write_nbgrader_feedback",
           "render_table", "render_html", "render_markdown", "safe_folder_name"]
