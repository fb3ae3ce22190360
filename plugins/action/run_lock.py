# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of ``confine.docker.run_lock``: who this run is, and whether a holder from this same controller
is still alive.

The run is the ``ansible-playbook`` process: the parent of the worker this action runs in. It is named by the
controller's host name, its pid and its start time (``/proc/<pid>/stat``), so that a later process that reuses the
pid is not mistaken for it.
"""

from __future__ import annotations

import getpass
import os
import socket

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.confine.docker.plugins.module_utils._lock import holder_id

MODULE = "confine.docker.run_lock"
_VALID_ARGS = frozenset(("path", "state", "lease"))


def process_start(pid):
    """The start time of ``pid`` in clock ticks since boot, as text; ``unknown`` where /proc has no such file."""
    try:
        with open("/proc/%d/stat" % pid, encoding="ascii", errors="replace") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return "unknown"
    return fields[19] if len(fields) > 19 else "unknown"


def alive(pid, start):
    """Whether the process ``pid`` that started at ``start`` still runs on this controller."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return start == "unknown" or process_start(pid) in (start, "unknown")


def this_run(playbook):
    pid = os.getppid()
    start = process_start(pid)
    controller = socket.gethostname()
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return {"id": holder_id(controller, pid, start), "controller": controller, "pid": pid, "pid_start": start,
            "user": user, "playbook": playbook}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        args = dict(self._task.args)
        unknown = sorted(set(args) - _VALID_ARGS)
        if unknown:
            raise AnsibleActionFail("unsupported parameters: %s" % ", ".join(unknown))
        where = self._task.get_path() or ""
        playbook = os.path.basename(where.rsplit(":", 1)[0]) if where else "?"
        args["owner"] = this_run(playbook)
        answer = self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
        holder = answer.get("holder") or {}
        if (answer.get("lock_held") and holder.get("controller") == args["owner"]["controller"]
                and not alive(holder.get("pid"), holder.get("pid_start"))):
            answer = self._execute_module(module_name=MODULE, module_args=dict(args, takeover=holder.get("id")),
                                          task_vars=task_vars)
        result.update(answer)
        return result
