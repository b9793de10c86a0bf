"""Suite-wide settings. `autograder check` normally starts a warm background server; the tests grade in
process unless a test asks for the server explicitly (tests/test_check_server.py), so nothing lingers."""
import os

os.environ.setdefault("AUTOGRADER_NO_SERVER", "1")
