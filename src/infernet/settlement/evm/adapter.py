"""`--settlement evm`: USDC on one EVM chain, composed from the watcher, the payer and the
reconciler over one RPC endpoint and the control plane's store.

Deposits need `deposit_xpub` (hdkeys.py says why addresses, not a contract); payouts need
the hot-wallet key (hotwallet.py). Either may be absent: that half is off and says so.
`start` checks that the endpoint serves the configured chain and that the token has 6
decimals, follows every payout in flight (recovery after a crash), then reconciles.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from infernet.settlement.base import DepositInstructions, TickReport
from infernet.settlement.errors import SettlementConfigError, SettlementError
from infernet.settlement.evm.config import EvmSettings
from infernet.settlement.evm.hdkeys import DepositAddresses
from infernet.settlement.evm.hotwallet import KEY_ENV, HotWallet
from infernet.settlement.evm.payer import Payer, PayResult
from infernet.settlement.evm.reconcile import EvmReconciler
from infernet.settlement.evm.rpc import EvmRpc
from infernet.settlement.evm.watcher import DepositWatcher, WatchResult
from infernet.settlement.reconcile import ReconciliationReport
from infernet.settlement.store import SettlementStore

log = logging.getLogger("infernet.settlement")
USDC_DECIMALS = 6


class EvmSettlement:
    mode = "evm"

    def __init__(
        self,
        settings: EvmSettings,
        rpc: EvmRpc,
        store: SettlementStore,
        wallet: HotWallet | None,
        addresses: DepositAddresses | None,
    ) -> None:
        self.settings, self.network = settings, settings.network
        self._rpc, self._store, self._addresses = rpc, store, addresses
        self.watcher = DepositWatcher(rpc, store, settings) if addresses is not None else None
        self.payer = Payer(rpc, store, wallet, settings)
        self.reconciler = EvmReconciler(
            rpc, store, settings, wallet.address if wallet is not None else None
        )

    @classmethod
    def open(
        cls, settings: EvmSettings, store: SettlementStore, environ: Mapping[str, str] = os.environ
    ) -> EvmSettlement:
        """Load the keys (a bad key file is an error; none at all turns payouts off) and
        connect to the endpoint (lazily: `start` makes the first call)."""
        wallet = None
        if settings.hot_wallet_key_file is not None or KEY_ENV in environ:
            wallet = HotWallet.load(settings.hot_wallet_key_file, environ)
        addresses = DepositAddresses(settings.deposit_xpub) if settings.deposit_xpub else None
        rpc = EvmRpc.connect(settings.rpc_url, settings.network, settings.usdc_address)
        return cls(settings, rpc, store, wallet, addresses)

    async def check_chain(self) -> None:
        chain_id = await self._rpc.chain_id()
        if chain_id != self.settings.chain_id:
            raise SettlementConfigError(
                f"The RPC endpoint serves chain id {chain_id}, but {self.network} is "
                f"{self.settings.chain_id}: point --rpc-url at a {self.network} endpoint."
            )
        decimals = await self._rpc.token_decimals()
        if decimals != USDC_DECIMALS:
            raise SettlementConfigError(
                f"The token at {self._rpc.token} has {decimals} decimals, USDC has 6: "
                "check the configured USDC address."
            )

    @property
    def confirmations(self) -> int:
        return self.settings.confirmations

    async def check(self) -> str:
        """The endpoint serves the chain and its token is USDC-like; what is on, in words."""
        await self.check_chain()
        deposits = "on" if self._addresses is not None else "off (no deposit xpub)"
        wallet = self.payer.wallet_address
        payouts = f"from the hot wallet {wallet}" if wallet else "off (no hot-wallet key)"
        return (
            f"EVM settlement on {self.network} (chain id {self.settings.chain_id}, USDC "
            f"{self._rpc.token}, {self.settings.confirmations} confirmations): deposits "
            f"{deposits}; payouts {payouts}."
        )

    async def start(self) -> ReconciliationReport:
        await self.check_chain()
        await self.payer.tick_in_flight()
        return await self.reconcile()  # the caller logs and alerts on it

    async def tick(self) -> TickReport:
        errors: list[str] = []
        watched: WatchResult | None = None
        paid = PayResult()
        if self.watcher is not None:
            try:
                watched = await self.watcher.poll()
            except SettlementError as exc:  # payouts go on while deposits cannot
                log.error(f"deposit watcher: {exc}", extra={"network": self.network})
                errors.append(f"deposits: {exc}")
        try:
            paid = await self.payer.tick()
        except SettlementError as exc:
            log.error(f"payer: {exc}", extra={"network": self.network})
            errors.append(f"payouts: {exc}")
        return TickReport(
            head=watched.head if watched else None,
            credited=watched.credited if watched else 0,
            reversed=watched.reversed if watched else 0,
            unconfirmed=watched.unconfirmed if watched else 0,
            sent=paid.sent,
            confirmed=paid.confirmed,
            waiting=paid.waiting,
            errors=errors,
        )

    async def reconcile(self, from_block: int | None = None) -> ReconciliationReport:
        return await self.reconciler.run(from_block)

    async def deposit_instructions(self, account_id: str) -> DepositInstructions:
        confirmations = self.confirmations
        if self._addresses is None:
            return DepositInstructions(
                self.mode,
                self.network,
                None,
                None,
                confirmations,
                None,
                "Deposits are not enabled on this control plane (no deposit xpub is "
                "configured); ask its operator.",
            )
        address = await self._store.deposit_address(
            self.network, account_id, self._addresses.address
        )
        token = self._rpc.token
        return DepositInstructions(
            mode=self.mode,
            network=self.network,
            address=address,
            token_contract=token,
            confirmations=confirmations,
            payment_uri=f"ethereum:{token}@{self.settings.chain_id}/transfer?address={address}",
            note=(
                f"Send USDC on {self.network} to {address}. It is credited after "
                f"{confirmations} confirmations. Only USDC on {self.network} is credited: "
                "another token, or USDC on another chain, is not."
            ),
        )

    async def close(self) -> None:
        await self._rpc.close()
