#!/usr/bin/python
# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: container_verify
short_description: Verify that running containers are confined as declared (AppArmor, seccomp, privileges)
version_added: 0.1.0
author: confine.docker contributors (@confine)
description:
  - Checks each container in O(containers) from two sides and reports one result per container and check.
  - Docker's side (C(docker inspect)) - the AppArmor profile in C(HostConfig.SecurityOpt) and C(.AppArmorProfile);
    the seccomp profile in C(SecurityOpt), compared as data with the expected profile file (the Docker CLI reads the
    file and sends its JSON, so the container carries the content, not the path); not privileged;
    C(no-new-privileges); C(CapAdd)/C(CapDrop) as declared.
  - The kernel's side, for the container's main process (C(State.Pid)) - C(/proc/<pid>/attr/apparmor/current)
    (AppArmor's own file, read first, since with LSM stacking it shows AppArmor's label even when another LSM owns
    the shared file) or, on kernels without it, C(/proc/<pid>/attr/current) shows the profile and its mode;
    C(/proc/<pid>/status) shows C(Seccomp) 2 (a filter is applied), C(NoNewPrivs) 1 and a capability bounding set
    (C(CapBnd)) equal to what Docker grants for the declared capabilities.
  - The application still works - each O(containers[].workload) command run with C(docker exec) exits 0; the
    O(containers[].health) probe passes (an HTTP URL fetched from the managed host, or a command in the container);
    when the image has its own C(HEALTHCHECK), Docker reports it C(healthy).
  - No AppArmor C(DENIED) record of the container's profile since O(containers[].denied_since), read from the event
    source of M(confine.docker.security_events) (O(source) - auditd's log and its rotated files, journald, the kernel
    log file or the kernel ring buffer - with the same readers, record parser and cursors).
  - The module only reads. It never changes the host or the containers (workload and health commands run inside
    the containers as declared); C(changed) is always false and check mode runs the same checks.
  - By default a failed check does not fail the task - RV(passed) is false and RV(failed_checks) lists what
    failed - so that a compliance run reports every host; set O(fail_on_mismatch=true) to fail the task instead.
extends_documentation_fragment:
  - confine.docker.attributes.READ_ONLY
options:
  containers:
    description:
      - The containers to verify and what is expected of each.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name (or ID) of the container.
        type: str
        required: true
      apparmor:
        description:
          - Name of the AppArmor profile the container must run under, or null to skip the AppArmor checks.
          - Where the kernel has no AppArmor, the kernel-side check reports C(not available) and fails.
        type: str
      apparmor_mode:
        description: Mode the kernel must show for the profile.
        type: str
        choices: [enforce, complain]
        default: enforce
      seccomp:
        description:
          - Path on the managed host of the seccomp profile file the container must have been started with
            (C(--security-opt seccomp=<path>)); the file's JSON and the container's must be equal as data.
          - C(docker-default) expects no per-container profile, that is Docker's built-in default (or the daemon's
            C(seccomp-profile)).
          - Null skips the seccomp checks.
        type: str
      no_new_privileges:
        description:
          - Require C(no-new-privileges), both in Docker's configuration (C(SecurityOpt), or set daemon-wide) and
            in the kernel (C(NoNewPrivs) 1). False skips these checks.
        type: bool
        default: true
      privileged:
        description: Whether the container may run C(--privileged). When false a privileged container fails.
        type: bool
        default: false
      capabilities:
        description:
          - The capabilities declared for the container, as given to C(--cap-add) and C(--cap-drop). Names are
            compared without case and without the C(CAP_) prefix. Omit to skip the comparison with Docker's
            configuration; the kernel's bounding set is then compared with what Docker was configured to grant.
        type: dict
        suboptions:
          add:
            description: Capabilities added to Docker's default set.
            type: list
            elements: str
            default: []
          drop:
            description: Capabilities dropped from Docker's default set.
            type: list
            elements: str
            default: []
      workload:
        description:
          - Commands run in the container with C(docker exec); each must exit 0.
          - A command is a list of arguments, or a string split into words the way a shell does it. No shell is
            run; use a list such as C([sh, -c, '...']) for shell syntax.
        type: list
        elements: raw
        default: []
      health:
        description:
          - The application's health check. C(url) is fetched from the managed host (a 2xx or 3xx answer passes,
            or one of the codes in C(status)); C(command) runs in the container with C(docker exec) and must exit 0.
        type: dict
        suboptions:
          url:
            description: HTTP or HTTPS URL to fetch.
            type: str
          command:
            description: Command to run in the container (list, or string split into words).
            type: raw
          status:
            description: HTTP status codes that pass, instead of any 2xx or 3xx.
            type: list
            elements: int
      denied_since:
        description:
          - Count AppArmor C(DENIED) records of the profile in O(containers[].apparmor) (and its child profiles)
            logged at or after this point; any record fails the check. Null skips the check.
          - An RFC 3339 timestamp (C(2026-01-01T12:00:00Z), as in C(docker inspect)), seconds since the epoch, or
            C(container_start) for the container's C(State.StartedAt).
          - Or a RV(confine.docker.security_events#module:cursor) (any of its sources - audit, journal, kern, dmesg,
            file); the records logged after it are read from the source that made it, following log rotation as
            M(confine.docker.security_events) does. With O(source) other than V(auto) the cursor must come from that
            source.
          - Or a files cursor of earlier releases (a dict with C(files), a list of C(path), C(offset) and optionally
            C(dev) and C(inode), no C(version)). An entry with an inode follows log rotation - each file of its
            rotation set (C(<path>), C(<path>.1), ...) known to the cursor by inode is read from its offset, a file
            the cursor does not know (written since) is read whole. An entry without an inode is read from its
            offset in that one file.
        type: raw
  fail_on_mismatch:
    description: Fail the task when any check fails (the results are still returned).
    type: bool
    default: false
  timeout:
    description: Seconds allowed to each workload command, health command and health URL.
    type: int
    default: 30
  health_wait:
    description:
      - Seconds to wait for a container's own health check (C(HEALTHCHECK), C(healthcheck)) while Docker still
        reports it C(starting) - a container just recreated has had no probe yet, the first one comes after the
        check's interval. The check passes only at C(healthy); V(0) judges the status as it is.
    type: int
    default: 120
  validate_certs:
    description: Verify TLS certificates of HTTPS health URLs.
    type: bool
    default: true
  source:
    description:
      - Where AppArmor C(DENIED) records are read, as in M(confine.docker.security_events). V(audit) is auditd's
        log (O(paths) or C(/var/log/audit/audit.log)) with its rotated files; V(journal) runs C(journalctl); V(kern)
        is C(/var/log/kern.log), C(syslog) or C(messages) (or O(paths)) with rotations; V(dmesg) reads C(/dev/kmsg)
        (or the first of O(paths)); V(file) reads exactly O(paths).
      - V(auto) picks auditd's log when auditd runs, else journald, else a syslog file, else the ring buffer; with a
        cursor as O(containers[].denied_since) it reads the source that made the cursor.
      - A source that cannot be read fails the C(denied) check, not the task.
    type: str
    choices: [auto, audit, journal, kern, dmesg, file]
    default: auto
  paths:
    description:
      - Log files of O(source) instead of its default location. Required with O(source=file); with O(source=auto)
        and a cursor of source C(file) they default to the cursor's files.
    type: list
    elements: path
    default: []
  log_paths:
    description:
      - More log files searched for AppArmor C(DENIED) records when O(containers[].denied_since) is a time, in
        addition to O(source), each with its rotated files (C(<path>.1), C(<path>.2), ...), in any format
        M(confine.docker.security_events) reads. Files that do not exist are skipped. A record found in several
        places counts once.
    type: list
    elements: path
    default: []
  dmesg:
    description:
      - Also search the kernel ring buffer (C(/dev/kmsg)) when O(containers[].denied_since) is a time and O(source)
        is not already V(dmesg). A ring buffer that cannot be read is reported as a warning.
    type: bool
    default: false
  docker_cli:
    description: The docker command-line client used for C(docker inspect) and C(docker exec).
    type: str
    default: docker
notes:
  - Runs on the Docker host. Root (or membership of the C(docker) group plus read access to the logs and to
    C(/proc/<pid>)) is needed.
  - C(--privileged) containers get every capability and no AppArmor confinement; the C(privileged) check catches them.
  - Workload and health commands run inside the container under its confinement; they are expected to be harmless
    (they are the application's own checks).
seealso:
  - name: Docker security options
    description: C(--security-opt) for AppArmor, seccomp and C(no-new-privileges).
    link: https://docs.docker.com/reference/cli/docker/container/run/#security-opt
  - module: confine.docker.apparmor_profile
"""

EXAMPLES = r"""
- name: Verify the demo container after enforcement
  confine.docker.container_verify:
    containers:
      - name: demo
        apparmor: confine-demo
        seccomp: /etc/docker/seccomp/confine-demo.json
        capabilities:
          add: []
          drop: []
        workload:
          - /usr/local/bin/demo-workload
        health:
          url: http://127.0.0.1:8080/
        denied_since: container_start
  register: verify

- name: Show what failed
  ansible.builtin.debug:
    var: verify.failed_checks
  when: not verify.passed

- name: Seccomp-only host, fail the task on any mismatch
  confine.docker.container_verify:
    containers:
      - name: web
        seccomp: docker-default
        capabilities:
          add: [NET_ADMIN]
    fail_on_mismatch: true
"""

RETURN = r"""
passed:
  description: True when every check of every container passed.
  returned: always
  type: bool
  sample: false
failed_checks:
  description: The checks that failed, each as the container's name, a colon and the check's name.
  returned: always
  type: list
  elements: str
  sample: ["web: seccomp_kernel", "web: no_new_privileges"]
results:
  description: One entry per container, in the order of O(containers).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The container.
      type: str
      sample: demo
    passed:
      description: True when every check of this container passed.
      type: bool
      sample: true
    checks:
      description:
        - The checks that applied, each with C(check) (C(exists), C(running), C(apparmor), C(apparmor_kernel),
          C(seccomp), C(seccomp_kernel), C(privileged), C(no_new_privileges), C(no_new_privileges_kernel),
          C(capabilities), C(capabilities_kernel), C(workload[N]), C(health), C(docker_health), C(denied)),
          C(passed), C(expected), C(actual) and C(detail).
        - Checks of options set to null are left out; kernel-side checks need a running container.
      type: list
      elements: dict
      sample:
        - check: seccomp_kernel
          passed: false
          expected: 2 (filter)
          actual: 0 (disabled)
          detail: no seccomp filter is applied to the container's process
"""

import json
import time
from urllib.error import HTTPError

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

from ansible_collections.confine.docker.plugins.module_utils._events import EventsError
from ansible_collections.confine.docker.plugins.module_utils._sources import SOURCES
from ansible_collections.confine.docker.plugins.module_utils._verify import (
    DeniedCollector,
    VerifyError,
    choose_source,
    denied_events,
    evaluate,
    health_starting,
    parse_time,
    read_apparmor_label,
    read_denied,
    summarize,
    validate_expected,
)


def _read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


class Verifier:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.docker = None
        self.timeout_bin = None
        self._auto_source = None
        self._seccomp = {}

    def run(self):
        if self.params["source"] == "file" and not self.params["paths"]:
            raise VerifyError("source 'file' needs paths")
        expected = [validate_expected(c, self.params["source"]) for c in self.params["containers"]]
        names = [c["name"] for c in expected]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise VerifyError("containers names a container more than once: %s" % ", ".join(duplicates))
        self.docker = self.module.get_bin_path(self.params["docker_cli"], required=True)
        self.timeout_bin = self.module.get_bin_path("timeout")
        results = [evaluate(exp, self.gather(exp)) for exp in expected]
        passed, failed = summarize(results)
        return {"changed": False, "passed": passed, "failed_checks": failed, "results": results}

    # -- facts --------------------------------------------------------------------------------------------------

    def gather(self, exp):
        facts = {}
        inspect, error = self.inspect(exp["name"])
        deadline = time.monotonic() + max(0, self.params["health_wait"])
        while inspect is not None and health_starting(inspect) and time.monotonic() < deadline:
            time.sleep(1)
            inspect, error = self.inspect(exp["name"])
        facts["inspect"], facts["inspect_error"] = inspect, error
        if inspect is None:
            return facts
        state = inspect.get("State") or {}
        running = state.get("Running") is True and not state.get("Paused") and state.get("Pid")
        if running:
            pid = state["Pid"]
            facts["status_text"] = _read("/proc/%d/status" % pid)
            facts["attr_text"], facts["attr_file"] = read_apparmor_label(pid, _read)
        if exp["seccomp"] not in (None, "docker-default"):
            facts["seccomp_profile"], facts["seccomp_error"] = self.seccomp_file(exp["seccomp"])
        if running:
            facts["workload"] = [self.exec_in(exp["name"], argv) for argv in exp["workload"]]
            health = exp["health"]
            if health is not None:
                if "url" in health:
                    facts["health"] = self.fetch(health["url"])
                else:
                    facts["health"] = self.exec_in(exp["name"], health["command"])
        if exp["denied_since"] is not None:
            facts["denied"] = self.denied(exp["apparmor"], exp["denied_since"], state.get("StartedAt"))
        return facts

    def inspect(self, name):
        rc, out, err = self.module.run_command([self.docker, "inspect", "--type", "container", name])
        if rc != 0:
            return None, (err or out).strip() or "docker inspect %s exited %d" % (name, rc)
        try:
            data = json.loads(out)
        except ValueError as exc:
            raise VerifyError("docker inspect %s returned no JSON: %s" % (name, exc)) from exc
        if not data:
            return None, "no such container: %s" % name
        return data[0], None

    def seccomp_file(self, path):
        if path not in self._seccomp:
            try:
                with open(path, encoding="utf-8") as handle:
                    self._seccomp[path] = (json.load(handle), None)
            except OSError as exc:
                self._seccomp[path] = (None, "%s cannot be read: %s" % (path, exc.strerror or exc))
            except ValueError as exc:
                self._seccomp[path] = (None, "%s is not JSON: %s" % (path, exc))
        return self._seccomp[path]

    def exec_in(self, name, argv):
        cmd = [self.docker, "exec", name, *argv]
        if self.timeout_bin:
            cmd = [self.timeout_bin, str(self.params["timeout"]), *cmd]
        rc, out, err = self.module.run_command(cmd)
        if rc == 124 and self.timeout_bin:
            err = "timed out after %ss. %s" % (self.params["timeout"], err)
        return {"rc": rc, "stdout": out, "stderr": err}

    def fetch(self, url):
        try:
            response = open_url(
                url,
                timeout=self.params["timeout"],
                validate_certs=self.params["validate_certs"],
                follow_redirects="all",
            )
            return {"status": response.getcode()}
        except HTTPError as exc:
            return {"status": exc.code}
        except Exception as exc:  # every failure of the probe (refused, timeout, TLS, bad URL) fails the check
            return {"status": None, "error": str(getattr(exc, "reason", None) or exc)}

    # -- AppArmor DENIED records -------------------------------------------------------------------------------

    def source_for(self, since):
        """The source a container's records after ``since`` are read from (``auto`` is resolved once)."""
        if isinstance(since, dict) or self.params["source"] != "auto":
            return choose_source(self.params["source"], since, self.module.run_command)
        if self._auto_source is None:
            self._auto_source = choose_source(
                "auto", None, self.module.run_command,
                auditctl=bool(self.module.get_bin_path("auditctl")),
                journalctl=bool(self.module.get_bin_path("journalctl")),
            )
        return self._auto_source

    def denied(self, profile, since, started_at):
        cursor = since if isinstance(since, dict) else None
        if since == "container_start":
            if not started_at:
                raise VerifyError("denied_since=container_start but docker inspect shows no State.StartedAt")
            since = started_at
        source = self.source_for(since)
        collector = DeniedCollector([profile], None if cursor is not None else parse_time(since))
        label = "the cursor" if cursor is not None else since
        try:
            places, notes = read_denied(
                collector, source, self.module.run_command, since=cursor, paths=self.params["paths"],
                also_paths=self.params["log_paths"], dmesg=self.params["dmesg"],
            )
        except (EventsError, OSError) as exc:
            return {"events": [], "source": source, "since": label, "error": str(exc)}
        for note in notes:
            self.module.warn(note)
        result = collector.result()
        where = "%s (%s)" % (source, ", ".join(places)) if places and places != [source] else source
        return {
            "events": denied_events(result, profile),
            "source": where,
            "since": label,
            # Only after a cursor is every notice of dropped records known to fall in the span searched.
            "lost": [entry["kind"] for entry in result["lost"]] if cursor is not None else [],
        }


def main():
    module = AnsibleModule(
        argument_spec={
            "containers": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "name": {"type": "str", "required": True},
                    "apparmor": {"type": "str"},
                    "apparmor_mode": {"type": "str", "choices": ["enforce", "complain"], "default": "enforce"},
                    "seccomp": {"type": "str"},
                    "no_new_privileges": {"type": "bool", "default": True},
                    "privileged": {"type": "bool", "default": False},
                    "capabilities": {
                        "type": "dict",
                        "options": {
                            "add": {"type": "list", "elements": "str", "default": []},
                            "drop": {"type": "list", "elements": "str", "default": []},
                        },
                    },
                    "workload": {"type": "list", "elements": "raw", "default": []},
                    "health": {
                        "type": "dict",
                        "options": {
                            "url": {"type": "str"},
                            "command": {"type": "raw"},
                            "status": {"type": "list", "elements": "int"},
                        },
                        "mutually_exclusive": [["url", "command"]],
                        "required_one_of": [["url", "command"]],
                    },
                    "denied_since": {"type": "raw"},
                },
            },
            "fail_on_mismatch": {"type": "bool", "default": False},
            "timeout": {"type": "int", "default": 30},
            "health_wait": {"type": "int", "default": 120},
            "validate_certs": {"type": "bool", "default": True},
            "source": {"type": "str", "default": "auto", "choices": list(SOURCES)},
            "paths": {"type": "list", "elements": "path", "default": []},
            "log_paths": {"type": "list", "elements": "path", "default": []},
            "dmesg": {"type": "bool", "default": False},
            "docker_cli": {"type": "str", "default": "docker"},
        },
        supports_check_mode=True,
    )
    try:
        result = Verifier(module).run()
    except (VerifyError, OSError) as exc:
        module.fail_json(msg=str(exc))
    if module.params["fail_on_mismatch"] and not result["passed"]:
        module.fail_json(msg="verification failed: %s" % "; ".join(result["failed_checks"]), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
