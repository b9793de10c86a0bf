"""Autograder for the `sgd_mnist` homework: student code runs in a jail, hidden checks run in the judge."""

__version__ = "0.1.0"
