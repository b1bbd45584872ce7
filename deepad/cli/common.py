"""What every command shares: the argument parser's error contract and where results go."""

from __future__ import annotations

import argparse
import sys


class _Parser(argparse.ArgumentParser):
    """argparse with the CLI's error contract: one line `error: ...` on stderr, exit code 2."""

    def error(self, message):
        self.exit(2, f"error: {message}; see `{self.prog} --help`\n")


# Where results go: the process's stdout as it was when main() started (with --json everything
# else is redirected to stderr).
STDOUT = [sys.stdout]


def stdout():
    return STDOUT[0]
