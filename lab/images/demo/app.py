#!/usr/bin/python3
"""Records app of the confine lab demo: stores posted records as files in a data directory."""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 64 * 1024
RECORD_ID = re.compile(r"^[0-9a-f]{32}$")


class RecordsHandler(BaseHTTPRequestHandler):
    server_version = "demo-records/1"
    records_dir = "/var/lib/demo/records"

    def _reply(self, status: int, payload: dict) -> None:
        body = (json.dumps(payload, sort_keys=True) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path in ("/", ""):
            count = sum(1 for name in os.listdir(self.records_dir) if name.endswith(".json"))
            self._reply(200, {"service": "demo-records", "records": count})
            return
        match = re.match(r"^/records/([^/]+)$", path)
        if not match or not RECORD_ID.match(match.group(1)):
            self._reply(404, {"error": "not found"})
            return
        try:
            with open(os.path.join(self.records_dir, match.group(1) + ".json"), encoding="utf-8") as handle:
                record = json.load(handle)
        except FileNotFoundError:
            self._reply(404, {"error": "no such record"})
            return
        self._reply(200, record)

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0] != "/records":
            self._reply(404, {"error": "not found"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_BODY:
            self._reply(400, {"error": f"body must be 1..{MAX_BODY} bytes"})
            return
        try:
            data = json.loads(self.rfile.read(length))
        except ValueError:
            self._reply(400, {"error": "body is not JSON"})
            return
        record = {"id": uuid.uuid4().hex, "received_at": time.time(), "data": data}
        target = os.path.join(self.records_dir, record["id"] + ".json")
        fd, tmp = tempfile.mkstemp(dir=self.records_dir, prefix=".tmp-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(record, handle, sort_keys=True)
        os.rename(tmp, target)
        self._reply(201, {"id": record["id"], "path": target})

    def log_message(self, format: str, *args: object) -> None:
        print(f"demo-records: {self.address_string()} {format % args}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--data", default="/var/lib/demo")
    args = parser.parse_args()
    RecordsHandler.records_dir = os.path.join(args.data, "records")
    os.makedirs(RecordsHandler.records_dir, exist_ok=True)
    ThreadingHTTPServer((args.listen, args.port), RecordsHandler).serve_forever()


if __name__ == "__main__":
    main()
