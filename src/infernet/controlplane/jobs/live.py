"""A job while it lives in the control plane's memory, and what its nodes produced."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from infernet.controlplane.jobs.claims import AttemptBound
from infernet.controlplane.jobs.fit import ContextNeed
from infernet.controlplane.jobs.prefix_index import Prompt
from infernet.controlplane.jobs.streams import JobStream
from infernet.controlplane.money.accounting import Segment
from infernet.controlplane.schemas.jobs import JobCreate
from infernet.controlplane.store.ids import utcnow
from infernet.controlplane.store.jobs import Completion, JobRecord
from infernet.protocol.wire import ChatMessageIn, JobAssignment, UsageReport


@dataclass
class LiveJob:
    id: str
    account_id: str
    key: str
    request: JobCreate
    submitted: float  # monotonic
    stream: JobStream = field(default_factory=JobStream)
    node_id: str | None = None
    attempt: int = 0
    started: float | None = None  # monotonic, start of the current attempt
    last_progress: float = 0.0  # monotonic, last message from the current node
    attempt_start_piece: int = 0  # index in stream.pieces where this attempt began
    attempt_chars: int = 0  # characters relayed in this attempt
    bound: AttemptBound | None = None  # what this attempt's node can claim (claims.py)
    finished_at: float | None = None
    usage: UsageReport | None = None  # set when the job completed
    finish_reason: str | None = None
    segments: list[Segment] = field(default_factory=list)  # attempts that ended early
    excluded: set[str] = field(default_factory=set)  # nodes that failed this job already
    need: ContextNeed | None = None  # the context it needs (jobs/fit.py); None: unknown
    prompt: Prompt | None = None  # its prompt's prefix blocks (prefix_index.py); None: encrypted
    allowed: frozenset[str] | None = None  # nodes its preferences allow; None: any
    order: tuple[str, ...] | None = None  # the order to try them in (preferences.py)
    routing: dict[str, Any] | None = None  # why its node was chosen (placement.py)

    @property
    def stored(self) -> bool:
        """Its row is committed (a new job is sent before, manager.submit): from then on
        its lease may be renewed (takeover.tend) and its pieces kept (streams.py)."""
        return not self.stream.row_pending

    @property
    def delivered(self) -> str:
        return self.stream.text

    @property
    def produced_tokens(self) -> int:
        return sum(s.completion_tokens for s in self.segments)

    @property
    def attempt_frames(self) -> int:
        """Token frames relayed in this attempt."""
        return len(self.stream.pieces) - self.attempt_start_piece

    def assignment(self, model: str) -> JobAssignment:
        """This attempt as sent to a node that serves the model as `model`: continuing
        what was delivered, for the tokens still to produce."""
        r = self.request
        return JobAssignment(
            job_id=self.id,
            attempt=self.attempt,
            model=model,
            messages=self.continuation_messages(),
            max_tokens=max(1, r.max_tokens - self.produced_tokens),
            temperature=r.temperature,
            top_p=r.top_p,
            stop=r.stop,
            seed=r.seed,
            encrypted=r.encrypted,
        )

    def continuation_messages(self) -> list[ChatMessageIn]:
        """The client's messages, plus what was already streamed as an assistant prefix, so
        the next node continues the answer instead of starting it again."""
        messages = list(self.request.messages)
        if self.delivered:
            messages.append(ChatMessageIn(role="assistant", content=self.delivered))
        return messages

    def completion(self, node_id: str, provenance: dict[str, object] | None) -> Completion:
        """What the completed job stores: its text, and usage summed over its segments (the
        last one finished it; `usage` is set to the same totals)."""
        last = self.segments[-1]
        completion = sum(s.completion_tokens for s in self.segments)
        self.usage = UsageReport(prompt_tokens=last.prompt_tokens, completion_tokens=completion)
        return Completion(
            node_id=node_id,
            content=self.stream.text,
            prompt_tokens=last.prompt_tokens,
            completion_tokens=completion,
            usage_source=last.usage_source,
            finish_reason=self.finish_reason,
            latency_ms=(time.monotonic() - self.submitted) * 1000,
            segments=[vars(s) for s in self.segments],
            provenance=provenance,
            routing=self.routing,
        )

    def new_record(self, lease_owner: str, lease_expires_at: datetime) -> JobRecord:
        """The job's row as submitted: pending, leased to the replica that runs it."""
        return JobRecord(
            id=self.id,
            account_id=self.account_id,
            model=self.request.model,
            routing_key=self.key,
            status="pending",
            request=self.request.model_dump(mode="json"),
            created_at=utcnow(),
            lease_owner=lease_owner,
            lease_expires_at=lease_expires_at,
        )
