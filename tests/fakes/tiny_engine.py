"""A stand-in engine process for the supervision tests: it says hello on stderr, answers
`GET /health` with 200 on 127.0.0.1:PORT, and with `--die-after S` kills itself with
SIGSEGV after S seconds, as a crashing llama.cpp would.

    python -m tests.fakes.tiny_engine PORT [--die-after S] [--spawn-sleeper]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--die-after", type=float)
    parser.add_argument("--spawn-sleeper", action="store_true", help="a worker in its group")
    args = parser.parse_args()
    print(f"tiny engine {os.getpid()} on port {args.port}", file=sys.stderr, flush=True)
    if args.spawn_sleeper:
        worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        print(f"worker {worker.pid}", file=sys.stderr, flush=True)
    if args.die_after is not None:
        crash = threading.Timer(args.die_after, os.kill, (os.getpid(), signal.SIGSEGV))
        crash.daemon = True
        crash.start()
    ThreadingHTTPServer(("127.0.0.1", args.port), Health).serve_forever()


if __name__ == "__main__":
    main()
