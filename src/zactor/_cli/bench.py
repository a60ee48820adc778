"""Placeholder replaced by the real bench module."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's options to its parser."""


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit status."""
    return 1
