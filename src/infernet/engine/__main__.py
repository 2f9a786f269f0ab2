"""`python -m infernet.engine --model FILE.gguf [--alias NAME] [--host H] [--port P]`, or
`python -m infernet.engine --system-info`: which instruction sets llama.cpp uses here."""

from __future__ import annotations

import argparse
import faulthandler
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m infernet.engine", description=__doc__)
    parser.add_argument("--model", type=Path, help="path to a GGUF file")
    parser.add_argument("--alias", help="name to serve the model under (default: file name)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--ctx-size", type=int, default=None, help="default: the model's trained context"
    )
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=512, help="llama.cpp's n_batch")
    parser.add_argument("--system-info", action="store_true", help="print llama.cpp's and exit")
    args = parser.parse_args()
    # A crash inside llama.cpp (SIGSEGV, SIGILL, ...) leaves the Python stack in the log;
    # the signal is then re-raised, so the node still sees how the engine died.
    faulthandler.enable()
    if args.system_info:
        import llama_cpp

        print(llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip())
        return
    if args.model is None:
        parser.error("--model is required")
    serve(args)


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    from infernet.engine.model import LoadedModel
    from infernet.engine.server import create_engine_app

    try:
        model = LoadedModel(
            args.model,
            args.alias or args.model.name,
            n_ctx=args.ctx_size,
            n_threads=args.threads,
            n_batch=args.batch_size,
        )
    except (OSError, ValueError) as exc:  # llama-cpp-python: ValueError("Failed to load ...")
        sys.exit(f"infernet engine: cannot serve {args.model}: {exc}")
    print(f"infernet engine: {model.context.describe(model.alias)}", flush=True)
    uvicorn.run(create_engine_app(model), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
