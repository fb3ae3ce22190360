#!/usr/bin/python
# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: container_adopt
short_description: Read the configuration of containers started by anyone, to recreate them under confinement
version_added: 0.3.0
author: confine.docker contributors (@confine)
description:
  - For each container of O(names) (an entry of C(confine_containers) with C(adopt=true)), gives the
    C(community.docker.docker_container) parameters that recreate it exactly as it is - image, command, entrypoint,
    environment, mounts and volumes, ports, networks and aliases, restart policy, labels, resources, ulimits,
    sysctls, devices, log configuration, health check, user, working directory, hostname, capabilities - without the
    runbook's own security options (C(apparmor=), C(seccomp=), C(no-new-privileges)).
  - The first time, the container is read with C(docker inspect) (and its image with C(docker image inspect), so
    that what it only inherited is left to the image), and with O(record) what was read is kept in
    C(<state_dir>/<name>/adopted.json), written atomically. From then on that record is used, not the container as
    it runs then (under the runbook's confinement), so every stage, every later run and a rollback recreate it from
    its original configuration. Remove the file to adopt a container again as it then runs.
  - A container that cannot be carried over faithfully (privileged; a namespace shared with a container that is
    gone; anonymous volumes, which a recreated container would get new and empty; an image tag that now names
    another image; an option this mapping does not know) fails the task listing every reason for every container,
    and nothing is written.
  - C(confine.docker.container_entries) runs it for the entries with C(adopt=true); it is not meant to be called on
    its own, though it can be.
extends_documentation_fragment:
  - confine.docker.attributes
options:
  names:
    description: The names of the containers to adopt.
    type: list
    elements: str
    required: true
  state_dir:
    description:
      - The runbook's state directory (C(confine_state_dir)); the records are C(<state_dir>/<name>/adopted.json).
    type: path
    default: /var/lib/confine
  order:
    description:
      - The names of all the entries, in order. When given, every container on the host is read to find the ones
        that join the network, pid or ipc namespace of an entry's container (C(--network container:<name>)).
        Recreating that container would leave them without it, so the task fails naming each one that is not an
        entry listed after the container it joins. Nothing is written then.
    type: list
    elements: str
  record:
    description:
      - Keep the record of each container read from Docker. V(false) reads and writes nothing (the entries of
        containers without a record come from the container as it is), for a validation before the run lock is
        taken and for the read-only verify stage.
    type: bool
    default: true
  docker_cli:
    description: The docker command-line client.
    type: path
    default: docker
"""

EXAMPLES = r"""
- name: Read the containers to adopt
  confine.docker.container_adopt:
    names: [web, cache]
    state_dir: /var/lib/confine
  register: adopted

- name: Show how web would be recreated
  ansible.builtin.debug:
    var: adopted.entries[0].run
"""

RETURN = r"""
entries:
  description: One entry per name, in order - C(name), C(image) and C(run) (the C(docker_container) parameters).
  returned: success
  type: list
  elements: dict
  sample: [{"name": "web", "image": "nginx:bookworm", "run": {"published_ports": ["8080:80"]}}]
recorded:
  description: The containers whose record was written (or would be, in check mode) by this task.
  returned: success
  type: list
  elements: str
  sample: [web]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.confine.docker.plugins.module_utils._adopt import (
    AdoptionError,
    read,
    record_path,
)
from ansible_collections.confine.docker.plugins.module_utils._io import WriteError, atomic_write


def main():
    module = AnsibleModule(
        argument_spec={
            "names": {"type": "list", "elements": "str", "required": True},
            "order": {"type": "list", "elements": "str"},
            "state_dir": {"type": "path", "default": "/var/lib/confine"},
            "record": {"type": "bool", "default": True},
            "docker_cli": {"type": "path", "default": "docker"},
        },
        supports_check_mode=True,
    )
    names, state_dir = module.params["names"], module.params["state_dir"]
    docker = module.get_bin_path(module.params["docker_cli"], required=True)
    paths = {name: record_path(state_dir, name) for name in names}
    try:
        entries, new_records = read(names, state_dir, module.run_command, docker, module.params["order"])
    except AdoptionError as exc:
        module.fail_json(msg="cannot adopt: %s" % exc, problems=exc.problems)
    recorded = sorted(new_records) if module.params["record"] else []
    if recorded and not module.check_mode:
        written = []
        for name in recorded:
            try:
                atomic_write(paths[name], new_records[name], mode=0o640, dir_mode=0o750)
            except WriteError as exc:
                module.fail_json(msg="cannot keep the adoption record of %s: %s" % (name, exc), recorded=written,
                                 changed=bool(written))
            written.append(name)
    diff = [{"before": "", "after": new_records[name], "before_header": paths[name], "after_header": paths[name]}
            for name in recorded]
    module.exit_json(changed=bool(recorded), entries=entries, recorded=recorded, diff=diff)


if __name__ == "__main__":
    main()
