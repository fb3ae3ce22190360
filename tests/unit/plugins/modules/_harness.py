"""Run a module's ``main()`` in-process and hand back its result (used with the autouse fixture in conftest.py)."""

from __future__ import annotations

import pytest
from ansible.module_utils.testing import patch_module_args


class Exit(Exception):
    """Raised in place of ``AnsibleModule.exit_json``; ``args[0]`` is the result."""


class Fail(Exception):
    """Raised in place of ``AnsibleModule.fail_json``; ``args[0]`` is the result."""


def exit_json(self, **kwargs):
    raise Exit(kwargs)


def fail_json(self, **kwargs):
    raise Fail(kwargs)


def run_module(main, args, check_mode=False, diff=False):
    """Call ``main()`` with ``args`` as module arguments; return the result dict with ``failed`` set."""
    full = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(full), pytest.raises((Exit, Fail)) as info:
        main()
    result = info.value.args[0]
    result["failed"] = isinstance(info.value, Fail)
    return result
