#!/usr/bin/python
# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: container_entries
short_description: Validate the container entries of confine_containers before anything is written
version_added: 0.2.0
author: confine.docker contributors (@confine)
description:
  - Checks the entries the stages work on, on the controller, so that a bad entry stops the play before any task
    touches a host.
  - A container name becomes a directory under the state dir, file names under the AppArmor and seccomp
    directories and part of a profile name (C(<profile_prefix><name>)). It must follow Docker's rule for names
    (C([a-zA-Z0-9][a-zA-Z0-9_.-]*)), hold no C(..), be at most 128 characters, be unique, and give a valid
    AppArmor profile name that is not one of the host's own (C(docker-default), C(unconfined), ...).
  - Every entry is checked against the one declaration of the entry schema (the options of C(confine_containers)
    in the roles' argument specs, docs/inventory.md) - required keys, unknown keys (in C(run), C(apparmor),
    C(seccomp), C(workload), C(health) and C(approve) too), types and choices.
  - C(run) is checked against the argument spec of the installed C(community.docker.docker_container), read from
    the module itself; the parameters the runbook owns (C(name), C(image), C(state), C(recreate), C(restart),
    C(pull), the connection options) and the confinement (C(seccomp=), C(apparmor=), C(no-new-privileges) in
    C(security_opts), C(privileged=true), C(comparisons.security_opts)) are refused, each named with the reason.
  - Runs as an action on the controller; run on a target on its own it does the same checks there.
extends_documentation_fragment:
  - confine.docker.attributes.READ_ONLY
options:
  containers:
    description: The entries (C(confine_containers)).
    type: list
    elements: raw
    required: true
  profile_prefix:
    description: Prefix of the profile names (C(confine_profile_prefix)).
    type: str
    default: confine-
"""

EXAMPLES = r"""
- name: Stop the play at once on a bad container entry
  confine.docker.container_entries:
    containers: "{{ confine_containers }}"
    profile_prefix: "{{ confine_profile_prefix | default('confine-') }}"
"""

RETURN = r"""
names:
  description: The container names, in the order of the entries.
  returned: success
  type: list
  elements: str
  sample: [web, db]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.confine.docker.plugins.module_utils._entries import EntryError, check_entries


def main():
    module = AnsibleModule(
        argument_spec={
            "containers": {"type": "list", "elements": "raw", "required": True},
            "profile_prefix": {"type": "str", "default": "confine-"},
        },
        supports_check_mode=True,
    )
    try:
        names = check_entries(module.params["containers"], module.params["profile_prefix"])
    except EntryError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, names=names)


if __name__ == "__main__":
    main()
