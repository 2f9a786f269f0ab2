"""Protocol-faithful fake inference engines (Ollama, vLLM, SGLang, MAX, llama-server).

Each is a small FastAPI app written from the engine's published API docs or server source
(named in each module's docstring), run in-process on a loopback port by `server.serve`,
or as a separate process (`python -m tests.fakes.<engine>`) where a test needs the
engine's command line, as managed launch does.
"""
