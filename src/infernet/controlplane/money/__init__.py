"""Money: escrow and settlement on the double-entry ledger, prices, payouts, receipts."""
