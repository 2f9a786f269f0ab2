"""Checking and keeping a finished job's provenance (Book §6.5, KEY-03).

A node may end a job with a `Provenance`: the model key's signature over the text this
attempt streamed, and the node key's statement authorizing that model key. Before the job
is finished, we rebuild the attempt's text from the tokens we relayed and check both
signatures; afterwards the record (``model_pubkey``, ``signature``, ``attempt``,
``verified``) is stored on the job row and shown by ``GET /api/v1/jobs/{id}``. A
signature that does not check out is kept with ``verified: false`` and logged: it never
blocks the client's answer. The statement must be signed by the node's current key, or
by a rotated-out key of the same node still inside its grace period, and name the model as
the node serves it. That key's standing comes from the replica's identity cache
(`Services.identities`, kept current on every replica by nodecache.py), so a finished job
costs no node-key query.
"""

from __future__ import annotations

import logging

from infernet.controlplane.errors import Unauthorized
from infernet.controlplane.services import Services
from infernet.controlplane.store.ids import utcnow
from infernet.protocol.delegation import DelegationError, verify_model_key
from infernet.protocol.provenance import verify_output
from infernet.protocol.wire import JobDone, Provenance

log = logging.getLogger("infernet.provenance")


async def _key_speaks_for(services: Services, node_id: str, node_pubkey: str) -> bool:
    try:
        identity = await services.identities.identify(services.db, node_pubkey, utcnow())
        return identity.node_id == node_id
    except Unauthorized:
        return False


async def _verified(
    services: Services, node_id: str, message: JobDone, proof: Provenance, text: str
) -> bool:
    if not verify_output(
        proof.model_pubkey, proof.signature, message.job_id, message.attempt, text
    ):
        return False
    statement = proof.model_key
    node = services.registry.get(node_id)
    live = services.jobs.live(message.job_id)
    if statement is None or node is None or live is None:
        return False
    try:
        verify_model_key(statement, model=node.served.get(live.key))
    except DelegationError:
        return False
    if statement.model_pubkey != proof.model_pubkey:
        return False
    return await _key_speaks_for(services, node_id, statement.node_pubkey)


async def check(services: Services, node_id: str, message: JobDone) -> dict[str, object] | None:
    """The provenance record of ``message``, if it carries one for the job's current attempt."""
    live = services.jobs.live(message.job_id)
    proof = message.provenance
    if proof is None or live is None or live.finished_at is not None:
        return None
    if live.node_id != node_id or live.attempt != message.attempt:
        return None
    text = "".join(live.stream.pieces[live.attempt_start_piece :])
    verified = await _verified(services, node_id, message, proof, text)
    if not verified:
        log.warning("provenance does not verify", extra={"job_id": message.job_id})
    return {
        "model_pubkey": proof.model_pubkey,
        "signature": proof.signature,
        "attempt": message.attempt,
        "verified": verified,
    }


async def finish(services: Services, node_id: str, message: JobDone) -> None:
    """`JobManager.on_done`, with the job's provenance checked first and stored with it."""
    record = await check(services, node_id, message)
    await services.jobs.on_done(node_id, message, provenance=record)
