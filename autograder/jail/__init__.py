"""The jail: a child process that runs one submission's code and answers the judge's requests."""
