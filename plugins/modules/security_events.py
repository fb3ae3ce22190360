#!/usr/bin/python
# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: security_events
short_description: Collect AppArmor and seccomp audit records, incrementally, de-duplicated and attributed
version_added: 0.1.0
author: confine.docker contributors (@confine)
description:
  - Reads the AppArmor (C(apparmor="ALLOWED"), C(DENIED), C(AUDIT)) and seccomp (C(type=1326)/C(type=SECCOMP))
    records a host logged, for the collect step of a complain/log-mode trial.
  - Sources are auditd's log and its rotated files, journald (kernel and audit transports), kern.log/syslog and the
    kernel ring buffer (C(/dev/kmsg)); O(source=auto) picks auditd's log when auditd runs, else journald, else a
    syslog file, else the ring buffer.
  - AppArmor records are parsed by AppArmor's own libapparmor (Python module C(LibAppArmor), Debian package
    C(python3-libapparmor)) when the target has it, and by the module's pure-Python parser otherwise or for records
    libapparmor does not understand; both give the same events.
  - Seccomp records get their syscall name for the record's architecture from the target's libseccomp, and the
    action from the record's C(code).
  - Events are de-duplicated with a count and first/last seen times. The same record read twice (journald keeps the
    kernel and the audit copy) is counted once.
  - The module returns a RV(cursor). Passing it as O(since) in the next call reads only what was logged since; the
    cursor follows log rotation (renamed, compressed or copy-truncated files) and a line still being written is left
    for the next call, so nothing is counted twice.
  - RV(lost) reports when the kernel, auditd, journald or the syslog daemon dropped records (rate limits,
    "callbacks suppressed", a full backlog, an overrun ring buffer); a trial that lost records is incomplete.
  - "Only the kernel's own records are events. A line is one only when the line itself is the record: auditd's
    C(type=AVC) or C(type=SECCOMP) at the start of the line (after an optional C(node=)), the kernel's
    C(audit: type=1400) or C(audit: type=1326) message in a kernel log line, journal entries of the kernel or audit
    transport with a kernel record type and facility. Text inside a user-space message (C(USER_AVC),
    C(UNKNOWN[...]), C(msg='...'), a process's own journal or syslog lines) is never an event; such look-alikes are
    counted in RV(suspicious). A process with C(CAP_AUDIT_WRITE) can send user-space audit messages that name any
    profile."
  - With O(dest) the events are kept in a file (the collect stage's C(events.v<N>.json)); that is the only thing the
    module writes.
extends_documentation_fragment:
  - confine.docker.attributes
options:
  source:
    description:
      - Where to read. V(audit) is auditd's log (O(paths) or C(/var/log/audit/audit.log)) with its rotated files;
        V(journal) runs C(journalctl); V(kern) is C(/var/log/kern.log), C(syslog) or C(messages) (or O(paths)) with
        rotations; V(dmesg) reads C(/dev/kmsg) (or the first of O(paths)); V(file) reads exactly O(paths) (audit,
        kernel-log, C(journalctl -o json) or C(-o export) text).
    type: str
    choices: [auto, audit, journal, kern, dmesg, file]
    default: auto
  paths:
    description:
      - Log files to read instead of the source's default location. Required with O(source=file).
    type: list
    elements: path
    default: []
  since:
    description:
      - A RV(cursor) returned by an earlier call with the same source; only records logged after it are read.
      - Omit it to read everything the source still holds.
    type: dict
  profiles:
    description:
      - Keep only AppArmor events of these profiles (and seccomp events of processes confined by them).
    type: list
    elements: str
    default: []
  containers:
    description:
      - Keep only events attributed to these containers (names, or the first 12 characters of their ids).
      - AppArmor events are attributed by profile (a running container using the profile, else the collection's
        C(confine-<container>) naming); seccomp events by the process's cgroup, its AppArmor label, or
        O(trial_window).
    type: list
    elements: str
    default: []
  trial_window:
    description:
      - Attributes C(SCMP_ACT_LOG) seccomp records that nothing else attributes, logged between O(trial_window.start)
        and O(trial_window.end), to O(trial_window.container) (the one container running in log mode).
    type: dict
    suboptions:
      container:
        description: The container in log mode during the window.
        type: str
        required: true
      start:
        description: Start of the window, in seconds since the epoch.
        type: float
      end:
        description: End of the window, in seconds since the epoch.
        type: float
  profile_prefix:
    description:
      - Profiles named C(<profile_prefix><container>) are attributed to that container.
    type: str
    default: confine-
  use_libapparmor:
    description:
      - Parse AppArmor records with libapparmor when the target has it. V(false) uses the pure-Python parser only.
    type: bool
    default: true
  resolve_containers:
    description:
      - Ask the Docker CLI (C(docker inspect)) for the running containers' ids, names and AppArmor profiles to
        attribute events. Without Docker the module still works and attributes by profile name.
    type: bool
    default: true
  dest:
    description:
      - Keep RV(apparmor), RV(seccomp), RV(lost), RV(suspicious) and RV(cursor) in this JSON file, written
        atomically (a temporary file beside it, renamed over it) when its content differs, and the task reports a
        change.
      - A write that fails (a full disk, a read-only file system, a directory that cannot be written) fails the
        module with the file and the cause, and leaves the old file as it was.
    type: path
  dest_mode:
    description: Permissions of O(dest) (octal, as a string).
    type: str
    default: "0640"
notes:
  - Reading C(/var/log/audit), C(/dev/kmsg) and the system journal needs root (C(become=true)).
  - Without auditd, seccomp C(SCMP_ACT_LOG) records reach the kernel log rate-limited (RV(lost) then reports
    C(printk-ratelimit)); run auditd during a trial to keep every record.
seealso:
  - module: confine.docker.profile_widen
  - name: AppArmor log format
    description: The fields of AppArmor audit records.
    link: https://gitlab.com/apparmor/apparmor/-/wikis/AppArmor_Failures
"""

EXAMPLES = r"""
- name: Start the trial from what is logged from now on
  confine.docker.security_events:
    containers: [web]
  register: before

- name: Collect what the trial logged
  confine.docker.security_events:
    since: "{{ before.cursor }}"
    containers: [web]
  register: trial

- name: A trial that lost records cannot be trusted
  ansible.builtin.assert:
    that: trial.lost | length == 0
    fail_msg: "{{ trial.lost | map(attribute='message') | list }}"

- name: Analyse a copy of an audit log on the controller
  confine.docker.security_events:
    source: file
    paths: [/srv/evidence/audit.log]
    profiles: [confine-web]
  delegate_to: localhost
"""

RETURN = r"""
source:
  description: The source that was read (what O(source=auto) chose).
  returned: always
  type: str
  sample: audit
apparmor:
  description:
    - AppArmor events, one per distinct access. Keys that do not apply to an event are null.
    - C(mode) is the record's verdict (C(ALLOWED) in complain mode, C(DENIED), C(AUDIT)); C(name) the file or mount
      point; C(capability), C(family)/C(sock_type)/C(protocol), C(signal) and C(peer) describe capability, network,
      signal and ptrace accesses; C(target) is an exec's transition; C(comm) lists up to 8 commands seen.
  returned: always
  type: list
  elements: dict
  sample:
    - profile: confine-web
      mode: ALLOWED
      operation: open
      name: /var/lib/app/records.db
      requested_mask: wc
      denied_mask: wc
      container: web
      comm: [python3]
      count: 2
      first_seen: "2023-11-14T22:13:30.001Z"
      last_seen: "2023-11-14T22:13:30.002Z"
seccomp:
  description:
    - Seccomp events, one per distinct syscall, action, command and container. C(syscall) is the name libseccomp
      gives C(nr) on C(arch) (null when unknown); C(action) is decoded from C(code) (C(errno) for SCMP_ACT_ERRNO);
      C(profile) is the process's AppArmor label.
  returned: always
  type: list
  elements: dict
  sample:
    - syscall: mount
      nr: 165
      arch: x86_64
      action: SCMP_ACT_LOG
      errno: null
      code: "0x7ffc0000"
      comm: mount
      exe: /usr/bin/mount
      profile: confine-web
      container: web
      count: 1
      first_seen: "2023-11-14T22:13:34.010Z"
      last_seen: "2023-11-14T22:13:34.010Z"
cursor:
  description: Where this call stopped; pass it as O(since) next time.
  returned: always
  type: dict
  sample:
    version: 1
    source: audit
    files:
      - {path: /var/log/audit/audit.log, dev: 65024, inode: 1234, offset: 81920, head: 0f3a9c2d4b5e6f708192a3b4c5d6e7f8}
    audit_lost: 0
lost:
  description:
    - Notices that records were dropped, by kind (C(printk-ratelimit), C(audit-lost), C(audit-backlog),
      C(audit-rate-limit), C(journal-missed), C(syslog-ratelimit), C(kmsg-overwritten), C(line-too-long));
      C(records) is how many when the notice says so.
  returned: always
  type: list
  elements: dict
  sample:
    - kind: printk-ratelimit
      occurrences: 1
      records: 14
      message: "kauditd_printk_skb: 14 callbacks suppressed"
suspicious:
  description:
    - Lines that look like AppArmor or seccomp records but are not the kernel's (user-space audit messages, journal
      entries of other transports, text inside another record), by kind, with a count, up to three samples and the
      profiles they name. They are never events; a trial that shows some naming its container's profile was
      probably forged from inside the container.
  returned: always
  type: list
  elements: dict
  sample:
    - kind: type=USER_AVC
      count: 2
      samples: ["type=USER_AVC msg=audit(1700000013.500:403): pid=600 uid=0 ... msg='apparmor=\"ALLOWED\" ...'"]
      profiles: [confine-web]
dest:
  description: The file the events were kept in (O(dest)).
  returned: when O(dest) is given
  type: str
  sample: /var/lib/confine/web/events.v1.json
stats:
  description: Records parsed, duplicates dropped, events filtered out, parser used for AppArmor records, lines
    counted as suspicious.
  returned: always
  type: dict
  sample: {records: 12, duplicates: 0, filtered: 3, libapparmor: 9, python: 0, suspicious: 0}
"""

import json

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.confine.docker.plugins.module_utils._events import (
    Attribution,
    Collector,
    EventsError,
    LibAppArmorParser,
    SyscallResolver,
    load_libapparmor,
)
from ansible_collections.confine.docker.plugins.module_utils._io import WriteError, atomic_write, read_text
from ansible_collections.confine.docker.plugins.module_utils._sources import (
    SOURCES,
    auditd_running,
    collect,
    detect_source,
)


def docker_containers(module):
    """``[{"id", "name", "apparmor_profile"}]`` of the containers Docker knows; empty without Docker."""
    docker = module.get_bin_path("docker")
    if not docker:
        return []
    rc, out, _err = module.run_command([docker, "ps", "-aq", "--no-trunc"])
    ids = out.split() if rc == 0 else []
    if not ids:
        return []
    rc, out, _err = module.run_command([docker, "inspect", *ids])
    if rc != 0:
        return []
    try:
        data = json.loads(out)
    except ValueError:
        return []
    return [
        {
            "id": item.get("Id"),
            "name": (item.get("Name") or "").lstrip("/"),
            "apparmor_profile": item.get("AppArmorProfile"),
        }
        for item in data
        if isinstance(item, dict)
    ]


def run(module):
    params = module.params

    auditctl = module.get_bin_path("auditctl")
    audit_on, audit_status = auditd_running(module.run_command) if auditctl else (False, {})
    source = params["source"]
    if source == "auto":
        source = detect_source(auditd=audit_on, journal=None if module.get_bin_path("journalctl") else False)
    lib = load_libapparmor() if params["use_libapparmor"] else None
    resolver = SyscallResolver()
    if not resolver.available:
        module.warn(resolver.error)
    containers = docker_containers(module) if params["resolve_containers"] else []
    attribution = Attribution(
        containers, profile_prefix=params["profile_prefix"], trial=params["trial_window"] or None
    )
    collector = Collector(
        resolver=resolver,
        libapparmor=LibAppArmorParser(lib) if lib is not None else None,
        attribution=attribution,
        profiles=params["profiles"],
        containers=params["containers"],
    )
    cursor, _stats = collect(
        source,
        collector,
        paths=params["paths"],
        since=params["since"],
        run=module.run_command,
        audit_status=audit_status if source == "audit" else None,
    )
    result = collector.result()
    for entry in result["lost"]:
        module.warn("records were dropped (%s): %s" % (entry["kind"], entry["message"]))
    out = dict(changed=False, source=source, cursor=cursor, **result)
    if params["dest"]:
        keep(module, out)
    return out


# What the events file holds: what the review (profile_widen, the state's review inputs) reads back.
KEPT = ("apparmor", "seccomp", "lost", "suspicious", "cursor")


def events_text(result):
    return json.dumps({key: result[key] for key in KEPT}, indent=4, sort_keys=True) + "\n"


def file_mode(value):
    try:
        mode = int(str(value), 8)
    except ValueError:
        raise EventsError("dest_mode %r is not an octal file mode" % (value,)) from None
    if not 0 <= mode <= 0o7777:
        raise EventsError("dest_mode %r is not an octal file mode" % (value,))
    return mode


def keep(module, result):
    """Write the events file ``dest`` when its content differs (not in check mode)."""
    dest = module.params["dest"]
    mode = file_mode(module.params["dest_mode"])
    text = events_text(result)
    old = read_text(dest)
    result["dest"] = dest
    if old == text:
        return
    result["changed"] = True
    if module._diff:
        result["diff"] = {"before": old or "", "after": text, "before_header": dest, "after_header": dest}
    if not module.check_mode:
        atomic_write(dest, text, mode=mode, makedirs=False)


def main():
    module = AnsibleModule(
        argument_spec={
            "source": {"type": "str", "default": "auto", "choices": list(SOURCES)},
            "paths": {"type": "list", "elements": "path", "default": []},
            "since": {"type": "dict"},
            "profiles": {"type": "list", "elements": "str", "default": []},
            "containers": {"type": "list", "elements": "str", "default": []},
            "trial_window": {
                "type": "dict",
                "options": {
                    "container": {"type": "str", "required": True},
                    "start": {"type": "float"},
                    "end": {"type": "float"},
                },
            },
            "profile_prefix": {"type": "str", "default": "confine-"},
            "use_libapparmor": {"type": "bool", "default": True},
            "resolve_containers": {"type": "bool", "default": True},
            "dest": {"type": "path"},
            "dest_mode": {"type": "str", "default": "0640"},
        },
        required_if=[("source", "file", ("paths",))],
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except (EventsError, WriteError, OSError) as exc:
        module.fail_json(msg=str(exc), source=module.params["source"], dest=module.params["dest"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
