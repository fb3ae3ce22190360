#!/usr/bin/python
# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: container_profiles
short_description: Deploy every enabled mechanism's profile of one container for a runbook mode
version_added: 0.3.0
author: confine.docker contributors (@confine)
description:
  - The stages' one way to put a container's profiles in place. The mechanisms (AppArmor, seccomp) are units of
    the collection's registry (plugins/module_utils/_mechanisms.py); for each one in O(mechanisms), in the
    registry's order, this action writes version 1 from the entry's seed when O(seed) is set, reads the version
    file named in O(names) when its mechanism needs its content, and runs the mechanism's own module
    (C(confine.docker.apparmor_profile), C(confine.docker.seccomp_profile)) to deploy it in O(mode).
  - C(complain) is the trial - AppArmor in complain mode, seccomp with C(SCMP_ACT_LOG) as its default action;
    C(enforce) is the reviewed version enforced.
  - An opaque mechanism (O(opaque), an entry's C(apparmor.src) or C(apparmor.content)) has no version files - its
    profile is installed as the entry wrote it in the trial, and switched as installed after it.
  - Stops at the first mechanism whose step fails, naming it; what was deployed before stays, as the mechanisms'
    modules leave it (each keeps its previous profile when a new one is refused).
  - Returns the container's Docker security options for O(mode), built from what was deployed, so the container
    is recreated under exactly these profiles.
  - Runs as an action on the controller (the AppArmor spec is rendered there); it has no module of its own on the
    target.
extends_documentation_fragment:
  - confine.docker.attributes
options:
  mode:
    description: The runbook mode to deploy the profiles in.
    type: str
    choices: [complain, enforce]
    required: true
  entry:
    description: The container's entry of C(confine_containers) (its seeds).
    type: dict
    required: true
  names:
    description:
      - The container's names and files as C(confine.docker.container_state) returns them (its C(names)) -
        C(profile), C(apparmor_file), C(seccomp_file), and C(files), the version files to deploy.
    type: dict
    required: true
  mechanisms:
    description: The enabled mechanisms (C(mechanisms) of C(confine.docker.container_state)).
    type: list
    elements: str
    required: true
  opaque:
    description: The mechanisms whose profile is the entry's own and never widened (its C(opaque)).
    type: list
    elements: str
    default: []
  seed:
    description: Write version 1 of each versioned mechanism from the entry's seed first (the first trial).
    type: bool
    default: false
  backup:
    description: Keep a backup of a deployed profile that is replaced (where the mechanism's module takes one).
    type: bool
    default: false
notes:
  - Check mode and diff mode are those of the mechanisms' modules; in check mode a first trial's version files are
    not written, and the seed stands in for them.
seealso:
  - module: confine.docker.container_state
  - module: confine.docker.apparmor_profile
  - module: confine.docker.seccomp_profile
"""

EXAMPLES = r"""
- name: Work out the profile version the trial runs
  confine.docker.container_state:
    name: web
    entry: "{{ entry }}"
  register: web_state

- name: Put the trial's profiles in complain and log mode
  confine.docker.container_profiles:
    mode: complain
    entry: "{{ entry }}"
    names: "{{ web_state.names | combine({'files': web_state.names.trial_files}) }}"
    mechanisms: "{{ web_state.mechanisms }}"
    opaque: "{{ web_state.opaque }}"
    seed: "{{ web_state.trial_version == 1 }}"
  register: web_profiles

- name: Run the container under them
  community.docker.docker_container:
    name: web
    image: nginx
    security_opts: "{{ web_profiles.security_opts }}"
"""

RETURN = r"""
security_opts:
  description: The Docker C(security_opts) of the container in O(mode), with the deployed profiles.
  returned: success
  type: list
  elements: str
  sample: ["apparmor=confine-web", "seccomp={\"defaultAction\":\"SCMP_ACT_LOG\"}", "no-new-privileges:true"]
results:
  description: Each mechanism's module result (its C(profile), C(path), C(changed), ...), by mechanism.
  returned: always
  type: dict
mechanisms:
  description: The mechanisms deployed, in the order they were.
  returned: success
  type: list
  elements: str
  sample: [apparmor, seccomp]
mechanism:
  description: The mechanism whose step failed.
  returned: failure
  type: str
"""
