"""Infernet: a decentralized network for GPU inference.

One package, three roles: the control plane (`infernet.controlplane`), the node daemon
(`infernet.node`) with its inference backends (`infernet.backends`), and the CLI
(`infernet.cli`). What both sides of the wire share lives in `infernet.protocol`.
"""

__version__ = "0.1.0"
