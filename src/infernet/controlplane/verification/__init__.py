"""Verifying what untrusted nodes serve (issue 18): spot-checks of delivered answers
against a trusted engine (spotcheck.py, scoring.py), hidden checks that look like traffic
(pool.py, watchers/hidden_checks.py), a compute budget (budget.py) and a reputation that
routing and payouts respect (reputation.py)."""
