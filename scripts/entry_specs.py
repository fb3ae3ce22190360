"""Write the container-entry schema (plugins/module_utils/_entries.py) into the roles' meta/argument_specs.yml.

The `confine_containers` option of every role that takes container entries is generated from the one declaration;
each role keeps its own one-line description of the list. Run it as `scripts/entry-specs` (the venv's Python);
`--check` changes nothing and exits 1 naming the files that are not current
(tests/unit/plugins/module_utils/test_entries.py runs the same check).
"""

from __future__ import annotations

import os
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))

from ansible_collections.confine.docker.plugins.module_utils._entries import (  # noqa: E402
    ENTRY_ROLES,
    entries_argument_spec,
)

KEY_ORDER = ("description", "type", "elements", "required", "default", "choices", "mutually_exclusive", "options")
INDENT = "      "  # options of argument_specs.main


class _Dumper(yaml.SafeDumper):
    """Block sequences indented under their key, as yamllint and the hand-written files have them."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def _represent_list(dumper, data):
    """Lists of scalars (choices, mutually_exclusive's groups) in flow style, as the hand-written files have them."""
    flow = all(isinstance(item, (str, int)) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _represent_list)


def _ordered(spec):
    ordered = {key: spec[key] for key in KEY_ORDER if key in spec}
    if "options" in ordered:
        ordered["options"] = {name: _ordered(option) for name, option in ordered["options"].items()}
    return ordered


def block(description):
    text = yaml.dump({"confine_containers": _ordered(entries_argument_spec(description))}, Dumper=_Dumper,
                     sort_keys=False, width=106, default_flow_style=False, allow_unicode=True)
    return "".join(INDENT + line if line.strip() else line for line in text.splitlines(keepends=True))


def path_of(role):
    return os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")


def render(role, text):
    """``text`` (a role's argument_specs.yml) with its confine_containers option generated."""
    lines = text.splitlines(keepends=True)
    start = lines.index(INDENT + "confine_containers:\n")
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end].startswith(INDENT + " ")):
        end += 1
    current = yaml.safe_load(text)["argument_specs"]["main"]["options"]["confine_containers"]
    return "".join(lines[:start]) + block(current["description"]) + "".join(lines[end:])


def main(argv):
    check = "--check" in argv
    stale = []
    for role in ENTRY_ROLES:
        with open(path_of(role), encoding="utf-8") as handle:
            text = handle.read()
        new = render(role, text)
        if new != text:
            stale.append(path_of(role))
            if not check:
                with open(path_of(role), "w", encoding="utf-8") as handle:
                    handle.write(new)
    if check and stale:
        print("not current (run scripts/entry-specs): " + ", ".join(os.path.relpath(p, ROOT) for p in stale))
        return 1
    for path in stale:
        print("wrote " + os.path.relpath(path, ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
