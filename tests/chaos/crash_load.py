"""Client load for the control-plane crash loop (tests/chaos/test_cp_crash.py), in threads:
job submissions (plain and streamed), stream readers that reconnect with `Last-Event-ID`
whenever their connection breaks (the control plane was killed), and model commands for
the nodes (whose acks are one more thing a kill may interrupt).

Every reader records what it got: the event ids in order, the text, and how the stream
ended, so the test can check that each stream ends ([DONE] or a real error), with no
event repeated or skipped across reconnects.
"""

from __future__ import annotations

import json
import random
import threading
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import httpx

JOB = {"model": "m:1b", "messages": [{"role": "user", "content": "go"}], "max_tokens": 20}
SUBMIT_EVERY_S = 0.25
RETRY_S = 0.2


@dataclass
class StreamRead:
    job_id: str
    ids: list[int] = field(default_factory=list)
    text: str = ""
    end: str = ""  # "done", "error", or why the reader gave up
    error: dict[str, object] = field(default_factory=dict)
    reconnects: int = 0


class Load:
    def __init__(self, url: str, keys: list[str], rng: random.Random, give_up_s: float) -> None:
        self.url, self.keys, self.rng, self.give_up_s = url, keys, rng, give_up_s
        self.accepted: list[str] = []  # job ids a client was told were accepted
        self.reads: list[StreamRead] = []
        self.commands: list[str] = []
        self._threads: list[threading.Thread] = []
        self._submitting = threading.Event()
        self._turn = 0

    def _key(self) -> str:
        self._turn += 1
        return self.keys[self._turn % len(self.keys)]

    def _client(self, key: str) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=httpx.Timeout(30, read=60))

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def start_submitting(self) -> None:
        self._submitting.set()
        self._spawn(self._submit_loop)

    def stop_submitting(self) -> None:
        self._submitting.clear()

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = [t for t in self._threads if t.is_alive()]

    def command(self, owner: str, node_id: str, kind: str, model: str) -> None:
        """A model command from the node's owner (API key `owner`): no one else may."""
        with self._client(owner) as http:
            body = {"type": kind, "model": model}
            reply = http.post(f"/api/v1/nodes/{node_id}/commands", json=body)
        assert reply.status_code == 201, reply.text
        self.commands.append(reply.json()["id"])

    def _submit_loop(self) -> None:
        while self._submitting.is_set():
            key = self._key()
            try:
                if self.rng.random() < 0.5:
                    self._spawn(self._streamed, key)
                else:
                    self._plain(key)
            except httpx.TransportError:
                pass  # the control plane is down: this submission was not accepted
            time.sleep(SUBMIT_EVERY_S)

    def _plain(self, key: str) -> None:
        with self._client(key) as http:
            reply = http.post("/api/v1/jobs", json=JOB)
        if reply.status_code == 202:
            job_id = reply.json()["id"]
            self.accepted.append(job_id)
            if self.rng.random() < 0.5:
                self._spawn(self._follow, key, StreamRead(job_id))

    def _streamed(self, key: str) -> None:
        read: StreamRead | None = None
        with self._client(key) as http:
            try:
                with http.stream("POST", "/api/v1/jobs", json={**JOB, "stream": True}) as resp:
                    if resp.status_code != 200:
                        return
                    read = StreamRead(resp.headers["X-Infernet-Job-Id"])
                    self.accepted.append(read.job_id)
                    self.reads.append(read)
                    if self._events(resp, read):
                        return
            except httpx.TransportError:
                if read is None:
                    return  # never accepted
        if read is not None:  # the connection broke mid-stream: resume it
            self._follow(key, read, known=True)

    def _follow(self, key: str, read: StreamRead, known: bool = False) -> None:
        """Read the job's stream to its end, resuming after the last event seen."""
        if not known:
            self.reads.append(read)
        deadline = time.monotonic() + self.give_up_s
        with self._client(key) as http:
            while time.monotonic() < deadline:
                last = read.ids[-1] if read.ids else 0
                headers = {"Last-Event-ID": str(last)} if last else {}
                try:
                    with self._get(http, read.job_id, headers) as resp:
                        if resp.status_code == 429:
                            time.sleep(float(resp.headers.get("Retry-After", "1")))
                            continue
                        if resp.status_code != 200:
                            read.end = f"http {resp.status_code}: {resp.read()[:200]!r}"
                            return
                        if self._events(resp, read):
                            return
                except httpx.TransportError:
                    pass
                read.reconnects += 1
                time.sleep(RETRY_S)
        read.end = read.end or "gave up"

    def _get(
        self, http: httpx.Client, job_id: str, headers: dict[str, str]
    ) -> AbstractContextManager[httpx.Response]:
        return http.stream("GET", f"/api/v1/jobs/{job_id}/stream", headers=headers)

    @staticmethod
    def _events(resp: httpx.Response, read: StreamRead) -> bool:
        """Record the response's events; True once the stream ended."""
        event_id = 0
        for line in resp.iter_lines():
            if line.startswith("id: "):
                event_id = int(line[4:])
            elif line.startswith("data: "):
                read.ids.append(event_id)
                data = line[6:]
                if data == "[DONE]":
                    read.end = "done"
                    return True
                payload = json.loads(data)
                if "text" in payload:
                    read.text += payload["text"]
                else:
                    read.end, read.error = "error", payload
                    return True
        return False
