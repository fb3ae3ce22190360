#!/usr/bin/python3
"""Notes, a small web app of the confine lab's corpus: stores notes as files in a data directory, with an SQLite index.

POST /notes?name=NAME   stores the body as the note NAME (201), GET /notes?name=NAME reads it back, GET /notes lists
the index, GET /health answers 200.

It has the bug the corpus attacks: NAME is joined to the data directory unchecked, so ../../etc/cron.d/x is a file
outside it (path traversal). It runs as root, as too many such apps do, so the write succeeds wherever root may write.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import sqlite3
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DATA = "/srv/notes"
INDEX = os.path.join(DATA, "index.db")
MAX_BODY = 64 * 1024
LOCK = threading.Lock()


def index():
    db = sqlite3.connect(INDEX, timeout=10)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE IF NOT EXISTS notes (name TEXT PRIMARY KEY, size INTEGER, stored REAL)")
    return db


class NotesHandler(BaseHTTPRequestHandler):
    server_version = "corpus-notes/1"

    def _reply(self, status, payload):
        body = (json.dumps(payload, sort_keys=True) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _name(self):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        return (query.get("name") or [""])[0]

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/health":
            self._reply(200, {"service": "notes"})
            return
        if path != "/notes":
            self._reply(404, {"error": "not found"})
            return
        name = self._name()
        if not name:
            with LOCK:
                db = index()
                try:
                    names = [row[0] for row in db.execute("SELECT name FROM notes ORDER BY name")]
                finally:
                    db.close()
            self._reply(200, {"notes": names})
            return
        try:
            with open(os.path.join(DATA, name), "rb") as handle:  # the bug: name is not checked
                body = handle.read()
        except OSError as exc:
            self._reply(404, {"error": str(exc), "errno": errno.errorcode.get(exc.errno)})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        if urllib.parse.urlsplit(self.path).path != "/notes" or not self._name():
            self._reply(404, {"error": "not found"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_BODY:
            self._reply(400, {"error": "body must be 1..%d bytes" % MAX_BODY})
            return
        body = self.rfile.read(length)
        name = self._name()
        target = os.path.join(DATA, name)  # the bug: name is not checked
        try:
            with open(target, "wb") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            with LOCK:
                db = index()
                try:
                    with db:
                        db.execute("INSERT OR REPLACE INTO notes VALUES (?, ?, ?)", (name, len(body), time.time()))
                finally:
                    db.close()
        except OSError as exc:
            self._reply(500, {"error": str(exc), "errno": errno.errorcode.get(exc.errno)})
            return
        self._reply(201, {"name": name, "path": target, "size": len(body)})

    def log_message(self, format, *args):
        print("notes: %s %s" % (self.address_string(), format % args), flush=True)


def main():
    os.makedirs(DATA, exist_ok=True)
    index().close()
    server = ThreadingHTTPServer(("0.0.0.0", 8080), NotesHandler)

    def stop(signum, _frame):
        print("notes: signal %d, stopping" % signum, flush=True)
        threading.Thread(target=server.shutdown, daemon=True).start()

    # As PID 1 a process gets no default action for SIGTERM: without a handler `docker stop` would have to kill it.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
