# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of ``confine.docker.container_entries``: the entries are validated here, nothing runs on the
target, so a bad entry stops the play before any task touches a host."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.confine.docker.plugins.module_utils._entries import EntryError, check_entries


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("containers", "profile_prefix"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = self._task.args
        unknown = sorted(set(args) - self._VALID_ARGS)
        if unknown:
            raise AnsibleActionFail("unsupported parameters: %s" % ", ".join(unknown))
        if "containers" not in args:
            raise AnsibleActionFail("containers is required")
        try:
            names = check_entries(args["containers"], args.get("profile_prefix", "confine-"))
        except EntryError as exc:
            raise AnsibleActionFail(str(exc)) from exc
        result.update(changed=False, names=names)
        return result
