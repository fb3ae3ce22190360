#!/usr/bin/python
# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: seccomp_profile
short_description: Generate, validate and install Docker seccomp profiles
version_added: 0.1.0
author: confine.docker contributors (@confine)
description:
  - Writes a Docker seccomp profile (the JSON file given to C(docker run --security-opt seccomp=FILE) or to the
    daemon's C(seccomp-profile) setting), or removes one.
  - The profile is either given as O(content) or generated from a O(base) (Docker's built-in default profile, an
    empty allow-list, or an existing profile file such as one recorded by oci-seccomp-bpf-hook) with a O(mode)
    (C(enforce) or the C(log) trial) and O(allow)/O(deny) lists on top.
  - Docker's default profile is the one of the Docker Engine on the target (Engine 20.10 to 29.x), which the module
    asks for its version, or the one of O(engine).
  - Every profile is validated before anything is written - Docker's JSON format in full, every C(SCMP_ACT_*)
    action, conflicting actions for one syscall, and with O(validate=true) every syscall name is looked up with the
    host's libseccomp on the architectures the profile lists. Errors name the JSON path (C(syscalls[3].action)) and,
    for text that does not parse, the line and column. A refused profile changes nothing.
  - The file is written in one canonical form (sorted keys, two-space indent), atomically, so a second run with the
    same arguments is byte-identical and reports no change.
  - Returns the profile, the size of its effective allow-list for a container with O(caps) on this host's
    architecture and kernel (Docker applies C(includes)/C(excludes) the same way), and warnings about weak profiles.
extends_documentation_fragment:
  - confine.docker.attributes
options:
  name:
    description:
      - Profile name; the file is C(/etc/docker/seccomp/<name>.json).
      - Exactly one of O(name) and O(path) is required.
    type: str
  path:
    description:
      - Full path of the profile file.
    type: path
  state:
    description:
      - V(present) writes the profile, V(absent) removes the file.
    type: str
    choices: [present, absent]
    default: present
  content:
    description:
      - The whole profile, as a dict or as JSON text, in Docker's format.
      - Mutually exclusive with O(base), O(mode), O(allow), O(deny) and O(drop_groups).
    type: raw
  base:
    description:
      - What a generated profile starts from when O(content) is not given.
      - V(docker_default) is Docker's built-in default profile of the engine on the target (or of O(engine)), with its
        capability-, architecture- and kernel-gated rules.
      - V(empty) is an empty allow-list; with O(allow) it is a pure allow-list.
      - V(runtime_minimum) is the allow-list every container needs to start (what runc and the C library call
        before the application runs); with O(allow) set to the syscalls the application was observed to use it is a
        least-privilege profile. Unless O(allow) or O(deny) names it, C(clone3) is answered with C(ENOSYS) as
        Docker's default does, so that the C library falls back to C(clone).
      - Any other value is the path, on the target, of an existing profile file (for example one recorded by
        oci-seccomp-bpf-hook); its C(defaultAction) is kept unless O(mode) is given.
      - Defaults to V(docker_default) when O(content) is not given.
    type: str
  mode:
    description:
      - V(enforce) - C(defaultAction SCMP_ACT_ERRNO) with C(EPERM), so every syscall not allowed fails with
        "Operation not permitted".
      - V(log) - the trial - C(defaultAction SCMP_ACT_LOG) and rules that would block are turned into
        C(SCMP_ACT_LOG). Nothing is blocked; the kernel logs (C(type=1326)) every call enforce would refuse.
      - Not set keeps the default action of a profile-file O(base); for the named bases it means V(enforce).
      - This is the profile's mode; the file's permissions are O(file_mode).
    type: str
    choices: [enforce, log]
  allow:
    description:
      - Syscalls to allow unconditionally on top of the base.
    type: list
    elements: str
    default: []
  deny:
    description:
      - Syscalls taken out of every allow rule of the base (so they get the default action). When the default
        action lets calls run (C(SCMP_ACT_ALLOW)), they are blocked with C(EPERM) explicitly.
    type: list
    elements: str
    default: []
  drop_groups:
    description:
      - With O(base=docker_default), groups of Docker's default to leave out, for example V(io_uring), V(sysv_ipc),
        V(mqueue), V(aio), V(xattr), V(network) or a capability group such as V(cap_sys_admin). An unknown name fails
        and lists the groups.
      - Every group of any engine is accepted on every engine; one an engine does not have or has emptied (V(io_uring)
        from Docker 25.0 on) leaves nothing out.
    type: list
    elements: str
    default: []
  engine:
    description:
      - With O(base=docker_default), the Docker Engine version whose default profile to start from, for example
        V(26.1) or V(26.1.5) (distribution suffixes such as V(26.1.5+dfsg1) are fine). Needed to generate a profile
        on a host where no engine runs, for example on the controller for other hosts.
      - Without it the module asks the engine on the target (C(GET /version) on C(unix:///var/run/docker.sock), or
        on C($DOCKER_HOST) when that is a C(unix://) socket) and fails, saying so, when none answers.
      - A version without a patch level means the newest patch release of that line; where Docker changed its
        default within a line (20.10, 23.0, 25.0, 29.4) the task warns and the full version picks an earlier one.
      - An engine newer than the newest one described gets that one's profile and a warning; an engine older than
        20.10 fails.
    type: str
  validate:
    description:
      - Look every syscall name up with the host's libseccomp (C(libseccomp.so.2)). A name that is not a syscall on
        any architecture the profile lists fails the task.
      - Without libseccomp on the host the task fails with a clear message; set V(false) to skip only this check.
        The format and action checks always run.
    type: bool
    default: true
  force:
    description:
      - Deploy a profile that cannot start a container. Without it, a profile that blocks a call of the runtime
        minimum (the calls runc and the C library make before the program's first instruction, such as C(execve),
        C(futex), C(exit_group) and C(mmap)) for the container's O(caps) fails the task, naming the calls, and
        nothing is written.
    type: bool
    default: false
  caps:
    description:
      - Capabilities of the container used to compute RV(effective). Defaults to the capabilities Docker gives a
        container.
    type: list
    elements: str
  backup:
    description:
      - Keep a copy of the old file (C(<path>.<pid>.<timestamp>~)) before it is replaced or removed.
    type: bool
    default: false
  owner:
    description:
      - Owner of the profile file.
    type: str
  group:
    description:
      - Group of the profile file.
    type: str
  file_mode:
    description:
      - Permissions of the profile file (octal string such as V('0644') or symbolic).
    type: raw
    default: "0644"
notes:
  - Docker reads a profile when a container starts; running containers keep the filter they started with.
  - Log mode records reach auditd (C(type=SECCOMP)) or, without auditd, the kernel log (C(audit type=1326)), where
    the kernel rate-limits them.
  - Docker's default of each engine is described as Engine 20.10.24's plus the changes of later releases
    (io_uring removed in 25.0, the calls of newer kernels added in 23.0.10/25.0.3 and 28.2, AF_VSOCK and later
    AF_ALG sockets refused); the collection's tests compare it with Moby's published profiles and, syscall by
    syscall, with a running engine.
  - Syscalls Docker's default allows but the target's libseccomp does not know (for example C(listmount) with
    libseccomp 2.5) are accepted with a warning; a runtime built with that libseccomp skips them.
seealso:
  - name: Seccomp security profiles for Docker
    description: Docker's seccomp documentation and the profile format.
    link: https://docs.docker.com/engine/security/seccomp/
"""

EXAMPLES = r"""
- name: Trial profile - the default profile of the Docker Engine on the host in log mode, nothing blocked
  confine.docker.seccomp_profile:
    name: web-trial
    base: docker_default
    mode: log

- name: Docker 26.1's default profile, written on the controller for hosts that run Docker 26.1
  confine.docker.seccomp_profile:
    path: "{{ playbook_dir }}/files/seccomp/web.json"
    base: docker_default
    engine: "26.1"
  delegate_to: localhost

- name: Enforce Docker's default without the groups the application does not use, and without mkdir
  confine.docker.seccomp_profile:
    name: web
    base: docker_default
    mode: enforce
    drop_groups: [io_uring, sysv_ipc, mqueue, aio]
    deny: [mkdir, mkdirat]
    backup: true
  register: web_profile

- name: Least privilege - what every container needs plus what the application was seen to call
  confine.docker.seccomp_profile:
    name: worker
    base: runtime_minimum
    allow: "{{ observed_syscalls }}"

- name: Pure allow-list from a recording by oci-seccomp-bpf-hook, plus two calls seen later
  confine.docker.seccomp_profile:
    path: /etc/docker/seccomp/worker.json
    base: /var/lib/confine/recorded/worker.json
    mode: enforce
    allow: [getrandom, statx]

- name: Install a profile given in full
  confine.docker.seccomp_profile:
    name: minimal
    content:
      defaultAction: SCMP_ACT_ERRNO
      defaultErrnoRet: 1
      architectures: [SCMP_ARCH_X86_64]
      syscalls:
        - names: [read, write, exit_group]
          action: SCMP_ACT_ALLOW

- name: Remove a profile
  confine.docker.seccomp_profile:
    name: web-trial
    state: absent
"""

RETURN = r"""
path:
  description: Path of the profile file.
  returned: always
  type: str
  sample: /etc/docker/seccomp/web.json
profile:
  description: The profile as written (or, in check mode, as it would be written), in canonical form.
  returned: when O(state=present)
  type: dict
  sample: {defaultAction: SCMP_ACT_ERRNO, defaultErrnoRet: 1, syscalls: [{names: [read, write],
           action: SCMP_ACT_ALLOW}]}
allow_count:
  description: Number of syscalls the profile allows unconditionally for a container with O(caps) on this host.
  returned: when O(state=present)
  type: int
  sample: 350
effective:
  description:
    - The effective policy for a container with O(caps) on this host's architecture and kernel, as counts, with the
      inputs used.
  returned: when O(state=present)
  type: dict
  contains:
    default:
      description: The default action.
      type: str
    allow:
      description: Syscalls allowed unconditionally.
      type: int
    errno:
      description: Syscalls refused with an errno by a rule.
      type: int
    log:
      description: Syscalls logged and allowed by a rule.
      type: int
    kill:
      description: Syscalls that kill the thread or process.
      type: int
    conditional:
      description: Syscalls whose outcome depends on argument values.
      type: int
    architectures:
      description: The architectures the runtime loads the filter for.
      type: list
      elements: str
    arch:
      description: Native architecture used.
      type: str
    kernel:
      description: Kernel release used for C(minKernel).
      type: str
    caps:
      description: Capabilities used.
      type: list
      elements: str
  sample: {default: SCMP_ACT_ERRNO, allow: 350, errno: 1, log: 0, kill: 0, conditional: 2, arch: amd64,
           kernel: 6.1.0-18-amd64, architectures: [SCMP_ARCH_X86_64, SCMP_ARCH_X86, SCMP_ARCH_X32], caps: []}
weaknesses:
  description: Warnings about the profile (also shown as task warnings), for example a default-allow profile that
    blocks only a few calls, or dangerous calls allowed unconditionally.
  returned: when O(state=present)
  type: list
  elements: str
  sample: ["defaultAction SCMP_ACT_LOG blocks nothing: use it for the trial run only and switch to mode enforce"]
engine:
  description: The Docker Engine whose default profile O(base=docker_default) started from.
  returned: when O(state=present) and O(base=docker_default)
  type: dict
  contains:
    version:
      description: The engine version, as the engine reported it or as O(engine) gave it.
      type: str
    source:
      description: V(host) when the engine on the target was asked, V(option) when O(engine) gave it.
      type: str
    described:
      description: The version whose described default profile was used (the newest described one for a newer
        engine; C(25.0) stands for the newest 25.0 patch release).
      type: str
    changes:
      description: The releases whose changes to Engine 20.10.24's default profile the profile has.
      type: list
      elements: str
  sample: {version: 26.1.5+dfsg1, source: host, described: 26.1.5, changes: ["23.0.0", "25.0.0", "25.0.3"]}
backup_file:
  description: Path of the backup copy of the old file.
  returned: when O(backup=true) and the file was changed or removed
  type: str
  sample: /etc/docker/seccomp/web.json.4242.2026-01-01@00:00:00~
"""

import os
import platform

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.confine.docker.plugins.module_utils._io import (
    WriteError,
    backup_file,
    read_text,
    remove_file,
    write_with_backup,
)
from ansible_collections.confine.docker.plugins.module_utils._seccomp import (
    BASES,
    DEFAULT_DIR,
    SeccompError,
    canonical_json,
    effective_policy,
    engine_description,
    generate,
    libseccomp_gaps,
    missing_runtime_minimum,
    native_arch_name,
    parse_profile,
    weakness_warnings,
)
from ansible_collections.confine.docker.plugins.module_utils._seccomp_docker import (
    DEFAULT_CAPS,
    EngineError,
    read_engine_version,
)

NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
GENERATION_OPTIONS = ("base", "mode", "allow", "deny", "drop_groups", "engine")


def profile_path(name, path):
    if path:
        return path
    if not name or name.startswith(".") or not set(name) <= NAME_CHARS:
        raise SeccompError("name must be letters, digits, '_', '.' or '-' and not start with '.', got %r" % name,
                           "name")
    return os.path.join(DEFAULT_DIR, name + ".json")


def engine_for(params):
    """The Docker default profile description the task starts from: O(engine), else the target's engine."""
    if params["engine"] is not None:
        version, source = params["engine"], "option"
    else:
        try:
            version, source = read_engine_version(), "host"
        except EngineError as exc:
            raise SeccompError(str(exc), "engine") from exc
    description = engine_description(version)
    info = {"version": version, "source": source, "described": description.version,
            "changes": list(description.changes)}
    return description, info


def desired_profile(params):
    """The validated profile the task asks for, and the engine it follows (None unless base is docker_default)."""
    check = params["validate"]
    if params["content"] is not None:
        given = [key for key in GENERATION_OPTIONS if params[key]]
        if given:
            raise SeccompError("content is the whole profile; it cannot be combined with %s" % ", ".join(given))
        return parse_profile(params["content"], check_names=check), None, None
    base = params["base"] or "docker_default"
    if params["engine"] is not None and base != "docker_default":
        raise SeccompError("engine only applies to base docker_default", "engine")
    description = info = None
    if base == "docker_default":
        description, info = engine_for(params)
    if base not in BASES:
        text = read_text(base)
        if text is None:
            raise SeccompError("base profile %s does not exist on the target" % base, "base")
        try:
            base = parse_profile(text, check_names=False)
        except SeccompError as exc:
            raise SeccompError("base profile %s is not valid: %s" % (params["base"], exc), "base") from exc
    profile = generate(
        base, mode=params["mode"], allow=params["allow"], deny=params["deny"], drop_groups=params["drop_groups"],
        engine=description,
    )
    return parse_profile(profile, check_names=check), description, info


def summary(profile, caps, description=None):
    arch = native_arch_name()
    kernel = platform.release()
    policy = effective_policy(profile, caps, arch, kernel)
    effective = {key: len(policy[key]) for key in ("allow", "errno", "log", "kill", "conditional")}
    effective.update(default=policy["default"], architectures=policy["architectures"], arch=arch, kernel=kernel,
                     caps=sorted(caps))
    return effective, weakness_warnings(profile, caps, arch, kernel, engine=description)


def set_attributes(module, path, changed):
    """Apply owner, group and file_mode; in check mode only report whether they differ."""
    params = module.params
    changed = module.set_owner_if_different(path, params["owner"], changed)
    changed = module.set_group_if_different(path, params["group"], changed)
    return module.set_mode_if_different(path, params["file_mode"], changed)


def run(module):
    params = module.params
    path = profile_path(params["name"], params["path"])
    result = {"changed": False, "path": path}
    current = read_text(path)

    if params["state"] == "absent":
        if current is None:
            return result
        result["changed"] = True
        if module._diff:
            result["diff"] = {"before": current, "after": "", "before_header": path,
                              "after_header": "%s (absent)" % path}
        if not module.check_mode:
            if params["backup"]:
                result["backup_file"] = backup_file(path)
            remove_file(path)
        return result

    profile, description, engine = desired_profile(params)
    caps = params["caps"] if params["caps"] is not None else list(DEFAULT_CAPS)
    effective, warnings = summary(profile, caps, description)
    missing = missing_runtime_minimum(profile, caps, native_arch_name())
    if missing and not params["force"]:
        raise SeccompError("the profile cannot start a container: it blocks %s, which runc and the C library call "
                           "before the program's first instruction; allow them (or set force: true to deploy it "
                           "anyway)" % ", ".join(missing))
    if missing:
        module.warn("%s: the profile blocks %s: containers will not start under it" % (path, ", ".join(missing)))
    text = canonical_json(profile)
    result.update(profile=profile, allow_count=effective["allow"], effective=effective, weaknesses=warnings)
    if engine is not None:
        result["engine"] = engine
        for warning in description.warnings:
            module.warn("%s: %s" % (path, warning))
    if params["validate"]:
        gaps = libseccomp_gaps(profile)
        if gaps:
            module.warn("%s: libseccomp on this host does not know %s (Docker's default profile of a newer engine "
                        "allows them): a runtime built with it skips these rules and the calls stay refused"
                        % (path, ", ".join(gaps)))
    for warning in warnings:
        module.warn("%s: %s" % (path, warning))

    content_changed = text != current
    if content_changed:
        result["changed"] = True
        if module._diff:
            result["diff"] = {"before": current or "", "after": text,
                              "before_header": path if current is not None else "%s (absent)" % path,
                              "after_header": path}
        if not module.check_mode:
            def validate(tmp):
                with open(tmp, encoding="utf-8") as handle:
                    parse_profile(handle.read(), check_names=params["validate"])

            backup = write_with_backup(path, text, backup=params["backup"] and current is not None,
                                       mode=0o644 if current is None else None, validate=validate)
            if backup:
                result["backup_file"] = backup
    if content_changed and module.check_mode:
        return result
    if os.path.exists(path):
        result["changed"] = set_attributes(module, path, result["changed"])
    return result


def main():
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str"},
            "path": {"type": "path"},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "content": {"type": "raw"},
            "base": {"type": "str"},
            "mode": {"type": "str", "choices": ["enforce", "log"]},
            "allow": {"type": "list", "elements": "str", "default": []},
            "deny": {"type": "list", "elements": "str", "default": []},
            "drop_groups": {"type": "list", "elements": "str", "default": []},
            "engine": {"type": "str"},
            "validate": {"type": "bool", "default": True},
            "force": {"type": "bool", "default": False},
            "caps": {"type": "list", "elements": "str"},
            "backup": {"type": "bool", "default": False},
            "owner": {"type": "str"},
            "group": {"type": "str"},
            "file_mode": {"type": "raw", "default": "0644"},
        },
        mutually_exclusive=[("name", "path"), ("content", "base")],
        required_one_of=[("name", "path")],
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except (SeccompError, WriteError, OSError) as exc:
        extra = {}
        if isinstance(exc, SeccompError):
            extra = {"json_path": exc.path, "line": exc.line, "column": exc.column}
        module.fail_json(msg=str(exc), **extra)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
