"""The Docker Engine an integration test drives: the host's dockerd, or one elsewhere reached through a command prefix.

``DockerEngine.local(docker)`` runs the Docker CLI here. ``DockerEngine.remote(prefix)`` runs every command as one
shell command line through ``prefix`` - ``lab/vm/ssh HOST --`` for a lab VM (``DockerEngine.lab_vm``), or
``sh -c`` to take the same code path on this host. Files a container needs (the probe binary, a profile: the Docker
CLI reads ``--security-opt seccomp=FILE`` itself) are put where that engine's CLI runs with :meth:`put`.
"""

from __future__ import annotations

import os
import shlex
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
REMOTE_DIR = "/tmp/confine-it-seccomp-engine"


class DockerEngine:
    def __init__(self, prefix=None, docker="docker", env=None, name="host"):
        self.prefix = list(prefix) if prefix is not None else None
        self.docker = docker
        self.env = env
        self.name = name

    @classmethod
    def local(cls, docker):
        return cls(None, docker, name="host")

    @classmethod
    def remote(cls, prefix, docker="docker", env=None, name="remote"):
        return cls(prefix, docker, env, name)

    @classmethod
    def lab_vm(cls, inventory, host="confine-vm-1"):
        """The dockerd of a lab VM, over the lab's own ``lab/vm/ssh`` (state dir next to ``inventory``)."""
        env = dict(os.environ, CONFINE_LAB_STATE=os.path.dirname(os.path.abspath(inventory)))
        return cls([os.path.join(ROOT, "lab", "vm", "ssh"), host, "--"], "docker", env, host)

    @property
    def is_local(self):
        return self.prefix is None

    def run(self, *command, stdin=None, timeout=300):
        """Run ``command`` where the engine is; a CompletedProcess with text stdout/stderr."""
        cmd = list(command) if self.is_local else [*self.prefix, shlex.join(command)]
        proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout, check=False, env=self.env)
        proc.stdout = proc.stdout.decode("utf-8", "replace")
        proc.stderr = proc.stderr.decode("utf-8", "replace")
        return proc

    def shell(self, script, timeout=300):
        return self.run("sh", "-c", script, timeout=timeout)

    def docker_cli(self, *args, timeout=300):
        return self.run(self.docker, *args, timeout=timeout)

    def version(self):
        """The engine's version as it reports it (``20.10.24+dfsg1``)."""
        proc = self.docker_cli("version", "--format", "{{.Server.Version}}", timeout=60)
        assert proc.returncode == 0 and proc.stdout.strip(), "no engine answers on %s: %s" % (self.name, proc.stderr)
        return proc.stdout.strip()

    def kernel(self):
        proc = self.run("uname", "-r", timeout=60)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    def put(self, local_path, mode="0644"):
        """A path of ``local_path``'s content where the engine's CLI runs (the file itself for a local engine)."""
        if self.is_local:
            return local_path
        dest = "%s/%s" % (REMOTE_DIR, os.path.basename(local_path))
        with open(local_path, "rb") as handle:
            data = handle.read()
        script = "mkdir -p %s && cat > %s && chmod %s %s" % (
            shlex.quote(REMOTE_DIR), shlex.quote(dest), mode, shlex.quote(dest))
        proc = self.run("sh", "-c", script, stdin=data, timeout=120)
        assert proc.returncode == 0, "cannot put %s on %s: %s" % (local_path, self.name, proc.stderr)
        return dest

    def cleanup(self):
        if not self.is_local:
            self.run("rm", "-rf", REMOTE_DIR, timeout=60)
