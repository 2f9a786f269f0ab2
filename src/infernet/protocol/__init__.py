"""What the control plane and the node daemon share: wire schemas, keys, request
signing, receipts, model-name normalization and VRAM-fit math."""
