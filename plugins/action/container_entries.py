# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of ``confine.docker.container_entries``: the entries are validated here, so a bad entry stops the
play before any task touches a host. Only entries with ``adopt: true`` need the host: their configuration is read
there (``confine.docker.container_adopt``), and they come back completed into declared entries, checked again."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

from ansible_collections.confine.docker.plugins.module_utils._adopt import adopted_names, complete_all
from ansible_collections.confine.docker.plugins.module_utils._entries import EntryError, check_entries


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("containers", "profile_prefix", "state_dir", "record", "sharers"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = self._task.args
        unknown = sorted(set(args) - self._VALID_ARGS)
        if unknown:
            raise AnsibleActionFail("unsupported parameters: %s" % ", ".join(unknown))
        if "containers" not in args:
            raise AnsibleActionFail("containers is required")
        containers, prefix = args["containers"], args.get("profile_prefix", "confine-")
        try:
            names = check_entries(containers, prefix)
        except EntryError as exc:
            raise AnsibleActionFail(str(exc)) from exc
        adopt = adopted_names(containers)
        result.update(changed=False, names=names, containers=list(containers), adopted=adopt, recorded=[])
        sharers = boolean(args.get("sharers", False), strict=True)
        if not adopt and not sharers:
            return result
        module_args = {"names": adopt, "state_dir": args.get("state_dir", "/var/lib/confine"),
                       "record": boolean(args.get("record", True), strict=True)}
        if sharers:
            module_args["order"] = names
        read = self._execute_module(module_name="confine.docker.container_adopt", module_args=module_args,
                                    task_vars=task_vars)
        if read.get("failed"):
            raise AnsibleActionFail(read.get("msg") or "confine.docker.container_adopt failed", result=read)
        completed = complete_all(containers, read["entries"])
        try:
            check_entries(completed, prefix)
        except EntryError as exc:
            raise AnsibleActionFail("the adopted configuration cannot be run through community.docker."
                                    "docker_container as it is installed: %s" % exc) from exc
        result.update(changed=read.get("changed", False), containers=completed, recorded=read.get("recorded", []))
        if read.get("diff"):
            result["diff"] = read["diff"]
        return result
