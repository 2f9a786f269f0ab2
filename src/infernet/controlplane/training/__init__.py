"""Open-market federated LoRA (Book §9.4, workload class C3): a client's fine-tune split
into shards that opted-in nodes train, verified and paid here.

- ``market.py`` is what the rest of the control plane holds (`TrainingMarket`), built by
  `build_training`; ``storage.py`` keeps shard files and adapters on disk.
- ``jobs.py``: the submitter's side: create (budget into escrow), upload shards, status,
  download accepted adapters. ``claims.py``: the node's side: offers, claim, renew,
  release, shard download, adapter upload, report.
- ``checks.py``: what is refused at the door (settings, shard lines, adapter files);
  ``verifier.py``: reproducing a reported loss on the shard's held-out lines (in a
  child process running `infernet.train.verify`) and judging it.
- ``escrow.py``: the budget's hold, each accepted shard's payment with its receipt, and
  the release of what is left; ``sweeper.py``: lapsed claims, verification, job ends.

SQL lives in store/training.py and store/training_claims.py, request and response
models in schemas/training.py, routes in api/training.py and api/training_nodes.py.
"""
