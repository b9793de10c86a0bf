"""`python -m autograder.jail.zygote FD`: the jail factory's entry point (see spawn.Zygote)."""
import sys

from autograder.jail.spawn import zygote_main

if __name__ == "__main__":
    zygote_main(int(sys.argv[1]))
