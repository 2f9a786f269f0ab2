"""The embedded inference engine: llama.cpp (through the llama-cpp-python bindings) behind
the same HTTP API as llama.cpp's own `llama-server`, so the node's llama.cpp adapter talks
to either one unchanged. It exists because llama-cpp-python's bundled server reports no
token usage when streaming, and Infernet meters every job on real token counts.
"""
