# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: security_opts
short_description: The Docker security options of a container in a runbook mode
version_added: 0.2.0
author: confine.docker contributors (@confine)
description:
  - The one definition of what a container runs with in each mode (plugins/module_utils/_state.py), for the stages
    that know the seccomp profile only once they deployed it; C(confine.docker.container_state) returns the same
    options for the modes it reads.
  - C(complain) and C(enforce) - the container's own AppArmor profile (when O(apparmor)), its seccomp profile's JSON
    (when O(seccomp); in complain mode left out while it is not known, as in check mode) and
    C(no-new-privileges:true). C(baseline) - C(apparmor=docker-default) where there is AppArmor, Docker's default
    seccomp. C(unconfined) - C(apparmor=unconfined) and C(seccomp=unconfined).
options:
  _input:
    description: The mode.
    type: str
    choices: [complain, enforce, baseline, unconfined]
    required: true
  profile:
    description: The container's AppArmor profile name (C(<prefix><name>)).
    type: str
    required: true
  apparmor:
    description: Whether the container has an AppArmor profile of its own.
    type: bool
    default: true
  seccomp:
    description: Whether the container has a seccomp profile of its own.
    type: bool
    default: true
  seccomp_profile:
    description: The deployed seccomp profile (the C(profile) that C(confine.docker.seccomp_profile) returns).
    type: dict
"""

EXAMPLES = r"""
- name: Run the container under its trial profiles
  ansible.builtin.include_role:
    name: confine.docker.container
  vars:
    container_item: "{{ container }}"
    container_security_opts: >-
      {{ 'complain' | confine.docker.security_opts(profile='confine-web', apparmor=true, seccomp=true,
                                                   seccomp_profile=seccomp_result.profile | default(none)) }}
"""

RETURN = r"""
_value:
  description: The C(security_opts) of C(community.docker.docker_container).
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.confine.docker.plugins.module_utils._state import security_opts


def _security_opts(mode, profile, apparmor=True, seccomp=True, seccomp_profile=None):
    try:
        return security_opts(mode, profile, boolean(apparmor), boolean(seccomp), seccomp_profile)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError("security_opts: %s" % exc) from exc


class FilterModule:
    """The runbook-state filters of confine.docker."""

    def filters(self):
        return {"security_opts": _security_opts}
