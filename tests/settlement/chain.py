"""A real EVM chain in-process (eth-tester on py-evm) with a real USDC-like ERC-20, for
the settlement tests; the adapter talks to it through web3.py exactly as to an RPC node.

Two things a node does that eth-tester does not are bridged here, test-side only:
eth-tester raises Python exceptions where a node answers a JSON-RPC error, so
`NodeLikeProvider` turns them into the error responses geth sends ("nonce too low",
"insufficient funds for gas * price + value", code 3 "execution reverted: ..."); and a
node's mempool can lose a transaction (restart, eviction), which `drop_mempool` does.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_tester.exceptions import TransactionFailed
from eth_tester.exceptions import ValidationError as TesterValidationError
from eth_utils.exceptions import ValidationError as EvmValidationError
from web3 import AsyncWeb3
from web3.providers.eth_tester import AsyncEthereumTesterProvider
from web3.types import RPCEndpoint, RPCResponse

CONTRACT = Path(__file__).parent / "contracts" / "usdc.vy"
GWEI = 10**9


@cache
def usdc_artifact() -> tuple[list[Any], str]:
    """(abi, bytecode) of contracts/usdc.vy, compiled offline by vyper (once per run)."""
    import vyper

    out = vyper.compile_code(CONTRACT.read_text(), output_formats=["abi", "bytecode"])
    return out["abi"], out["bytecode"]


def _geth_message(exc: Exception) -> tuple[int, str]:
    text = str(exc)
    if "Invalid transaction nonce" in text:  # "Expected 3, but got 2"
        expected, got = (int(w.strip(",")) for w in text.split() if w.strip(",").isdigit())
        return -32000, (
            f"nonce too low: next nonce {expected}, tx nonce {got}"
            if got < expected
            else f"nonce too high: next nonce {expected}, tx nonce {got}"
        )
    if "cannot afford txn gas" in text or "enough balance" in text:
        return -32000, "insufficient funds for gas * price + value"
    return -32000, text


class NodeLikeProvider(AsyncEthereumTesterProvider):
    async def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        try:
            return await super().make_request(method, params)
        except TransactionFailed as exc:
            error = {"code": 3, "message": str(exc), "data": None}
        except (EvmValidationError, TesterValidationError) as exc:
            code, message = _geth_message(exc)
            error = {"code": code, "message": message}
        return {"jsonrpc": "2.0", "id": 0, "error": error}  # type: ignore[typeddict-item]


class TestChain:
    """The chain, its USDC contract (the deployer is its minter) and test helpers."""

    __test__ = False

    def __init__(self) -> None:
        self.provider = NodeLikeProvider()
        self.w3 = AsyncWeb3(self.provider)
        self.tester = self.provider.ethereum_tester
        self.deployer = ""
        self.usdc: Any = None

    async def deploy(self) -> None:
        abi, bytecode = usdc_artifact()
        self.deployer = (await self.w3.eth.accounts)[0]
        tx = (
            await self.w3.eth.contract(abi=abi, bytecode=bytecode)
            .constructor()
            .transact({"from": self.deployer})
        )
        receipt = await self.w3.eth.wait_for_transaction_receipt(tx)
        self.usdc = self.w3.eth.contract(address=receipt["contractAddress"], abi=abi)

    @property
    def token(self) -> str:
        return str(self.usdc.address)

    async def chain_id(self) -> int:
        return int(await self.w3.eth.chain_id)

    async def head(self) -> int:
        return int(await self.w3.eth.block_number)

    def mine(self, blocks: int = 1, coinbase: str | None = None) -> None:
        if coinbase is None:
            self.tester.mine_blocks(blocks)
        else:
            self.tester.mine_blocks(blocks, coinbase=coinbase)

    def automine(self, on: bool) -> None:
        if on:
            self.tester.enable_auto_mine_transactions()
        else:
            self.tester.disable_auto_mine_transactions()

    def snapshot(self) -> int:
        return int(self.tester.take_snapshot())

    def reorg(self, snapshot: int, blocks: int) -> None:
        """Replace every block after `snapshot` by `blocks` new (empty, longer) ones."""
        self.tester.revert_to_snapshot(snapshot)
        self.mine(blocks, coinbase="0x" + "ee" * 20)

    def drop_mempool(self) -> None:
        """Forget the transactions waiting to be mined, as a restarted node does."""
        self.tester._pending_transactions.clear()

    async def mint(self, to: str, micros: int) -> None:
        await self.usdc.functions.mint(to, micros).transact({"from": self.deployer})

    async def pause(self, flag: bool) -> None:
        await self.usdc.functions.pause(flag).transact({"from": self.deployer})

    async def give_eth(self, to: str, wei: int) -> None:
        await self.w3.eth.send_transaction({"from": self.deployer, "to": to, "value": wei})

    async def balance(self, address: str) -> int:
        return int(await self.usdc.functions.balanceOf(address).call())

    async def funded_account(self, micros: int = 0, wei: int = 10**18) -> LocalAccount:
        account: LocalAccount = Account.create()
        await self.give_eth(account.address, wei)
        if micros:
            await self.mint(account.address, micros)
        return account

    async def send_usdc(
        self, sender: LocalAccount, to: str, micros: int, nonce: int | None = None
    ) -> str:
        """A signed USDC transfer from `sender` (a client paying, or the hot wallet's key
        used by hand); returns its hash."""
        tx = await self.usdc.functions.transfer(to, micros).build_transaction(
            {
                "from": sender.address,
                "nonce": nonce
                if nonce is not None
                else await self.w3.eth.get_transaction_count(sender.address),
                "gas": 100_000,
                "maxFeePerGas": 50 * GWEI,
                "maxPriorityFeePerGas": GWEI,
            }
        )
        signed = sender.sign_transaction(tx)
        tx_hash = await self.w3.eth.send_raw_transaction(signed.raw_transaction)
        return "0x" + tx_hash.hex()


def settings_values(chain_id: int, token: str) -> dict[str, Any]:
    """EvmSettings for the test chain (fees sized for eth-tester's ~1 gwei base fee)."""
    return {
        "network": "base",
        "rpc_url": "in-process",
        "chain_id": chain_id,
        "usdc_address": token,
        "confirmations": 3,
        "max_fee_per_gas": 50 * GWEI,
        "max_priority_fee_per_gas": 2 * GWEI,
        "max_gas": 150_000,
        "stuck_after_blocks": 3,
        "max_block_range": 5,
        "checkpoint_history": 16,
    }
