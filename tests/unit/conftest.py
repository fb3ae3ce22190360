"""Fixtures shared by the unit tests."""

from __future__ import annotations

import copy
import os

import pytest

from ansible_collections.confine.docker.plugins.module_utils._events import Collector, SyscallResolver

EVENTS = os.path.join(os.path.dirname(__file__), "fixtures", "events")


@pytest.fixture(scope="session")
def _audit_events():
    collector = Collector(resolver=SyscallResolver())
    with open(os.path.join(EVENTS, "audit.log"), encoding="utf-8") as handle:
        for line in handle:
            collector.feed_line(line.rstrip("\n"))
    return collector.result()


@pytest.fixture()
def audit_events(_audit_events):
    """What the collector makes of fixtures/events/audit.log (a trial's records), a fresh copy for each test."""
    return copy.deepcopy(_audit_events)
