"""Settlement: how money enters and leaves the ledger (Book §6.3-6.4, PAY-01..06).

    base.py          the adapter interface (`Settlement`) the control plane calls
    ledger_mode.py   `--settlement ledger`: ledger-only credits and pending payouts
    evm/             `--settlement evm`: USDC on Base, Ethereum, Polygon or Arbitrum
    store.py         what settlement keeps, as protocols the control plane implements
    records.py       chain-neutral records (blocks, transfers, deposits, claims, attempts)
    reconcile.py     the reconciliation report

What is settled on chain in EVM mode: client deposits (USDC transfers to per-account
addresses, credited after N confirmations) and operator payouts (USDC transfers from the
hot wallet). What is not: job escrow and the platform fee stay in the ledger (the Book's
escrow contract, `redeem`/`withdraw`, is not deployed); receipts are signed and stored
but not verified by a contract. Solana (SPL USDC) is next; the interface is shaped for it.
"""
