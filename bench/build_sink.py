#!/usr/bin/env python3
"""A stand-in daemon for bench/build.sh that answers the docker CLI's legacy build with no
work at all: `/_ping`, then `POST /build` whose context it reads to the end and discards,
answering with a built image ID at once. The time `DOCKER_BUILDKIT=0 docker build` takes
against it is the docker CLI's own share of a build (reading and tarring the context,
sending it): no daemon, however fast, can make a docker-CLI build take less.

Usage: build_sink.py SOCKET_PATH   (serves until killed)
"""
import json
import os
import socketserver
import sys
from http.server import BaseHTTPRequestHandler


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _reply(self, status, body, ctype="application/json", head=False):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Api-Version", "1.47")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _drain(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return
                left = size
                while left:
                    left -= len(self.rfile.read(min(left, 1 << 20)))
                self.rfile.readline()
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left:
                left -= len(self.rfile.read(min(left, 1 << 20)))

    def do_HEAD(self):
        self._reply(200, b"OK", "text/plain", head=True)

    def do_GET(self):
        path = self.path.split("?")[0]
        if path.endswith("/_ping"):
            self._reply(200, b"OK", "text/plain")
        elif path.endswith("/version"):
            self._reply(200, json.dumps({"ApiVersion": "1.47", "MinAPIVersion": "1.24",
                                         "Version": "sink", "Os": "linux",
                                         "Arch": "amd64"}).encode())
        else:
            self._reply(404, b'{"message":"not found"}')

    def do_POST(self):
        self._drain()
        if self.path.split("?")[0].endswith("/build"):
            image = "sha256:" + "0" * 64
            lines = [{"stream": "Step 1/1 : (sink)\n"}, {"aux": {"ID": image}},
                     {"stream": "Successfully built 000000000000\n"}]
            self._reply(200, b"".join(json.dumps(l).encode() + b"\r\n" for l in lines))
        else:
            self._reply(200, b"{}")


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        sock, _ = super().get_request()
        return sock, ("sink", 0)


if __name__ == "__main__":
    path = sys.argv[1]
    if os.path.exists(path):
        os.unlink(path)
    Server(path, Handler).serve_forever()
