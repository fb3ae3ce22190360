"""After the fleet rollout: the good host runs the demo enforced, the broken host runs it under the baseline."""

from __future__ import annotations

import json

BROKEN = "confine-vm-2"


def _kernel_label(host):
    pid = host.check_output("docker inspect -f '{{.State.Pid}}' demo").strip()
    own = host.file(f"/proc/{pid}/attr/apparmor/current")
    label = (own if own.exists else host.file(f"/proc/{pid}/attr/current")).content_string.strip()
    return label, host.file(f"/proc/{pid}/status").content_string


def test_each_host_ends_where_it_should(host):
    state = json.loads(host.file("/var/lib/confine/demo/state.json").content_string)
    label, status = _kernel_label(host)
    assert "Seccomp:\t2" in status
    if host.backend.get_hostname() == BROKEN:
        # Rolled back: Docker's own confinement, never unconfined.
        assert state["mode"] == "baseline"
        assert label == "docker-default (enforce)"
        assert not host.file("/etc/apparmor.d/containers/confine-demo").exists
    else:
        assert state["mode"] == "enforce" and state["good_version"] == state["version"]
        assert label == "confine-demo (enforce)"


def test_the_site_answers_everywhere(host):
    assert "confine demo" in host.check_output("curl -fsS http://127.0.0.1:8080/")
