"""Ask a real dockerd which daemon.json settings it accepts, one file per case, without starting a daemon.

Reads a JSON list of cases (each a daemon.json object) on stdin and prints a JSON list of verdicts, one per case:
``{"verdict": "accepted" | "unknown" | "refused", "message": ...}``. ``unknown`` means dockerd does not know a key
("the following directives don't match any configuration option").

Docker 23 and later answer ``dockerd --validate --config-file FILE``. Docker 20.10 has no ``--validate``; it reads
and checks the file first thing at start, so it is started with a pid file path it cannot create: a file it accepts
gets as far as "failed to start daemon: mkdir ...", a file it refuses fails before. Either way nothing runs (its
data and exec roots are in a throwaway directory).

Usage: python3 dockerd_config.py [DOCKERD] < cases.json   (prints {"version": ..., "validate": bool, "verdicts": [...]})
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

UNKNOWN = "don't match any configuration option"


def version(dockerd):
    out = subprocess.run([dockerd, "--version"], capture_output=True, text=True, check=False).stdout
    match = re.search(r"version ([0-9]+)\.([0-9]+)", out)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0), out.strip()


def ask(dockerd, config, validate, work):
    path = os.path.join(work, "daemon.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(config, handle)
    if validate:
        argv = [dockerd, "--validate", "--config-file", path]
    else:
        argv = [dockerd, "--config-file", path, "--pidfile", "/etc/hostname/confine-probe/docker.pid",
                "--data-root", os.path.join(work, "root"), "--exec-root", os.path.join(work, "exec"),
                "-H", "unix://" + os.path.join(work, "docker.sock")]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    output = (proc.stderr + proc.stdout).strip()
    if UNKNOWN in output:
        return {"verdict": "unknown", "message": output.splitlines()[-1]}
    if validate:
        accepted = proc.returncode == 0
    else:
        accepted = "failed to start daemon: mkdir /etc/hostname: not a directory" in output
    lines = [line for line in output.splitlines() if line.strip()]
    return {"verdict": "accepted" if accepted else "refused", "message": lines[-1] if lines else ""}


def main():
    dockerd = sys.argv[1] if len(sys.argv) > 1 else (shutil.which("dockerd") or "/usr/sbin/dockerd")
    cases = json.load(sys.stdin)
    (major, minor), text = version(dockerd)
    validate = (major, minor) >= (23, 0)
    work = tempfile.mkdtemp(prefix="confine-dockerd-probe-")
    try:
        verdicts = [ask(dockerd, case, validate, work) for case in cases]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    json.dump({"version": text, "validate": validate, "verdicts": verdicts}, sys.stdout)


if __name__ == "__main__":
    main()
