"""Whole-module tests: ``exit_json``/``fail_json`` raise instead of exiting, so ``_harness.run_module`` can return."""

from __future__ import annotations

import pytest
from _harness import exit_json, fail_json
from ansible.module_utils import basic


@pytest.fixture(autouse=True)
def module_exits(monkeypatch):
    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
