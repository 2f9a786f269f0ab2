"""The control plane: node registry, router, job lifecycle, client APIs, ledger, dashboard.

Where things live (by role; the root keeps only the composition):

- ``app.py`` builds everything (`create_app`), ``services.py`` is what it builds,
  ``settings.py`` and ``errors.py`` are read everywhere.
- ``api/``: HTTP and WebSocket routes, thin: parse, check, call, answer.
- ``jobs/``: a job's life. ``manager.py`` is the one owner of job state (``owner.py`` is
  the protocol the rest sees); ``router.py`` picks a node, ``explain.py`` says why others
  were passed over; ``failover.py`` and ``takeover.py`` take jobs back from lost nodes
  and dead replicas; ``cluster.py`` is this replica's part among several; ``streams.py``,
  ``reading.py`` and ``sse.py``/``openai_sse.py`` carry tokens to readers;
  ``provenance.py`` checks what a node signed.
- ``money/``: escrow, charging and paying (``billing.py`` on the double-entry
  ``ledger.py``), prices, payouts, receipt checks, the platform key.
- ``nodes/``: the live registry, node auth, heartbeat intake, registration, and the
  caches every replica keeps of node and key facts.
- ``watchers/``: background work: the job sweeper, heartbeat flushes, liveness and
  offline webhooks, integrity canaries.
- ``limits/``: per-key request limits (in memory, or in Redis across replicas).
- ``bus/``: what crosses replicas (in process, or Redis).
- ``web/``: the HTTP server, middleware, Prometheus metrics.
- ``store/``: every SQL statement, one module per noun; ``schemas/``: request and
  response models by noun; ``dashboard/``: server-rendered pages.
"""
