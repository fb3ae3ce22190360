#!/usr/bin/python
# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: container_discover
short_description: List a host's containers with their confinement, and a starting inventory for the runbook
version_added: 0.3.0
author: confine.docker contributors (@confine)
description:
  - Reads every container on the host (the running ones, or all with O(all)) with C(docker inspect) and reports
    how each is confined today - V(privileged), V(unconfined) (C(apparmor=unconfined) or C(seccomp=unconfined)),
    V(custom) (a profile of its own) or V(docker-default) - with its AppArmor profile and seccomp as Docker reports
    them, the compose project and service that manage it, and whether it can be adopted as it is.
  - Returns a starting C(confine_containers) inventory - an entry C(adopt=true) for each container that can be
    adopted - and the containers left out, each with why (privileged, a namespace shared with a container that is
    gone, anonymous volumes, a compose service, ...). C(playbooks/discover.yml) writes it to a file per host.
  - Changes nothing on the host.
extends_documentation_fragment:
  - confine.docker.attributes.READ_ONLY
options:
  all:
    description: Include the containers that are not running (created, exited).
    type: bool
    default: false
  profile_prefix:
    description: Prefix of the runbook's AppArmor profile names, to tell the containers it confines already.
    type: str
    default: confine-
  host:
    description:
      - The host's name in the starting inventory's header (C(playbooks/discover.yml) gives the inventory name).
    type: str
  docker_cli:
    description: The docker command-line client.
    type: path
    default: docker
"""

EXAMPLES = r"""
- name: List the host's containers and how they are confined
  confine.docker.container_discover:
  register: found

- name: Show the containers that run without confinement
  ansible.builtin.debug:
    msg: "{{ found.containers | selectattr('class', 'in', ['privileged', 'unconfined']) | map(attribute='name') }}"
"""

RETURN = r"""
containers:
  description: One item per container, sorted by name.
  returned: success
  type: list
  elements: dict
  contains:
    name: {description: The container's name., type: str}
    image: {description: The image it was created from., type: str}
    id: {description: The container's id., type: str}
    running: {description: Whether it runs., type: bool}
    class: {description: "V(privileged), V(unconfined), V(custom) or V(docker-default).", type: str}
    apparmor: {description: "Its AppArmor profile as Docker reports it (none where the host has no AppArmor).",
               type: str}
    seccomp: {description: "V(docker-default), V(unconfined) or V(custom).", type: str}
    confined_by_runbook:
      description: "Whether its AppArmor profile is one of the runbook's (O(profile_prefix))."
      type: bool
    compose: {description: "The compose C(project), C(service), C(project_src) and C(files) that manage it, or none.",
              type: dict}
    adoptable: {description: Whether it can be adopted as it is., type: bool}
    problems: {description: Why it cannot., type: list, elements: str}
  sample: [{"name": "web", "image": "nginx:bookworm", "class": "docker-default", "apparmor": "docker-default",
            "seccomp": "docker-default", "adoptable": true, "problems": []}]
summary:
  description: How many containers are in each class.
  returned: success
  type: dict
  sample: {"privileged": 0, "unconfined": 1, "custom": 0, "docker-default": 3}
entries:
  description: The starting C(confine_containers) - C({name, adopt=true}) for each container that can be adopted.
  returned: success
  type: list
  elements: dict
  sample: [{"name": "web", "adopt": true}]
left:
  description: The containers not in RV(entries), with their class and why.
  returned: success
  type: list
  elements: dict
  sample: [{"name": "tools", "class": "privileged", "problems": ["it is privileged: ..."]}]
inventory:
  description: The starting inventory as a YAML document, the containers left out as comments.
  returned: success
  type: str
"""

import json
import socket

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.confine.docker.plugins.module_utils._discover import describe, inventory, render, summary


def _docker_json(module, argv):
    """The objects of ``docker ... inspect``; one removed since ``docker ps`` fails the call but leaves the others."""
    rc, out, err = module.run_command(argv)
    try:
        data = json.loads(out) if out.strip() else []
    except ValueError as exc:
        module.fail_json(msg="%s gave no JSON: %s" % (" ".join(argv[1:3]), exc))
    if rc != 0 and (not data or "no such" not in err.lower()):
        module.fail_json(msg="%s failed: %s" % (" ".join(argv[1:3]), err.strip() or "rc=%d" % rc))
    return [item for item in data if isinstance(item, dict)]


def main():
    module = AnsibleModule(
        argument_spec={
            "all": {"type": "bool", "default": False},
            "profile_prefix": {"type": "str", "default": "confine-"},
            "host": {"type": "str"},
            "docker_cli": {"type": "path", "default": "docker"},
        },
        supports_check_mode=True,
    )
    docker = module.get_bin_path(module.params["docker_cli"], required=True)
    rc, out, err = module.run_command([docker, "ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}}"])
    if rc != 0:
        module.fail_json(msg="docker ps failed: %s" % (err.strip() or "rc=%d" % rc))
    containers = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    inspects = _docker_json(module, [docker, "container", "inspect", *containers]) if containers else []
    if not module.params["all"]:
        inspects = [item for item in inspects if (item.get("State") or {}).get("Running")]
    image_ids = sorted({item.get("Image") for item in inspects if item.get("Image")})
    images = {item.get("Id"): item for item in _docker_json(module, [docker, "image", "inspect", *image_ids])} \
        if image_ids else {}
    found = sorted((describe(item, images.get(item.get("Image")), containers, module.params["profile_prefix"])
                    for item in inspects), key=lambda item: item["name"])
    entries, left = inventory(found)
    module.exit_json(changed=False, containers=found, summary=summary(found), entries=entries, left=left,
                     inventory=render(module.params["host"] or socket.gethostname(), found))


if __name__ == "__main__":
    main()
