#!/usr/bin/python
# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: profile_widen
short_description: Widen an AppArmor or seccomp profile from collected events, behind a guard, with a review report
version_added: 0.1.0
author: confine.docker contributors (@confine)
description:
  - Produces the next version of a profile from the events a complain/log-mode trial collected
    (M(confine.docker.security_events)).
  - "AppArmor (O(kind=apparmor)): file accesses become path rules with the masks seen, generalised the way
    aa-logprof suggests (C(/proc/3101/status) becomes C(@{PROC}/@{pid}/status), C(worker-17.log) becomes
    C(worker-[0-9]*.log), C(/tmp/tmpk3v9x_2q) becomes C(/tmp/tmp*)); capability, network, signal, ptrace and mount
    events become rules. The profile is a spec (the dict the C(confine.docker.apparmor_profile) module renders; the
    result is the next spec, with paths added to C(filesystem.files) and C(filesystem.allow_exec), capabilities to
    C(capabilities.allow), network families to C(network.protocols), other rules to C(extra_rules)) or profile
    text (rules are inserted before the closing brace of the named profile)."
  - With O(kind=seccomp) the observed syscalls join the profile's unconditional C(SCMP_ACT_ALLOW) rule.
  - A guard refuses what an attacker wants and legitimate applications rarely need - the syscalls Docker's default
    profile blocks (C(mount), C(unshare), C(setns), C(kexec_load), C(init_module), C(bpf), C(keyctl), C(ptrace),
    C(reboot), ...), writes under C(/proc/sys) and C(/sys), credential and persistence files (C(/etc/shadow),
    C(/etc/sudoers), cron, SSH keys), the Docker socket, mount, raw and packet sockets, C(sys_admin),
    C(sys_module), C(sys_ptrace) and similar capabilities, ptrace of and signals to other profiles, and exec of
    shells and network relays. Refused items are reported with their reason; listing an item's key (or rule) in
    O(approve) admits it.
  - Accesses the profile already allows are not added again, so widening twice with the same events changes
    nothing. Accesses a spec explicitly denies (C(read_only_paths), C(deny_paths), C(capabilities.deny), the
    template's mount denial) are reported as conflicts, since no allow rule overrides an AppArmor deny.
  - RV(report) is a Markdown review of what was added and what was refused and why.
extends_documentation_fragment:
  - confine.docker.attributes
options:
  kind:
    description: Which kind of profile to widen.
    type: str
    choices: [apparmor, seccomp]
    required: true
  profile:
    description:
      - The current version, inline. For AppArmor a spec (a dict) or profile text (a string); for seccomp a Docker
        seccomp profile (a dict or JSON text).
      - Exactly one of O(profile) and O(src) is required, unless O(opaque).
    type: raw
  src:
    description:
      - File on the target holding the current version (JSON spec or profile text for AppArmor, JSON for seccomp).
    type: path
  name:
    description:
      - The profile to widen in AppArmor profile text that declares several; the label of a seccomp report.
      - Required with O(opaque) - the profile whose events are reviewed.
    type: str
  opaque:
    description:
      - With O(kind=apparmor), the profile O(name) is one that must not be widened - the profile file or text of a
        container entry's C(apparmor.src) or C(apparmor.content) seed, installed as written. Its rules are not
        known, so no new rule can be judged against them (an exec of a file the profile lets the container write,
        say). Nothing is added and nothing is written, and every rule the events call for is refused (C(category)
        C(seed), or C(guard) when the guard refuses it anyway), O(approve) included; the report says why.
      - Excludes O(profile), O(src) and O(dest). RV(profile) is null and RV(format) C(opaque).
    type: bool
    default: false
  events:
    description:
      - The events, as registered from M(confine.docker.security_events) (the whole result or its C(apparmor) or
        C(seccomp) list).
      - AppArmor events of other profiles are ignored.
    type: raw
    required: true
  approve:
    description:
      - Items the guard refused that should be admitted, by key (a path, C(capability sys_admin),
        C(network inet raw), a syscall name) or by rule, as RV(refused) lists them.
    type: list
    elements: str
    default: []
  containers:
    description:
      - With O(kind=seccomp), only widen with events attributed to these containers.
    type: list
    elements: str
    default: []
  dest:
    description:
      - Write the new version here (canonical JSON for specs and seccomp profiles, text for profile text). Without
        it the new version is only returned in RV(profile), and the task reports C(changed=false).
      - Only a version that adds something is written; when the events add nothing, O(dest) is neither created nor
        changed.
      - May be the same file as O(src).
    type: path
  backup:
    description:
      - Keep a copy of O(dest) before it is replaced; its path is returned in RV(backup_file).
    type: bool
    default: false
  validate:
    description:
      - Compile widened AppArmor profile text with C(apparmor_parser -QK) before writing it, when the parser is
        installed. Specs are validated by the collection's spec validator in any case.
    type: bool
    default: true
  baseline:
    description:
      - What the container would run under without the collection, to tell which refused items change nothing
        (the C(baseline) of each RV(refused) item). V(docker_default) is Docker's C(docker-default) AppArmor
        profile, or Docker's default seccomp profile of the engine on the target (or of O(engine)) for the
        container's capabilities; V(none) classifies nothing.
      - A refused item the baseline blocks too is enforced as refused without changing what the container had; the
        others are listed in RV(blockers) and need an approval (or stay denied).
    type: str
    choices: [docker_default, none]
    default: docker_default
  engine:
    description:
      - With O(kind=seccomp) and O(baseline=docker_default), the Docker Engine version whose default profile is the
        baseline. Without it the engine on the target is asked; when none answers, nothing is classified.
    type: str
  capabilities:
    description:
      - With O(kind=seccomp), the capabilities the container is given on top of Docker's default set (its
        C(--cap-add)), for the baseline's conditional rules.
    type: list
    elements: str
    default: []
  cap_drop:
    description:
      - With O(kind=seccomp), the capabilities the container drops (its C(--cap-drop), C(ALL) included).
    type: list
    elements: str
    default: []
notes:
  - The module does not load anything into the kernel; C(confine.docker.apparmor_profile) and
    C(confine.docker.seccomp_profile) install the new version, and a rollback restores the previous one.
seealso:
  - module: confine.docker.security_events
  - module: confine.docker.apparmor_profile
"""

EXAMPLES = r"""
- name: Collect what the trial logged
  confine.docker.security_events:
    since: "{{ trial_start.cursor }}"
    containers: [web]
  register: trial

- name: Widen the AppArmor spec of the web container
  confine.docker.profile_widen:
    kind: apparmor
    profile: "{{ lookup('file', 'apparmor/web.yml') | from_yaml }}"
    events: "{{ trial }}"
    approve:
      - capability net_admin
  register: widened

- name: Keep the review next to the playbook
  ansible.builtin.copy:
    content: "{{ widened.report }}"
    dest: reviews/web-apparmor.md
  delegate_to: localhost

- name: Widen the seccomp profile in place
  confine.docker.profile_widen:
    kind: seccomp
    src: /etc/docker/seccomp/web.json
    dest: /etc/docker/seccomp/web.json
    events: "{{ trial }}"
    containers: [web]
    backup: true
"""

RETURN = r"""
profile:
  description: The new version (spec dict, profile text, or seccomp profile dict).
  returned: always
  type: raw
  sample: {defaultAction: SCMP_ACT_LOG, syscalls: [{action: SCMP_ACT_ALLOW, names: [clone3, read, write]}]}
format:
  description: C(spec), C(text), C(seccomp) or, with O(opaque), C(opaque).
  returned: always
  type: str
  sample: spec
added:
  description:
    - What was added, one item per rule, with the events behind it (C(count), C(examples) of the paths seen,
      C(comm), C(first_seen), C(last_seen)) and C(approved) when O(approve) admitted it.
  returned: always
  type: list
  elements: dict
  sample:
    - {type: file, key: "/var/log/app/worker-[0-9]*.log", rule: "/var/log/app/worker-[0-9]*.log w,", count: 4,
       examples: [/var/log/app/worker-17.log], comm: [python3]}
blockers:
  description:
    - The keys of the refused items that the baseline does not block (or whose baseline is not known). They need
      an approval before enforcement, or they stay denied.
  returned: always
  type: list
  elements: str
  sample: [/etc/nginx/conf.d/default.conf]
refused:
  description:
    - What was not added and why. C(category) is C(guard) (a possible attack, or a need for approval),
      C(conflict) (the profile denies it explicitly), C(malformed) (not a record the kernel writes),
      C(unsupported) (no rule is generated; review by hand) or C(seed) (with O(opaque), the profile is never widened).
      C(key) is what O(approve) takes. C(baseline) is C(blocks) when the baseline denies it too, C(allows), or
      C(unknown).
  returned: always
  type: list
  elements: dict
  sample:
    - {type: file, key: /etc/shadow, rule: "/etc/shadow w,", category: guard, count: 1, comm: [python3],
       reason: "/etc/shadow w: password hashes"}
report:
  description: A Markdown review of the widening.
  returned: always
  type: str
dest:
  description: Where the new version was (or in check mode would be) written.
  returned: when the task changed O(dest)
  type: str
backup_file:
  description: Path of the backup of the old O(dest).
  returned: when O(backup=true) and O(dest) was changed
  type: str
"""

import json

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.confine.docker.plugins.module_utils._apparmor import AppArmorError, Parser
from ansible_collections.confine.docker.plugins.module_utils._io import (
    WriteError,
    read_text,
    write_with_backup,
)
from ansible_collections.confine.docker.plugins.module_utils._seccomp import (
    SeccompError,
    canonical_json,
    docker_default_profile,
)
from ansible_collections.confine.docker.plugins.module_utils._seccomp_docker import EngineError, read_engine_version
from ansible_collections.confine.docker.plugins.module_utils._widen import WidenError, container_caps, widen


def load_current(module):
    params = module.params
    if params["src"] is None:
        return params["profile"]
    text = read_text(params["src"])
    if text is None:
        raise WidenError("src %s does not exist" % params["src"])
    if params["kind"] == "seccomp" or text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise WidenError("src %s is not valid JSON: %s" % (params["src"], exc)) from exc
    return text


def seccomp_baseline(module):
    """Docker's default seccomp profile of O(engine) or of the target's engine; None (with a warning) without one."""
    version = module.params["engine"]
    if version is None:
        try:
            version = read_engine_version()
        except EngineError as exc:
            module.warn("no seccomp baseline: %s; every refused syscall is listed as a blocker" % exc)
            return None
    try:
        return docker_default_profile(version)
    except SeccompError as exc:
        raise WidenError("engine: %s" % exc) from exc


def render(result):
    if result["format"] == "text":
        return result["profile"]
    if result["format"] == "seccomp":
        return canonical_json(result["profile"])
    return json.dumps(result["profile"], indent=2, sort_keys=True) + "\n"


def check_opaque(params):
    if params["kind"] != "apparmor":
        raise WidenError("opaque: only an AppArmor profile can be opaque")
    given = [key for key in ("profile", "src", "dest") if params[key] is not None]
    if given:
        raise WidenError("opaque: a profile that is never widened has no %s" % " or ".join(given))
    if not params["name"]:
        raise WidenError("opaque: name (the profile whose events are reviewed) is required")


def run(module):
    params = module.params
    if params["opaque"]:
        check_opaque(params)
    elif params["profile"] is None and params["src"] is None:
        raise WidenError("one of the following is required: profile, src (or opaque)")
    current = None if params["opaque"] else load_current(module)
    if isinstance(current, str) and params["kind"] == "seccomp":
        try:
            current = json.loads(current)
        except ValueError as exc:
            raise WidenError("the seccomp profile is not valid JSON: %s" % exc) from exc
    baseline, caps = None, None
    if params["baseline"] == "docker_default":
        baseline = "docker_default"
        if params["kind"] == "seccomp":
            baseline = seccomp_baseline(module)
            caps = container_caps(params["capabilities"], params["cap_drop"])
    result = widen(params["kind"], current, params["events"], approve=params["approve"], name=params["name"],
                   containers=params["containers"] or None, baseline=baseline, caps=caps, opaque=params["opaque"])
    out = {key: result[key] for key in ("profile", "format", "added", "refused", "blockers", "report")}
    out["changed"] = False
    if params["opaque"]:
        return out
    new_text = render(result)
    if result["format"] == "text" and params["validate"] and result["added"]:
        binary = module.get_bin_path("apparmor_parser")
        if binary:
            Parser(binary=binary, run=module.run_command).compile_check(
                new_text, display=params["dest"] or params["src"] or "profile")
    dest = params["dest"]
    # Nothing added: there is no new version, so nothing is written (not even a copy of the current one at dest).
    if dest is None or not result["added"]:
        return out
    old_text = read_text(dest)
    if old_text == new_text:
        return out
    out["changed"] = True
    out["dest"] = dest
    if module._diff:
        out["diff"] = {"before": old_text or "", "after": new_text, "before_header": dest, "after_header": dest}
    if module.check_mode:
        return out
    backup = write_with_backup(dest, new_text, backup=params["backup"] and old_text is not None,
                               mode=None if old_text is not None else 0o644)
    if backup:
        out["backup_file"] = backup
    return out


def main():
    module = AnsibleModule(
        argument_spec={
            "kind": {"type": "str", "required": True, "choices": ["apparmor", "seccomp"]},
            "profile": {"type": "raw"},
            "src": {"type": "path"},
            "name": {"type": "str"},
            "events": {"type": "raw", "required": True},
            "approve": {"type": "list", "elements": "str", "default": []},
            "containers": {"type": "list", "elements": "str", "default": []},
            "dest": {"type": "path"},
            "backup": {"type": "bool", "default": False},
            "validate": {"type": "bool", "default": True},
            "opaque": {"type": "bool", "default": False},
            "baseline": {"type": "str", "default": "docker_default", "choices": ["docker_default", "none"]},
            "engine": {"type": "str"},
            "capabilities": {"type": "list", "elements": "str", "default": []},
            "cap_drop": {"type": "list", "elements": "str", "default": []},
        },
        mutually_exclusive=[("profile", "src")],
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except (WidenError, AppArmorError, WriteError, OSError) as exc:
        module.fail_json(msg=str(exc), dest=module.params["dest"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
