# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of ``confine.docker.apparmor_profile``.

Targets need neither Jinja2 nor the profile source: a ``spec`` (or bane TOML) is rendered here, a ``src`` file is read
here (like ``copy``), and the module gets the resulting ``content``.

A rendered profile declares the feature ABI of the target (``abi: auto``): the ``confine_apparmor_host`` fact of
``confine.docker.apparmor_facts``, which this plugin runs on the target when the host does not have the fact yet and
then returns, so later tasks on the host reuse it.
"""

from __future__ import annotations

import jinja2
from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.confine.docker.plugins.module_utils._apparmor import (
    AppArmorError,
    is_bane_spec,
    load_bane_toml,
    normalize_spec,
    spec_from_bane,
    template_context,
    validate_abi,
)
from ansible_collections.confine.docker.plugins.module_utils._apparmor_template import (
    PROFILE_TEMPLATE,
    TEMPLATE_OPTIONS,
)

MODULE = "confine.docker.apparmor_profile"
FACTS_MODULE = "confine.docker.apparmor_facts"
FACT = "confine_apparmor_host"


def render_profile(spec, name=None, abi=None):
    """Validate ``spec`` (ours, bane's keys, or bane TOML text) and return ``(profile_name, profile_text)``.

    ``abi`` is the feature ABI the profile declares (``"4.0"``, ``"3.0"``; None for none).
    """
    if isinstance(spec, (str, bytes)):
        spec = load_bane_toml(spec)
    elif is_bane_spec(spec):
        spec = spec_from_bane(spec)
    spec = normalize_spec(spec, name=name)
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, **TEMPLATE_OPTIONS)
    text = env.from_string(PROFILE_TEMPLATE).render(**template_context(spec, abi=abi))
    return spec["name"], text


def resolve_source(args, read_src, host_abi=None):
    """Turn ``src``/``spec`` into ``content`` in a copy of the task args; ``read_src(path) -> text`` reads a file.

    ``host_abi()`` returns the target's ABI; it is called only when a profile is rendered with ``abi: auto``.
    """
    args = dict(args)
    given = [key for key in ("content", "src", "spec") if args.get(key) is not None]
    if len(given) > 1:
        raise AppArmorError("parameters are mutually exclusive: %s" % "|".join(given))
    abi = args.get("abi", "auto")
    if abi != "auto":
        validate_abi(abi)
    src = args.pop("src", None)
    spec = args.pop("spec", None)
    if src is not None:
        text = read_src(src)
        if str(src).endswith(".toml"):
            spec = load_bane_toml(text)
        else:
            args["content"] = text
    if spec is not None:
        if abi == "auto":
            abi = host_abi() if host_abi is not None else None
        args["name"], args["content"] = render_profile(spec, name=args.get("name"), abi=abi)
    return args


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp

        def read_src(src):
            path = self._find_needle("files", src)
            try:
                with open(path, "rb") as handle:
                    return to_text(handle.read(), errors="surrogate_or_strict")
            except (OSError, UnicodeError) as exc:
                raise AppArmorError("cannot read src %s: %s" % (src, exc)) from exc

        learned = {}

        def host_abi():
            facts = (task_vars.get("ansible_facts") or {}).get(FACT)
            if not isinstance(facts, dict) or "abi" not in facts:
                probe = self._execute_module(module_name=FACTS_MODULE, module_args={}, task_vars=task_vars)
                if probe.get("failed"):
                    raise AnsibleActionFail("reading the host's AppArmor facts failed: %s" % probe.get("msg", probe))
                facts = probe["ansible_facts"][FACT]
                learned[FACT] = facts
            return facts["abi"]

        try:
            module_args = resolve_source(self._task.args, read_src, host_abi)
        except AppArmorError as exc:
            raise AnsibleActionFail(str(exc)) from exc
        result.update(self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars))
        if learned:
            result.setdefault("ansible_facts", {}).update(learned)
        return result
