"""Round trip of adoption on the host's dockerd: containers created with every kind of option are mapped by
module_utils/_adopt.py and recreated through community.docker.docker_container with other security options; their
``Config`` and ``HostConfig`` are then what they were, the security options aside.

Only containers, a network and a volume named ``adopthelper-*`` are created and removed; none is started.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from conftest import VENV_BIN, run_module

from ansible_collections.confine.docker.plugins.module_utils import _adopt

IMAGE = "confine-lab/base:bookworm"
NET, VOL = "adopthelper-it-net", "adopthelper-it-vol"

# name -> docker create options (before the image) and command
CONTAINERS = {
    "adopthelper-it-full": (
        ["--entrypoint", "/bin/sh", "-e", "A=1", "-e", "B=two words", "--label", "tier=front",
         "-v", "%s:/data" % VOL, "-v", "/tmp:/hosttmp:ro",
         "--mount", "type=tmpfs,destination=/scratch,tmpfs-size=1m",
         "--mount", "type=bind,source=/srv,target=/srv,readonly", "--tmpfs", "/run:rw,size=2m",
         "-p", "127.0.0.1:18080:80", "-p", "18443:443/tcp", "-p", "15353:53/udp", "--expose", "9000",
         "--network", NET, "--network-alias", "web", "--network-alias", "www",
         "--restart", "on-failure:3", "--memory", "256m", "--memory-reservation", "128m", "--memory-swap", "512m",
         "--cpus", "0.5", "--cpu-shares", "512", "--pids-limit", "100", "--shm-size", "32m",
         "--ulimit", "nofile=1024:2048", "--ulimit", "nproc=512", "--sysctl", "net.ipv4.ip_unprivileged_port_start=0",
         "--device", "/dev/null:/dev/xnull:rw", "--log-driver", "json-file", "--log-opt", "max-size=1m",
         "--log-opt", "max-file=2", "--health-cmd", "test -f /tmp/ok", "--health-interval", "30s",
         "--health-timeout", "5s", "--health-retries", "3", "--health-start-period", "1500ms",
         "--user", "1000:1000", "--workdir", "/srv", "--hostname", "webhost", "--domainname", "example.test",
         "--cap-add", "NET_ADMIN", "--cap-drop", "NET_RAW", "--cap-drop", "MKNOD", "--dns", "9.9.9.9",
         "--dns-search", "example.test", "--dns-option", "ndots:2", "--add-host", "db:10.0.0.2",
         "--add-host", "cache:10.0.0.3", "--group-add", "adm", "--group-add", "27", "--stop-signal", "SIGQUIT",
         "--stop-timeout", "20", "--init", "--read-only", "--security-opt", "label=disable",
         "--security-opt", "no-new-privileges", "--security-opt", "seccomp=unconfined"],
        ["-c", "sleep infinity"]),
    "adopthelper-it-minimal": ([], ["sleep", "infinity"]),
    "adopthelper-it-hostns": (["--network", "host", "--pid", "host", "--ipc", "shareable", "--restart",
                               "unless-stopped", "--oom-kill-disable", "--oom-score-adj", "100", "--tty",
                               "--interactive", "--memory", "64m", "--memory-swap", "-1"],
                              ["sleep", "infinity"]),
    "adopthelper-it-bridge": (["--network", "bridge", "-p", "18081:81", "--publish-all", "--expose", "7000",
                               "--uts", "host", "--cgroupns", "private", "--device-cgroup-rule", "c 1:3 rmw",
                               "--cpuset-cpus", "0", "--cpu-period", "100000", "--cpu-quota", "50000",
                               "--blkio-weight", "300", "--label", "only=label"],
                              ["sleep", "infinity"]),
}
SHARER = "adopthelper-it-sharer"


def docker(*args, check=True):
    proc = subprocess.run(["/usr/bin/docker", *args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError("docker %s failed: %s" % (" ".join(args), proc.stderr))
    return proc


def inspect(name):
    return json.loads(docker("inspect", name).stdout)[0]


def cleanup():
    for name in [SHARER, *CONTAINERS]:
        docker("rm", "-f", name, check=False)
    docker("network", "rm", NET, check=False)
    docker("volume", "rm", VOL, check=False)


@pytest.fixture(scope="module")
def created(docker_cli):
    cleanup()
    docker("network", "create", NET)
    docker("volume", "create", VOL)
    try:
        for name, (options, command) in CONTAINERS.items():
            docker("create", "--name", name, *options, IMAGE, *command)
        docker("create", "--name", SHARER, "--network", "container:adopthelper-it-minimal",
               "--ipc", "container:adopthelper-it-hostns", IMAGE, "sleep", "infinity")
        yield
    finally:
        cleanup()


def normalised(data):
    """Config and HostConfig with what Docker derives from the id and the security options taken out."""
    config, host = dict(data["Config"]), dict(data["HostConfig"])
    if config.get("Hostname") == data["Id"][:12]:
        config["Hostname"] = "<id>"
    host.pop("SecurityOpt", None)
    # docker_container writes a bind without a mode as `:rw`, Docker's default.
    host["Binds"] = [bind if bind.count(":") >= 2 else bind + ":rw" for bind in host.get("Binds") or ()] or None
    for section in (config, host):
        for key, value in list(section.items()):
            if isinstance(value, list) and key in ("Env", "CapAdd", "CapDrop"):
                section[key] = sorted(value)
            if value in ([], {}):
                section[key] = None  # the docker CLI sends empty lists where the module sends none
    return {"Config": config, "HostConfig": host}


def with_modes(params):
    volumes = params.get("volumes", [])
    return dict(params, volumes=[v if v.count(":") >= 2 or ":" not in v else v + ":rw" for v in volumes])


def differing(before, after):
    return {"%s.%s" % (section, key): (before[section].get(key), after[section].get(key))
            for section in before for key in set(before[section]) | set(after[section])
            if before[section].get(key) != after[section].get(key)}


def containers_by_id():
    out = docker("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}}").stdout.split("\n")
    return dict(line.split(" ", 1) for line in out if line.strip())


def recreate(params, security_opts):
    args = dict(params, state="present", pull="never", security_opts=[*params.get("security_opts", []),
                                                                      *security_opts],
                comparisons={"security_opts": "strict"})
    return run_module("community.docker.docker_container", args,
                      extra_args=("-e", "ansible_python_interpreter=%s" % os.path.join(VENV_BIN, "python")))


# The sharer first: recreating the containers whose namespaces it shares leaves it sharing with containers that are
# gone (the case below).
@pytest.mark.parametrize("name", [SHARER, *CONTAINERS])
def test_a_container_recreated_from_its_mapping_has_its_configuration(created, name):
    before = inspect(name)
    image = json.loads(docker("image", "inspect", IMAGE).stdout)[0]
    params = _adopt.parameters(before, image, containers_by_id())
    result = recreate(params, ["no-new-privileges", "seccomp=unconfined"])
    assert not result.get("failed"), result.get("msg")
    after = inspect(name)
    assert after["Id"] != before["Id"], "the module did not recreate the container"
    differences = differing(normalised(before), normalised(after))
    assert not differences, differences
    # ... and the mapping of the new one is the same again.
    assert with_modes(_adopt.parameters(after, image, containers_by_id())) == with_modes(params)
    # The runbook's security options are the new ones; the others were carried over.
    kept = [opt for opt in before["HostConfig"]["SecurityOpt"] or () if opt.startswith(("label", "systempaths"))]
    assert sorted(after["HostConfig"]["SecurityOpt"]) == sorted({*kept, "no-new-privileges", "seccomp=unconfined"})


def test_a_container_sharing_a_namespace_with_one_that_is_gone_is_refused_before_anything_changes(created):
    target, orphan = "adopthelper-it-target", "adopthelper-it-orphan"
    try:
        docker("create", "--name", target, IMAGE, "sleep", "infinity")
        docker("create", "--name", orphan, "--network", "container:%s" % target, IMAGE, "sleep", "infinity")
        # A shared namespace resolves to the target's name while it exists ...
        assert _adopt.parameters(inspect(orphan), None, containers_by_id())["network_mode"] == "container:" + target
        docker("rm", target)
        data = inspect(orphan)
        with pytest.raises(_adopt.AdoptError, match=r"network_mode 'container:[0-9a-f]{64}': the container "
                                                    r"whose namespace it shares is gone"):
            _adopt.parameters(data, None, containers_by_id())
        assert inspect(orphan)["Id"] == data["Id"]
    finally:
        docker("rm", "-f", orphan, target, check=False)
