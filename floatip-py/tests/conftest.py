"""Fixtures: a per-test lab of namespaces, deleted at teardown also on failure."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

import floatip

sys.path.insert(0, os.path.dirname(__file__))

import netlab  # noqa: E402


def pytest_sessionstart(session: pytest.Session) -> None:
    netlab.require_root()
    netlab.sweep_dead()


@pytest.fixture
def lab() -> Iterator[netlab.Lab]:
    """Namespaces for one test: ``lab.ns(tag)``, ``lab.lan(tag)``."""
    lab = netlab.Lab()
    try:
        yield lab
    finally:
        lab.teardown()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Nothing of this process may be left: fail the run if something is.
    mine = [n for n in floatip.Netns.list() if n.startswith(f"{netlab.PREFIX}-{os.getpid()}-")]
    if mine:
        for n in mine:
            try:
                floatip.Netns.delete(n)
            except floatip.NotFoundError:
                pass
        print(f"\nleaked network namespaces (deleted now): {mine}", file=sys.stderr)
        session.exitstatus = 1
