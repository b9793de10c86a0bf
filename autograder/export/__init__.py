"""Exports of the kit to other grading platforms (one module per platform)."""
