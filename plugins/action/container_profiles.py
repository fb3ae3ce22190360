# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``confine.docker.container_profiles``: every enabled mechanism's profile of one container, deployed for a mode.

The mechanisms come from the registry (``module_utils/_mechanisms.py``): for each, in registry order, this action
writes version 1 from the entry's seed when asked (``seed``), reads the version file its install needs, and runs the
module that deploys it - through that module's own action plugin where it has one (``apparmor_profile`` renders its
spec on the controller). It stops at the first mechanism that fails, naming it, and returns each mechanism's result
and the container's Docker security options for the mode, built from what was deployed.
"""

from __future__ import annotations

import base64

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.confine.docker.plugins.module_utils import _mechanisms

ARGUMENT_SPEC = {
    "mode": {"type": "str", "required": True, "choices": list(_mechanisms.PROFILE_MODES)},
    "entry": {"type": "dict", "required": True},
    "names": {"type": "dict", "required": True},
    "mechanisms": {"type": "list", "elements": "str", "required": True},
    "opaque": {"type": "list", "elements": "str", "default": []},
    "seed": {"type": "bool", "default": False},
    "backup": {"type": "bool", "default": False},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def _step(self, step, task_vars):
        """Run ``step``'s module on the host, through its action plugin when it has one."""
        task = self._task.copy(exclude_parent=True, exclude_tasks=True)
        task.args = dict(step.args)
        loader = self._shared_loader_obj.action_loader
        if loader.has_plugin(step.module, collection_list=self._task.collections):
            action = loader.get(step.module, task=task, connection=self._connection, play_context=self._play_context,
                                loader=self._loader, templar=self._templar, shared_loader_obj=self._shared_loader_obj)
            return action.run(task_vars=task_vars)
        return self._execute_module(module_name=step.module, module_args=task.args, task_vars=task_vars)

    def _read(self, path, task_vars):
        result = self._execute_module(module_name="ansible.builtin.slurp", module_args={"src": path},
                                      task_vars=task_vars)
        if result.get("failed"):
            return None, result
        return to_text(base64.b64decode(result["content"]), errors="surrogate_or_strict"), result

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        validated = ArgumentSpecValidator(ARGUMENT_SPEC).validate(self._task.args)
        if validated.error_messages:
            raise AnsibleActionFail("container_profiles: %s" % "; ".join(validated.error_messages))
        args = validated.validated_parameters
        try:
            wanted = [_mechanisms.get(name) for name in args["mechanisms"]]
        except _mechanisms.MechanismError as exc:
            raise AnsibleActionFail(str(exc)) from exc
        # The registry's order, whatever the order asked for.
        mechanisms = [mechanism for mechanism in _mechanisms.REGISTRY.values() if mechanism in wanted]
        mode, entry, names = args["mode"], args["entry"], args["names"]
        check_mode = bool(self._task.check_mode)
        results, facts, diffs, changed = {}, {}, [], False

        def failed(mechanism, what, outcome):
            result.update(failed=True, changed=changed, results=results, mechanism=mechanism.name,
                          msg="%s (%s): %s" % (what, mechanism.name, outcome.get("msg", outcome)))
            if facts:
                result["ansible_facts"] = facts
            return result

        def note(outcome):
            nonlocal changed
            changed = changed or bool(outcome.get("changed"))
            facts.update(outcome.get("ansible_facts") or {})
            diff = outcome.get("diff")
            if diff:
                diffs.extend(diff if isinstance(diff, list) else [diff])

        for mechanism in mechanisms:
            opaque = mechanism.name in args["opaque"]
            seed_pending = False
            step = mechanism.seed_step(entry, names) if args["seed"] and not opaque else None
            if step is not None:
                outcome = self._step(step, task_vars)
                if outcome.get("failed"):
                    return failed(mechanism, "writing version 1 from the seed failed", outcome)
                note(outcome)
                # In check mode the seed's version file is not written: the seed stands in for it.
                seed_pending = check_mode and bool(outcome.get("changed"))
            text = None
            path = mechanism.reads(mode, names, opaque=opaque, seed_pending=seed_pending)
            if path is not None:
                text, outcome = self._read(path, task_vars)
                if text is None:
                    return failed(mechanism, "reading %s failed" % path, outcome)
            try:
                step = mechanism.install_step(mode, entry, names, opaque=opaque, version_text=text,
                                              seed_pending=seed_pending, backup=args["backup"])
            except _mechanisms.MechanismError as exc:
                raise AnsibleActionFail(str(exc)) from exc
            outcome = self._step(step, task_vars)
            if outcome.get("failed"):
                results[mechanism.name] = outcome
                return failed(mechanism, "deploying the %s profile failed" % mode, outcome)
            note(outcome)
            results[mechanism.name] = outcome
        on = {name: name in args["mechanisms"] for name in _mechanisms.NAMES}
        try:
            opts = _mechanisms.security_opts(mode, names, on, results)
        except _mechanisms.MechanismError as exc:
            raise AnsibleActionFail(str(exc)) from exc
        result.update(changed=changed, results=results, security_opts=opts,
                      mechanisms=[mechanism.name for mechanism in mechanisms])
        if diffs:
            result["diff"] = diffs
        if facts:
            result["ansible_facts"] = facts
        return result
