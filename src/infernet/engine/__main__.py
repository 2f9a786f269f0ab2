"""`python -m infernet.engine --model FILE.gguf [--alias NAME] [--host H] [--port P]`."""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from infernet.engine.model import LoadedModel
from infernet.engine.server import create_engine_app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m infernet.engine", description=__doc__)
    parser.add_argument("--model", type=Path, required=True, help="path to a GGUF file")
    parser.add_argument("--alias", help="name to serve the model under (default: file name)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--ctx-size", type=int, default=None, help="default: the model's trained context"
    )
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    model = LoadedModel(
        args.model, args.alias or args.model.name, n_ctx=args.ctx_size, n_threads=args.threads
    )
    print(f"infernet engine: {model.context.describe(model.alias)}", flush=True)
    uvicorn.run(create_engine_app(model), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
