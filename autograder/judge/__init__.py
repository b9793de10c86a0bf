"""The judge: the trusted side. Runs the hidden checks and compares, never importing student code."""
