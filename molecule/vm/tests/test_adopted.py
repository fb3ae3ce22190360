"""After harden.yml the container prepare.yml started by hand (``adopt: true``, no seed profile) runs under its
own enforced AppArmor profile and seccomp filter with the configuration it was started with, and still serves."""

from __future__ import annotations

import json
import time

CONTAINER = "adopted"
PROFILE = "confine-adopted"
STATE_DIR = "/var/lib/confine/adopted"


def inspect(host):
    return json.loads(host.check_output(f"docker inspect {CONTAINER}"))[0]


def test_the_adopted_container_reached_enforce_after_a_clean_trial(host):
    state = json.loads(host.file(f"{STATE_DIR}/state.json").content_string)
    assert state["mode"] == "enforce" and state["clean"] is True, state
    assert all(item["baseline"] == "blocks" for item in state["refused"]), state["refused"]
    record = json.loads(host.file(f"{STATE_DIR}/adopted.json").content_string)
    assert record["entry"]["image"] == "confine-lab/base:bookworm"
    assert record["entry"]["run"]["command"] == ["python3", "-m", "http.server", "8081"]


def test_it_runs_confined_with_its_own_configuration(host):
    info = inspect(host)
    assert info["AppArmorProfile"] == PROFILE
    assert f"{PROFILE} (enforce)" in host.file("/sys/kernel/security/apparmor/profiles").content_string.splitlines()
    status = host.file(f"/proc/{info['State']['Pid']}/status").content_string
    assert "Seccomp:\t2" in status and "NoNewPrivs:\t1" in status
    # What it was started with is kept.
    assert info["Config"]["Labels"]["lab.role"] == "adopted" and "SITE=adopted" in info["Config"]["Env"]
    assert info["HostConfig"]["Memory"] == 256 * 1024 * 1024
    assert info["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert info["HostConfig"]["PortBindings"] == {"8081/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8081"}]}
    assert info["HostConfig"]["Binds"] == ["/srv/adopted:/srv:ro"] and info["Config"]["WorkingDir"] == "/srv"
    assert info["Config"]["Healthcheck"]["Interval"] == 10 * 10**9


def test_it_serves_and_its_own_health_check_passes(host):
    for _attempt in range(30):
        if (inspect(host)["State"].get("Health") or {}).get("Status") == "healthy":
            break
        time.sleep(2)
    assert inspect(host)["State"]["Health"]["Status"] == "healthy"
    assert host.check_output("curl -fsS http://127.0.0.1:8081/index.html").strip() == "adopted site"
