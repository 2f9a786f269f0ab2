"""Fine-tuning on Infernet (Book §9.4, §9.5): crawl pages into ChatML data, scaffold and run a
LoRA fine-tune locally, and publish the result as a GGUF the network can serve.

Needs the optional extra `infernet[train]` (torch, transformers, peft, trl, trafilatura,
gguf); modules import those lazily so the rest of the CLI starts without them.
"""
