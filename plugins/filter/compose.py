# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: compose_override
short_description: The runbook's compose override of a service under given security options
version_added: 0.3.0
author: confine.docker contributors (@confine)
description:
  - Takes the resolved compose model (C(docker compose config --format json)) and gives the text of
    C(compose.confine.yml) for O(service) - its C(container_name), C(security_opt) with the seccomp profile as a
    file beside it, C(cap_drop) of C(AUDIT_WRITE), and a label with a digest of the confinement - and that seccomp
    file's text. Both are None for Docker's baseline (the project without the override).
  - The filter C(confine.docker.compose_problems) takes the same model, O(service) and O(name) and lists what keeps
    the runbook from confining the service (no such service, replicas, another C(container_name), confinement of its
    own, privileged, and - given the project's directory - a writable bind mount of that directory, from which the
    container could rewrite the override).
options:
  _input:
    description: The resolved compose model.
    type: dict
    required: true
  service:
    description: The service.
    type: str
    required: true
  name:
    description: The container's name (the entry's C(name)).
    type: str
    required: true
  security_opts:
    description: The stage's security options, the seccomp profile inline (C(seccomp=<JSON>)).
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: Show the override of the service web
  ansible.builtin.debug:
    msg: "{{ (model | confine.docker.compose_override('web', 'web', ['apparmor=confine-web'])).override }}"
"""

RETURN = r"""
_value:
  description: C(override) and C(seccomp), each a text or None.
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.confine.docker.plugins.module_utils import _compose


def _model(config):
    if isinstance(config, str):
        import json  # pylint: disable=import-outside-toplevel

        config = json.loads(config)
    if not isinstance(config, dict):
        raise AnsibleFilterError("the compose model must be a mapping (docker compose config --format json)")
    return config


def compose_override(config, service, name, security_opts=()):
    return _compose.override(_model(config), service, name, list(security_opts or ()))


def compose_problems(config, service, name, project_src=None):
    return _compose.service_problems(_model(config), service, name, project_src)


class FilterModule:
    """The compose filters of confine.docker."""

    def filters(self):
        return {"compose_override": compose_override, "compose_problems": compose_problems}
