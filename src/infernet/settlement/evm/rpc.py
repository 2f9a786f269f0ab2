"""The chain as settlement needs it: typed answers over JSON-RPC through web3.py.

This is the one boundary with web3 and the network. Transport failures and malformed
answers become `ChainUnavailable` (the caller retries on its next tick); a node's refusal
of a transaction becomes a `SendOutcome`, read from the error message the way geth,
Nethermind, Erigon, reth and the L2 sequencers word it. ERC-20 calls are encoded by hand
(three selectors), so the token only has to be ERC-20, not a particular ABI file.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

import aiohttp
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.exceptions import (
    BlockNotFound,
    ContractLogicError,
    TransactionNotFound,
    Web3Exception,
    Web3RPCError,
)
from web3.types import BlockIdentifier, FilterParams, TxParams

from infernet.settlement.errors import ChainUnavailable, SettlementError
from infernet.settlement.records import ChainTransfer, Checkpoint

TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
_TRANSFER = "0xa9059cbb"
_BALANCE_OF = "0x70a08231"
_DECIMALS = "0x313ce567"
_TRANSPORT = (aiohttp.ClientError, TimeoutError, OSError, Web3Exception, ValueError, KeyError)


class SendOutcome(StrEnum):
    ACCEPTED = "accepted"
    KNOWN = "known"  # the node had it already: as good as accepted
    NONCE_USED = "nonce_used"  # another transaction (ours or not) was mined with its nonce
    UNDERPRICED = "underpriced"  # a replacement must pay more
    NO_GAS_FUNDS = "no_gas_funds"  # the sender cannot pay for gas
    REJECTED = "rejected"  # anything else; the message says what


_OUTCOMES = (
    (SendOutcome.KNOWN, ("already known", "known transaction", "already imported")),
    (SendOutcome.NONCE_USED, ("nonce too low", "nonce is too low", "oldnonce")),
    (SendOutcome.UNDERPRICED, ("underpriced", "fee too low", "max fee per gas less than")),
    (SendOutcome.NO_GAS_FUNDS, ("insufficient funds",)),
)


@dataclass(frozen=True, slots=True)
class Sent:
    outcome: SendOutcome
    message: str = ""


@dataclass(frozen=True, slots=True)
class Fees:
    base_fee: int  # wei per gas, of the latest block
    priority_fee: int  # the node's suggested tip


@dataclass(frozen=True, slots=True)
class Receipt:
    tx_hash: str
    block: Checkpoint
    succeeded: bool
    transfers: list[ChainTransfer]


class WouldRevert(SettlementError):
    """The call fails if sent (e.g. the token refuses the transfer); the message says why."""


def _hex(value: bytes | str) -> str:
    return HexBytes(value).to_0x_hex()


def _topic(address: str) -> str:
    return "0x" + "0" * 24 + address.lower().removeprefix("0x")


def _word(number: int) -> str:
    return format(number, "064x")


def classify(message: str) -> SendOutcome:
    lowered = message.lower()
    for outcome, needles in _OUTCOMES:
        if any(n in lowered for n in needles):
            return outcome
    return SendOutcome.REJECTED


@contextmanager
def _calling(what: str) -> Iterator[None]:
    try:
        yield
    except _TRANSPORT as exc:
        raise ChainUnavailable(f"The chain's RPC endpoint failed on {what}: {exc}") from exc


class EvmRpc:
    def __init__(self, w3: AsyncWeb3[Any], network: str, token: str) -> None:
        self._w3, self.network = w3, network
        self.token = to_checksum_address(token)

    @classmethod
    def connect(cls, rpc_url: str, network: str, token: str) -> EvmRpc:
        provider = AsyncHTTPProvider(rpc_url, request_kwargs={"timeout": 20})
        return cls(AsyncWeb3(provider), network, token)

    async def close(self) -> None:
        provider = self._w3.provider
        if isinstance(provider, AsyncHTTPProvider):
            await provider.disconnect()

    async def chain_id(self) -> int:
        with _calling("eth_chainId"):
            return int(await self._w3.eth.chain_id)

    async def head(self) -> int:
        with _calling("eth_blockNumber"):
            return int(await self._w3.eth.block_number)

    async def checkpoint(self, number: int) -> Checkpoint | None:
        """The block at `number` now, or None if the chain is not that long (any more)."""
        with _calling("eth_getBlockByNumber"):
            try:
                block = await self._w3.eth.get_block(number)
            except BlockNotFound:
                return None
        return Checkpoint(number, _hex(block["hash"]))

    async def _call(self, data: str, block: BlockIdentifier = "latest") -> bytes:
        params = cast(TxParams, {"to": self.token, "data": data})
        with _calling("eth_call"):
            return bytes(await self._w3.eth.call(params, block))

    async def token_decimals(self) -> int:
        return int.from_bytes(await self._call(_DECIMALS), "big")

    async def token_balance(self, address: str, block: int | None = None) -> int:
        data = _BALANCE_OF + _word(int(address, 16))
        return int.from_bytes(await self._call(data, "latest" if block is None else block), "big")

    async def native_balance(self, address: str) -> int:
        with _calling("eth_getBalance"):
            return int(await self._w3.eth.get_balance(to_checksum_address(address)))

    async def nonce(self, address: str, block: int | None = None) -> int:
        """Transactions from `address` mined by `block` (latest if None): its next nonce."""
        with _calling("eth_getTransactionCount"):
            found = await self._w3.eth.get_transaction_count(
                to_checksum_address(address), "latest" if block is None else block
            )
        return int(found)

    async def transfers(
        self,
        from_block: int,
        to_block: int,
        *,
        senders: Sequence[str] = (),
        recipients: Sequence[str] = (),
    ) -> list[ChainTransfer]:
        """The token's Transfer logs in the range, from any of `senders` (any sender if
        empty) to any of `recipients` (anyone if empty)."""
        topics: list[Any] = [
            TRANSFER_TOPIC,
            [_topic(a) for a in senders] or None,
            [_topic(a) for a in recipients] or None,
        ]
        params = cast(
            FilterParams,
            {"address": self.token, "fromBlock": from_block, "toBlock": to_block, "topics": topics},
        )
        with _calling("eth_getLogs"):
            logs = await self._w3.eth.get_logs(params)
            return [self._transfer(log) for log in logs if len(log["topics"]) == 3]

    async def transfers_between(
        self,
        start: int,
        end: int,
        *,
        max_range: int,
        max_addresses: int,
        senders: Sequence[str] = (),
        recipients: Sequence[str] = (),
    ) -> list[ChainTransfer]:
        """`transfers` over any range and address list, in pieces the endpoint accepts, by
        block and position. One side must name addresses: [] if neither does."""
        named = list(senders or recipients)
        found: list[ChainTransfer] = []
        for first in range(start, end + 1, max_range):
            last = min(first + max_range - 1, end)
            for i in range(0, len(named), max_addresses):
                group = named[i : i + max_addresses]
                found += await self.transfers(
                    first,
                    last,
                    senders=group if senders else (),
                    recipients=group if not senders else (),
                )
        return sorted(found, key=lambda t: (t.block.number, t.position))

    def _transfer(self, log: Any) -> ChainTransfer:
        return ChainTransfer(
            network=self.network,
            tx_hash=_hex(log["transactionHash"]),
            position=int(log["logIndex"]),
            block=Checkpoint(int(log["blockNumber"]), _hex(log["blockHash"])),
            sender=to_checksum_address(bytes(log["topics"][1])[-20:]),
            recipient=to_checksum_address(bytes(log["topics"][2])[-20:]),
            micros=int.from_bytes(bytes(log["data"]), "big"),
        )

    async def fees(self) -> Fees:
        with _calling("eth_getBlockByNumber/eth_maxPriorityFeePerGas"):
            block = await self._w3.eth.get_block("latest")
            tip = await self._w3.eth.max_priority_fee
        return Fees(int(block.get("baseFeePerGas", 0)), int(tip))

    def transfer_data(self, recipient: str, micros: int) -> str:
        return _TRANSFER + _word(int(recipient, 16)) + _word(micros)

    async def estimate_transfer(self, sender: str, recipient: str, micros: int) -> int:
        params = cast(
            TxParams,
            {
                "from": to_checksum_address(sender),
                "to": self.token,
                "data": self.transfer_data(recipient, micros),
            },
        )
        with _calling("eth_estimateGas"):
            try:
                return int(await self._w3.eth.estimate_gas(params))
            except ContractLogicError as exc:  # args: (message, data)
                raise WouldRevert(str(exc.args[0] if exc.args else exc)) from exc

    async def send_raw(self, raw: str) -> Sent:
        with _calling("eth_sendRawTransaction"):
            try:
                await self._w3.eth.send_raw_transaction(HexBytes(raw))
            except Web3RPCError as exc:  # the node refused it: say how
                return Sent(classify(str(exc)), str(exc))
        return Sent(SendOutcome.ACCEPTED)

    async def receipt(self, tx_hash: str) -> Receipt | None:
        """The receipt if the transaction is mined in the node's current chain."""
        with _calling("eth_getTransactionReceipt"):
            try:
                found = await self._w3.eth.get_transaction_receipt(HexBytes(tx_hash))
            except TransactionNotFound:
                return None
        block = Checkpoint(int(found["blockNumber"]), _hex(found["blockHash"]))
        transfers = [
            self._transfer(log)
            for log in found["logs"]
            if log["address"] == self.token
            and len(log["topics"]) == 3
            and _hex(log["topics"][0]) == TRANSFER_TOPIC
        ]
        return Receipt(_hex(found["transactionHash"]), block, found["status"] == 1, transfers)

    async def known(self, tx_hash: str) -> bool:
        """Whether the node has the transaction (waiting to be mined, or mined)."""
        with _calling("eth_getTransactionByHash"):
            try:
                await self._w3.eth.get_transaction(HexBytes(tx_hash))
            except TransactionNotFound:
                return False
        return True
