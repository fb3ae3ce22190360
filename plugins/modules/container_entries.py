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
    the connection options) and the confinement (C(seccomp=), C(apparmor=), C(no-new-privileges) in
    C(security_opts), C(privileged=true), C(comparisons.security_opts)) are refused, each named with the reason.
  - An entry with C(adopt=true) names a container that already runs on the host. Its configuration is read there
    with C(confine.docker.container_adopt) (from its record C(<state_dir>/<name>/adopted.json) once there is one),
    and the entry comes back in RV(containers) completed with the C(image) and C(run) that recreate it, checked
    like a declared one. Only then does the task touch the host; without adopted entries it never does.
  - Runs as an action on the controller; run on a target on its own it does the same checks there, and reads the
    adopted containers without keeping a record.
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
  state_dir:
    description: The runbook's state directory (C(confine_state_dir)), where adopted containers' records are kept.
    type: path
    default: /var/lib/confine
  record:
    description:
      - Keep the record of an adopted container read for the first time (C(confine.docker.container_adopt)).
        V(false) reads without writing, for a validation before the run lock and for the read-only verify stage.
    type: bool
    default: true
  sharers:
    description:
      - Also read every container on the host and fail when one joins the network, pid or ipc namespace of an
        entry's container (C(--network container:<name>)) without being an entry listed after it - recreating the
        container it joins would leave it without that namespace. harden.yml checks this before the run lock.
    type: bool
    default: false
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
containers:
  description: The entries, in order, each adopted one completed into a declared entry (C(image) and C(run) added,
    C(adopt) dropped); the others as given. The stages loop over these.
  returned: success
  type: list
  elements: dict
  sample: [{"name": "web", "image": "nginx:bookworm", "run": {"published_ports": ["8080:80"]}}]
adopted:
  description: The names of the entries with C(adopt=true).
  returned: success
  type: list
  elements: str
  sample: [web]
recorded:
  description: The adopted containers whose record this task wrote (or would write, in check mode).
  returned: success
  type: list
  elements: str
  sample: [web]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.confine.docker.plugins.module_utils._adopt import (
    AdoptionError,
    adopted_names,
    complete_all,
    read,
)
from ansible_collections.confine.docker.plugins.module_utils._entries import EntryError, check_entries


def main():
    module = AnsibleModule(
        argument_spec={
            "containers": {"type": "list", "elements": "raw", "required": True},
            "profile_prefix": {"type": "str", "default": "confine-"},
            "state_dir": {"type": "path", "default": "/var/lib/confine"},
            "record": {"type": "bool", "default": True},
            "sharers": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    containers, prefix = module.params["containers"], module.params["profile_prefix"]
    try:
        names = check_entries(containers, prefix)
    except EntryError as exc:
        module.fail_json(msg=str(exc))
    names_adopted = adopted_names(containers)
    if names_adopted or module.params["sharers"]:
        docker = module.get_bin_path("docker", required=True)
        try:
            adopted, _records = read(names_adopted, module.params["state_dir"], module.run_command, docker,
                                     names if module.params["sharers"] else None)
        except AdoptionError as exc:
            module.fail_json(msg="cannot adopt: %s" % exc, problems=exc.problems)
        containers = complete_all(containers, adopted)
        try:
            check_entries(containers, prefix)
        except EntryError as exc:
            module.fail_json(msg="the adopted configuration cannot be run through community.docker.docker_container "
                                 "as it is installed: %s" % exc)
    module.exit_json(changed=False, names=names, containers=containers, adopted=names_adopted, recorded=[])


if __name__ == "__main__":
    main()
