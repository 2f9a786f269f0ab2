"""Checking and keeping a finished job's provenance (Book §6.5, KEY-03).

A node may end a job with a `Provenance`: the model key's signature over the text this
attempt streamed, and the node key's statement authorizing that model key. Before the job
is finished, we rebuild the attempt's text from the tokens we relayed and check both
signatures; afterwards the record (``model_pubkey``, ``signature``, ``attempt``,
``verified``) is stored on the job row and shown by ``GET /api/v1/jobs/{id}``. A
signature that does not check out is kept with ``verified: false`` and logged: it never
blocks the client's answer. The statement must be signed by the node's current key, or
by a rotated-out key of the same node still inside its grace period, and name the model as
the node serves it. That key's standing comes from the replica's identity cache (kept
current on every replica by nodes/cache.py), so a finished job costs no node-key query.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.errors import Unauthorized
from infernet.controlplane.jobs.live import LiveJob
from infernet.controlplane.nodes.auth import IdentityCache
from infernet.controlplane.nodes.registry import NodeRegistry
from infernet.controlplane.store.ids import utcnow
from infernet.protocol.delegation import DelegationError, ModelKeyStatement, verify_model_key
from infernet.protocol.provenance import verify_output
from infernet.protocol.wire import JobDone, Provenance

log = logging.getLogger("infernet.provenance")
SIGNED_KEPT = 10_000  # statements whose signature was checked (one or a few per node)


class ProvenanceCheck:
    def __init__(self, db: AsyncEngine, registry: NodeRegistry, identities: IdentityCache):
        self._db, self._registry, self._identities = db, registry, identities
        self._signed_statements: set[ModelKeyStatement] = set()

    async def record(
        self, job: LiveJob, node_id: str, message: JobDone
    ) -> dict[str, object] | None:
        """The provenance record of `message` (the current attempt of `job`, finishing),
        if it carries one."""
        proof = message.provenance
        if proof is None:
            return None
        text = "".join(job.stream.pieces[job.attempt_start_piece :])
        verified = await self._verified(job, node_id, message, proof, text)
        if not verified:
            log.warning("provenance does not verify", extra={"job_id": message.job_id})
        return {
            "model_pubkey": proof.model_pubkey,
            "signature": proof.signature,
            "attempt": message.attempt,
            "verified": verified,
        }

    async def _verified(
        self, job: LiveJob, node_id: str, message: JobDone, proof: Provenance, text: str
    ) -> bool:
        if not verify_output(
            proof.model_pubkey, proof.signature, message.job_id, message.attempt, text
        ):
            return False
        statement = proof.model_key
        node = self._registry.get(node_id)
        if statement is None or node is None:
            return False
        served = node.served.get(job.key)
        if served is not None and statement.model != served:
            return False
        if statement.model_pubkey != proof.model_pubkey or not self._signed(statement):
            return False
        return await self._key_speaks_for(node_id, statement.node_pubkey)

    def _signed(self, statement: ModelKeyStatement) -> bool:
        """The node key's signature on the statement holds. A node sends the same
        statement with every job: its check (a Schnorr verification) is remembered."""
        if statement in self._signed_statements:
            return True
        try:
            verify_model_key(statement)
        except DelegationError:
            return False
        if len(self._signed_statements) >= SIGNED_KEPT:
            self._signed_statements.clear()
        self._signed_statements.add(statement)
        return True

    async def _key_speaks_for(self, node_id: str, node_pubkey: str) -> bool:
        try:
            identity = await self._identities.identify(self._db, node_pubkey, utcnow())
            return identity.node_id == node_id
        except Unauthorized:
            return False
