"""Unit tests for _adopt: docker inspect of real created containers -> docker_container parameters."""

from __future__ import annotations

import copy
import json
import os

import pytest

from ansible_collections.confine.docker.plugins.module_utils import _entries
from ansible_collections.confine.docker.plugins.module_utils._adopt import AdoptError, duration, entry, parameters

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "adopt")


def load(name):
    with open(os.path.join(FIXTURES, name + ".json"), encoding="utf-8") as handle:
        return json.load(handle)


IMAGE = load("image-base")
MINIMAL_ID = load("minimal")["Id"]

FULL = {
    "name": "adopthelper-full", "image": "confine-lab/base:bookworm",
    "entrypoint": ["/bin/sh"], "command": ["-c", "sleep infinity"],
    "env": {"A": "1", "B": "two words"}, "labels": {"adopthelper": "1", "tier": "front"},
    "hostname": "webhost", "domainname": "example.test", "user": "1000:1000", "working_dir": "/srv",
    "stop_signal": "SIGQUIT", "stop_timeout": 20, "init": True, "groups": ["adm", "27"], "runtime": "runc",
    "cgroupns_mode": "host", "ipc_mode": "private", "restart_policy": "on-failure", "restart_retries": 3,
    "volumes": ["adopthelper-vol:/data", "/tmp:/hosttmp:ro"],
    "mounts": [{"target": "/scratch", "type": "tmpfs", "tmpfs_size": "1048576"},
               {"target": "/srv", "type": "bind", "source": "/srv", "read_only": True}],
    "tmpfs": ["/run:rw,size=2m"], "read_only": True,
    "network_mode": "adopthelper-net", "networks": [{"name": "adopthelper-net", "aliases": ["web", "www"]}],
    "published_ports": ["18443:443", "15353:53/udp", "127.0.0.1:18080:80"], "default_host_ip": "",
    "exposed_ports": ["9000/tcp"],
    "dns_servers": ["9.9.9.9"], "dns_search_domains": ["example.test"], "dns_opts": ["ndots:2"],
    "etc_hosts": {"db": "10.0.0.2", "cache": "10.0.0.3"},
    "memory": "268435456", "memory_reservation": "134217728", "memory_swap": "536870912", "shm_size": "67108864",
    "cpus": 0.5, "cpu_shares": 512, "pids_limit": 100,
    "ulimits": ["nofile:1024:2048", "nproc:512:512"], "sysctls": {"net.ipv4.ip_unprivileged_port_start": "0"},
    "devices": ["/dev/null:/dev/xnull:rw"], "capabilities": ["CAP_NET_ADMIN"], "cap_drop": ["CAP_MKNOD", "CAP_NET_RAW"],
    "security_opts": ["label=disable"],
    "log_driver": "json-file", "log_options": {"max-file": "2", "max-size": "1m"},
    "healthcheck": {"test": ["CMD-SHELL", "test -f /tmp/ok"], "interval": "30s", "timeout": "5s",
                    "start_period": "10s", "retries": 3},
}
MINIMAL = {"name": "adopthelper-minimal", "image": "confine-lab/base:bookworm", "command": ["sleep", "infinity"],
           "runtime": "runc", "cgroupns_mode": "host", "ipc_mode": "private", "restart_policy": "no",
           "shm_size": "67108864", "log_driver": "json-file"}


def test_every_kind_of_option_is_carried_over_and_the_runbooks_security_options_are_not():
    assert parameters(load("full"), IMAGE) == FULL


def test_what_the_container_only_inherited_is_left_to_its_image():
    assert parameters(load("minimal"), IMAGE) == MINIMAL


def test_without_the_image_the_containers_full_values_are_carried():
    params = parameters(load("full"))
    assert params["env"]["PATH"] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert params["labels"]["org.opencontainers.image.source"] == "confine.docker/lab"
    assert parameters(load("minimal"))["command"] == ["sleep", "infinity"]


def test_the_host_namespaces_are_carried_and_their_hostname_is_left_to_docker():
    params = parameters(load("hostns"), IMAGE)
    assert params["network_mode"] == "host" and params["pid_mode"] == "host" and params["ipc_mode"] == "shareable"
    assert params["restart_policy"] == "unless-stopped" and "restart_retries" not in params
    assert "hostname" not in params and "networks" not in params
    # Docker adds label=disable for a host pid namespace; it is carried over as a label option.
    assert params["security_opts"] == ["label=disable"]


def test_a_shared_network_namespace_is_named_by_its_container():
    params = parameters(load("netshare"), IMAGE, {MINIMAL_ID: "/adopthelper-minimal"})
    assert params["network_mode"] == "container:adopthelper-minimal"


@pytest.mark.parametrize("containers, reason", [
    ({}, "the container whose namespace it shares is gone"),
    (None, "the container it shares is not known"),
])
def test_a_shared_namespace_that_cannot_be_resolved_is_refused(containers, reason):
    with pytest.raises(AdoptError, match="network_mode 'container:%s': %s" % (MINIMAL_ID, reason)):
        parameters(load("netshare"), IMAGE, containers)


def changed(name, section, **values):
    data = copy.deepcopy(load(name))
    data[section].update(values)
    return data


@pytest.mark.parametrize("data, message", [
    (changed("full", "HostConfig", Privileged=True), "it is privileged"),
    (changed("full", "HostConfig", CpuRealtimeRuntime=950000), "HostConfig.CpuRealtimeRuntime = 950000 is not known"),
    (changed("full", "HostConfig", BlkioDeviceReadBps=[{"Path": "/dev/sda", "Rate": 1}]),
     "HostConfig.BlkioDeviceReadBps"),
    (changed("full", "HostConfig", Annotations={"a": "b"}), "HostConfig.Annotations"),
    (changed("full", "Config", Shell=["/bin/bash", "-c"]), "Config.Shell"),
    (changed("full", "HostConfig", ExtraHosts=["db:10.0.0.2", "db:10.0.0.9"]), "extra host 'db' is given twice"),
    (changed("minimal", "HostConfig", PidMode="container:0123456789ab"), "pid_mode 'container:0123456789ab'"),
    (changed("minimal", "Config", Volumes={"/cache": {}}), "anonymous volumes /cache"),
])
def test_what_cannot_be_carried_over_faithfully_is_refused(data, message):
    with pytest.raises(AdoptError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parameters(data, IMAGE, {})


def test_every_problem_is_listed_at_once():
    data = changed("full", "HostConfig", Privileged=True, CpuRealtimeRuntime=1, NetworkMode="container:gone")
    with pytest.raises(AdoptError) as raised:
        parameters(data, IMAGE, {})
    assert len(raised.value.problems) == 3, raised.value.problems
    assert "adopthelper-full" in str(raised.value)


def with_anonymous_volume():
    data = copy.deepcopy(load("minimal"))
    data["Config"]["Volumes"] = {"/cache": {}}
    data["Mounts"] = [{"Type": "volume", "Name": "f00d" * 16, "Destination": "/cache", "Driver": "local",
                       "RW": True}]
    return data


def test_an_anonymous_volume_is_refused_or_reattached_by_name():
    with pytest.raises(AdoptError, match="anonymous volumes /cache \\(volume f00d"):
        parameters(with_anonymous_volume(), IMAGE)
    assert parameters(with_anonymous_volume(), IMAGE, reattach_anonymous=True)["volumes"] == [
        "%s:/cache" % ("f00d" * 16)]


def test_an_image_tag_that_names_another_image_now_is_refused():
    image = dict(IMAGE, Id="sha256:" + "0" * 64)
    with pytest.raises(AdoptError, match="now names sha256:0000"):
        parameters(load("minimal"), image)


@pytest.mark.parametrize("ports, published, default_ip", [
    ({"80/tcp": [{"HostIp": "::1", "HostPort": "8080"}]}, ["[::1]:8080:80"], None),
    ({"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}, ["127.0.0.1::80"], None),
    ({"80/tcp": [{"HostIp": "", "HostPort": ""}]}, ["80"], ""),
    ({"53/udp": [{"HostIp": "", "HostPort": "53"}, {"HostIp": "", "HostPort": "5353"}]}, ["53:53/udp", "5353:53/udp"],
     ""),
])
def test_port_bindings(ports, published, default_ip):
    params = parameters(changed("minimal", "HostConfig", PortBindings=ports), IMAGE)
    assert params["published_ports"] == published
    assert params.get("default_host_ip") == default_ip


@pytest.mark.parametrize("nanoseconds, text", [
    (30 * 10**9, "30s"), (90 * 10**9, "90s"), (120 * 10**9, "2m"), (3600 * 10**9, "1h"), (1500 * 10**6, "1500ms"),
    (2500, "2500ns"),
])
def test_durations(nanoseconds, text):
    if text.endswith("ns"):
        with pytest.raises(ValueError):
            duration(nanoseconds)
    else:
        assert duration(nanoseconds) == text


def test_the_adopted_entry_is_one_the_entry_schema_takes():
    adopted = entry(load("full"), IMAGE)
    assert adopted["name"] == "adopthelper-full" and adopted["image"] == "confine-lab/base:bookworm"
    assert "name" not in adopted["run"] and "image" not in adopted["run"]
    assert _entries.check_entries([adopted]) == ["adopthelper-full"]


def test_not_an_inspect_object():
    with pytest.raises(AdoptError, match="not a container's docker inspect object"):
        parameters({"Name": "/x"})
