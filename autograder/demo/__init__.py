"""`autograder demo`: grade a built-in sample class (see `variants.STUDENTS`) and show the result."""
from .build import DEMO_ASSIGNMENT, build_class, run_demo

__all__ = ["DEMO_ASSIGNMENT", "build_class", "run_demo"]
