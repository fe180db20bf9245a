"""The `vj` command line (entry point `vj.cli:main`)."""

from vj.cli.main import main

__all__ = ["main"]
