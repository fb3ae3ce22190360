#!/usr/bin/python
# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: apparmor_profile
short_description: Generate, validate, install, load and switch the mode of an AppArmor profile for containers
version_added: 0.1.0
author: confine.docker contributors (@confine)
description:
  - Installs an AppArmor profile for containers (used with C(docker run --security-opt apparmor=<name>)) from raw
    text (O(content)), a file on the controller (O(src)) or a O(spec) rendered on the controller with a Jinja2
    template. bane's TOML files are accepted as O(src) (name ending in C(.toml)) or as a O(spec) string.
  - Before anything is installed the profile is compiled with C(apparmor_parser -QK) (no kernel needed). A syntax
    error fails the task with the parser's message and line; the installed file and the loaded policy are left as
    they were.
  - The compiled text must declare exactly one profile, O(name) (and its child profiles or hats), as
    C(apparmor_parser -N) lists them; text that declares another profile as well is refused before anything is
    written, since loading it would replace that profile too (for example Docker's own C(docker-default)).
  - With O(load=true) the profile is loaded or replaced with C(apparmor_parser -r -W). A mode change sets or clears
    the C(complain) flag in the file and reloads it, so containers that already run under the profile switch mode
    without a restart.
  - Idempotent against the real state, the file's content and the mode the kernel reports in
    C(/sys/kernel/security/apparmor/profiles).
  - A host whose kernel has no AppArmor fails with a message saying so, unless O(load=false) (the file is then
    installed and validated only).
  - The generated profile lets the container read every file and write or execute only the paths the spec names;
    on top of that it carries the protections of Docker's C(docker-default) profile (no mount, no writes to C(/proc)
    and C(/sys) internals, ptrace only within the profile, C(flags=(attach_disconnected,mediate_deleted))). Signals
    come only from the container itself, the host's unconfined processes and the container runtime (C(runc),
    C(crun)), so C(docker stop), C(docker kill) and C(docker restart) work; other confined processes cannot signal
    the container.
  - The generated profile declares the policy ABI of the target (O(abi)), so its rules mean the same with AppArmor 3
    (Debian 12, ABI 3.0) and AppArmor 4 (Debian 13, ABI 4.0) whatever the parser's configuration pins.
  - The spec's denials (O(spec.filesystem.read_only_paths), O(spec.filesystem.deny_exec),
    O(spec.filesystem.deny_paths)) are C(audit deny) rules; in enforce mode they deny and log C(apparmor="DENIED"),
    in complain mode the access goes through and C(apparmor="ALLOWED") is logged. The C(docker-default) protections
    are plain C(deny) rules, which hold (unlogged) in complain mode too.
extends_documentation_fragment:
  - confine.docker.attributes
options:
  name:
    description:
      - Name of the profile, as used in C(--security-opt apparmor=<name>).
      - Letters, digits, C(_), C(.) and C(-), starting with a letter or digit; no C(/), C(..), spaces, line breaks
        or shell characters.
      - The names of the host's own profiles (C(docker-default), C(unconfined), C(runc), C(crun), ...) are refused.
      - May be left out when O(spec) names the profile (bane files give C(docker-<Name>), as bane does).
      - With O(content) or O(src) the text must declare a top-level profile of this name.
    type: str
  content:
    description:
      - The profile text, installed as it is (apart from the C(complain) flag that O(mode) controls).
      - Mutually exclusive with O(src) and O(spec).
      - With none of O(content), O(src) or O(spec), the installed file is kept and only O(mode) is applied.
    type: str
  src:
    description:
      - Path of a profile file on the controller (searched like C(copy)'s O(src)); installed as it is.
      - A name ending in C(.toml) is read as a bane TOML file and rendered like O(spec).
      - Mutually exclusive with O(content) and O(spec).
    type: path
  spec:
    description:
      - A profile spec, rendered on the controller. A string is read as bane TOML; a mapping with bane's keys
        (C(Name), C(Filesystem), C(Capabilities), C(Network)) is accepted too.
      - Mutually exclusive with O(content) and O(src).
    type: raw
    suboptions:
      name:
        description: Profile name; must equal O(name) when both are given.
        type: str
      filesystem:
        description:
          - File rules. Paths are AppArmor patterns (C(*), C(**), C(?), C([...]), C({a,b}), C(@{PROC})); a character
            a pattern cannot hold literally is written as a backslash escape (C(\\*)) or an octal byte (C(\\040)
            for a space).
        type: dict
        suboptions:
          read_only_paths:
            description: Paths that may not be written or linked (C(audit deny PATH wl)).
            type: list
            elements: str
          log_on_write_paths:
            description: Paths that may be written, each write logged (C(audit PATH w)).
            type: list
            elements: str
          writable_paths:
            description: Paths that may be read and written (C(PATH rwk)).
            type: list
            elements: str
          allow_exec:
            description: Executables the container may run (C(PATH mrix)).
            type: list
            elements: str
          deny_exec:
            description: Executables that may not be run, read or written (C(audit deny PATH mrwklx)).
            type: list
            elements: str
          deny_paths:
            description: Paths with no access at all (C(audit deny PATH mrwklx)).
            type: list
            elements: str
          files:
            description:
              - Exact file rules, C(PATH PERMS,) with optional C(audit), C(deny) and C(owner) qualifiers
                (what widening adds).
            type: list
            elements: dict
            suboptions:
              path:
                description: Absolute path or glob.
                type: str
                required: true
              perms:
                description: AppArmor file permissions, for example C(r), C(rw), C(rwk), C(mrix).
                type: str
                required: true
              audit:
                description: Log every access.
                type: bool
                default: false
              deny:
                description: Deny instead of allow.
                type: bool
                default: false
              owner:
                description: Apply only to files the process owns.
                type: bool
                default: false
      capabilities:
        description: Capabilities, lowercase without C(CAP_); only those in C(allow) are granted.
        type: dict
        suboptions:
          allow:
            description: Capabilities granted.
            type: list
            elements: str
          deny:
            description: Capabilities denied explicitly (C(deny capability), enforced in complain mode too).
            type: list
            elements: str
      network:
        description: Network access.
        type: dict
        suboptions:
          raw:
            description: Allow raw sockets (ping).
            type: bool
            default: false
          packet:
            description: Allow packet sockets.
            type: bool
            default: false
          protocols:
            description:
              - Restrict the network to these protocols (C(tcp), C(udp), C(icmp), each for IPv4 and IPv6), socket
                types or address families (C(unix), C(netlink), ...). Empty allows every protocol.
            type: list
            elements: str
      extra_rules:
        description:
          - Raw rule lines (signal, ptrace, unix, ...) added verbatim; each ends with C(,).
          - A line stays inside the profile (it may not close a block it did not open) and may include only
            abstractions from the policy directory (C(#include <abstractions/...>)), never an absolute host path.
        type: list
        elements: str
  abi:
    description:
      - The policy ABI a profile rendered from O(spec) (or bane TOML) declares (C(abi <abi/4.0>,)).
      - C(auto) takes the target's ABI from the C(confine_apparmor_host) fact of M(confine.docker.apparmor_facts),
        which runs on the target when the host does not have the fact yet. That is the ABI the target's
        C(abstractions/base) declares, or else the newest one in C(/etc/apparmor.d/abi/) the template is written
        for; none for parsers older than AppArmor 3.
      - C(none) declares none (and uses the C(#include) syntax of older parsers).
      - Ignored for O(content) and O(src) profiles, whose text is installed as written.
    type: str
    choices: [auto, none, "3.0", "4.0"]
    default: auto
  path:
    description: Where the profile file goes. Defaults to C(/etc/apparmor.d/containers/<name>).
    type: path
  mode:
    description:
      - C(enforce) denies what the profile does not allow; C(complain) allows it and logs C(apparmor="ALLOWED").
      - Set by the C(complain) flag in the profile header.
    type: str
    choices: [enforce, complain]
    default: enforce
  state:
    description: C(absent) unloads the profile (C(apparmor_parser -R)) and deletes the file.
    type: str
    choices: [present, absent]
    default: present
  load:
    description:
      - Load the profile into the kernel (and unload it for O(state=absent)).
      - With V(false) the file is only validated and installed; the kernel is neither read nor changed.
    type: bool
    default: true
  backup:
    description: Keep a copy of the previous file (C(<path>.<pid>.<timestamp>~)) when it changes or is removed.
    type: bool
    default: false
notes:
  - The C(apparmor_parser) binary must be installed on the target (Debian package C(apparmor)); the generated
    profile includes C(tunables/global) and C(abstractions/base) from C(/etc/apparmor.d).
  - Proven with AppArmor 3.0 (Debian 12, Docker 20.10) and AppArmor 4.1 (Debian 13, Docker 26.1).
  - Rendering O(spec) and reading bane TOML happen on the controller and need Jinja2 and Python 3.11 there.
seealso:
  - module: confine.docker.apparmor_facts
  - name: bane
    description: The AppArmor profile generator for Docker containers whose TOML format O(spec) mirrors.
    link: https://github.com/genuinetools/bane
"""

EXAMPLES = r"""
- name: Install a generated profile in complain mode
  confine.docker.apparmor_profile:
    name: nginx-app
    mode: complain
    spec:
      filesystem:
        read_only_paths: [/etc/**]
        writable_paths: [/tmp/**, /var/cache/nginx/**, /run/nginx.pid]
        allow_exec: [/usr/sbin/nginx]
        deny_exec: [/bin/sh, /bin/dash]
      capabilities:
        allow: [chown, setuid, setgid, net_bind_service, dac_override]
      network:
        protocols: [tcp, unix]

- name: Switch it to enforce; running containers follow without a restart
  confine.docker.apparmor_profile:
    name: nginx-app
    mode: enforce

- name: Install a profile from bane's TOML (named docker-nginx, as bane names it)
  confine.docker.apparmor_profile:
    src: files/nginx.toml

- name: Install hand-written profile text, on a host without AppArmor only validate and install it
  confine.docker.apparmor_profile:
    name: my-app
    src: files/my-app.apparmor
    load: false

- name: Remove a profile
  confine.docker.apparmor_profile:
    name: nginx-app
    state: absent
"""

RETURN = r"""
name:
  description: The profile name.
  returned: always
  type: str
  sample: nginx-app
path:
  description: The profile file.
  returned: always
  type: str
  sample: /etc/apparmor.d/containers/nginx-app
mode:
  description: The mode the profile has after the task (as the kernel reports it when O(load=true)), or null.
  returned: always
  type: str
  sample: complain
previous_mode:
  description: The mode the kernel reported before the task (null when the profile was not loaded or not read).
  returned: always
  type: str
  sample: enforce
abi:
  description: The policy ABI the installed profile text declares (null when it declares none).
  returned: when O(state=present)
  type: str
  sample: "4.0"
profiles:
  description: Every profile name the file declares (from C(apparmor_parser -N)).
  returned: when O(state=present)
  type: list
  elements: str
  sample: [nginx-app]
loaded:
  description: Whether the kernel has the profile loaded after the task (null when O(load=false)).
  returned: always
  type: bool
backup_file:
  description: The backup made of the previous file.
  returned: when O(backup=true) and a file was changed or removed
  type: str
  sample: /etc/apparmor.d/containers/nginx-app.1234.2026-01-01@10:00:00~
parser_line:
  description: The line of the profile the parser complained about.
  returned: when the parser refused the profile and named a line
  type: int
  sample: 12
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.confine.docker.plugins.module_utils._apparmor import (
    AppArmorError,
    NotEnabledError,
    Parser,
    ParserError,
    ProfileError,
    apparmor_enabled,
    declared_abi,
    default_path,
    loaded_profiles,
    set_mode,
    unload_by_name,
    validate_name,
)
from ansible_collections.confine.docker.plugins.module_utils._io import (
    WriteError,
    atomic_write,
    backup_file,
    read_text,
    remove_file,
    write_with_backup,
)


def _diff(path, name, before_text, after_text, before_mode, after_mode):
    diffs = [
        {
            "before_header": path if before_text is not None else "%s (absent)" % path,
            "after_header": path if after_text is not None else "%s (absent)" % path,
            "before": before_text or "",
            "after": after_text or "",
        }
    ]
    if before_mode != after_mode:
        diffs.append(
            {
                "before_header": "kernel: profile %s" % name,
                "after_header": "kernel: profile %s" % name,
                "before": "%s\n" % (before_mode or "not loaded"),
                "after": "%s\n" % (after_mode or "not loaded"),
            }
        )
    return diffs


class Runner:
    """Reads the state, computes the desired state and acts on it; every domain error ends in ``fail``."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.result = {"changed": False}

    def parser(self):
        binary = self.module.get_bin_path("apparmor_parser", required=True, opt_dirs=["/sbin", "/usr/sbin"])

        def run(argv):
            return self.module.run_command(argv)

        return Parser(binary, run)

    def run(self):
        params = self.params
        if not params["name"]:
            raise ProfileError("name is required (it may come from a spec that names the profile)")
        name = validate_name(params["name"])
        path = params["path"] or default_path(name)
        load = params["load"]
        self.result.update(name=name, path=path, mode=None, previous_mode=None, loaded=None)

        if load:
            enabled, reason = apparmor_enabled()
            if not enabled:
                raise NotEnabledError(
                    "AppArmor is not available on this host: %s. Set load=false to only validate and install the "
                    "profile file." % reason
                )
        current_text = read_text(path)
        kernel_mode = loaded_profiles().get(name) if load else None
        self.result["previous_mode"] = kernel_mode

        if params["state"] == "absent":
            self.absent(name, path, current_text, kernel_mode)
        else:
            self.present(name, path, current_text, kernel_mode)
        return self.result

    def present(self, name, path, current_text, kernel_mode):
        params = self.params
        load = params["load"]
        mode = params["mode"]
        source = params["content"]
        if source is None:
            if current_text is None:
                raise ProfileError("%s does not exist; give content, src or spec to install profile %s" % (path, name))
            source = current_text
        desired = set_mode(source, name, mode)
        parser = self.parser()
        profiles = parser.compile_check(desired, display=path)
        self.result["profiles"] = profiles
        self.result["abi"] = declared_abi(desired)
        others = [found for found in profiles if found != name and not found.startswith(name + "//")]
        if name not in profiles or others:
            raise ProfileError(
                "the profile text must declare exactly one profile, %s (and its children), but declares %s: loading "
                "it would %s" % (name, ", ".join(profiles) or "none",
                                 "replace %s as well" % ", ".join(others) if others else "not load %s" % name)
            )

        file_changed = desired != current_text
        kernel_changed = load and (file_changed or kernel_mode != mode)
        changed = file_changed or kernel_changed
        self.result["changed"] = changed
        self.result["mode"] = mode if load else None
        self.result["loaded"] = True if load else None
        if self.module._diff:
            self.result["diff"] = _diff(
                path, name, current_text, desired, kernel_mode if load else None, mode if load else None
            )
        if not changed or self.module.check_mode:
            return

        if file_changed:
            backup = write_with_backup(path, desired, backup=params["backup"] and current_text is not None,
                                       mode=0o644, dir_mode=0o755)
            if backup:
                self.result["backup_file"] = backup
        if load:
            try:
                parser.load(path)
            except ParserError as exc:
                if file_changed:
                    try:
                        self._restore(path, current_text)
                    except WriteError as failed:
                        raise AppArmorError("apparmor_parser refused to load %s (%s), and the previous file could "
                                            "not be put back: %s" % (path, exc, failed)) from None
                raise
            reported = loaded_profiles().get(name)
            self.result["mode"] = reported
            if reported != mode:
                raise AppArmorError(
                    "after loading %s the kernel reports profile %s in mode %s, not %s" % (path, name, reported, mode)
                )

    def _restore(self, path, text):
        if text is None:
            remove_file(path)
        else:
            atomic_write(path, text)

    def absent(self, name, path, current_text, kernel_mode):
        load = self.params["load"]
        changed = current_text is not None or kernel_mode is not None
        self.result["changed"] = changed
        self.result["loaded"] = False if load else None
        if self.module._diff:
            self.result["diff"] = _diff(path, name, current_text, None, kernel_mode, None)
        if not changed or self.module.check_mode:
            return
        if kernel_mode is not None:
            if current_text is not None and os.path.isfile(path):
                self.parser().remove(path)
            if name in loaded_profiles():
                unload_by_name(name)
        if current_text is not None:
            if self.params["backup"]:
                self.result["backup_file"] = backup_file(path)
            remove_file(path)


def main():
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str"},
            "content": {"type": "str"},
            "src": {"type": "path"},
            "spec": {"type": "raw"},
            "path": {"type": "path"},
            "mode": {"type": "str", "choices": ["enforce", "complain"], "default": "enforce"},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "load": {"type": "bool", "default": True},
            "backup": {"type": "bool", "default": False},
            "abi": {"type": "str", "choices": ["auto", "none", "3.0", "4.0"], "default": "auto"},
        },
        mutually_exclusive=[("content", "src", "spec")],
        supports_check_mode=True,
    )
    if module.params["src"] is not None or module.params["spec"] is not None:
        module.fail_json(
            msg="src and spec are resolved on the controller by the confine.docker.apparmor_profile action plugin; "
            "run the module through it (as a task), not on its own"
        )
    runner = Runner(module)
    try:
        result = runner.run()
    except ParserError as exc:
        extra = {"parser_line": exc.line} if exc.line is not None else {}
        module.fail_json(msg="apparmor_parser refused the profile: %s" % exc, **dict(runner.result, **extra))
    except (AppArmorError, WriteError, OSError) as exc:
        module.fail_json(msg=str(exc), **runner.result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
