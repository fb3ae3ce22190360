# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: cap_drop
short_description: The capabilities the runbook drops from a container entry's container
version_added: 0.2.0
author: confine.docker contributors (@confine)
description:
  - The entry's own C(run.cap_drop), plus C(AUDIT_WRITE) unless the entry keeps it (C(run.capabilities)) or already
    drops it or C(ALL).
  - With C(CAP_AUDIT_WRITE), which Docker grants by default, a process in the container can send user-space audit
    messages whose text looks like any AppArmor record; every stage runs the container without it, so the trial and
    the enforced container behave the same.
options:
  _input:
    description: A container entry of C(confine_containers).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Show what the runbook drops from a container
  ansible.builtin.debug:
    msg: "{{ {'name': 'web', 'run': {'cap_drop': ['NET_RAW']}} | confine.docker.cap_drop }}"
  # -> ['NET_RAW', 'AUDIT_WRITE']
"""

RETURN = r"""
_value:
  description: The capabilities to drop, as Docker names them.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.confine.docker.plugins.module_utils._entries import cap_drop


def _cap_drop(entry):
    if not isinstance(entry, dict):
        raise AnsibleFilterError("cap_drop takes a container entry (a mapping), got %s" % type(entry).__name__)
    return cap_drop(entry)


class FilterModule:
    """The container-entry filters of confine.docker."""

    def filters(self):
        return {"cap_drop": _cap_drop}
