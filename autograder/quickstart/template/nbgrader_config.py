"""nbgrader's configuration for this course directory (made by `autograder quickstart`).

`autograder release` (or `nbgrader generate_assignment`) run from here turns source/A/ into release/A/."""
import os

c = get_config()  # noqa: F821 - injected by traitlets when nbgrader loads this file

c.CourseDirectory.course_id = "my_course"
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))  # the folder holding this file
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".pytest_cache"]

# Releasing needs no gradebook: the kit grades from the hidden checks in solutions/, not from nbgrader's database.
c.GenerateAssignment.no_database = True
c.GenerateAssignment.force = True
c.SaveCells.enabled = False
c.GenerateAssignment.permissions = 644

# What a student sees in place of each solution region.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
