"""Backend errors, translated at the adapter boundary so nothing above sees httpx.

BackendError
├── BackendUnavailable   the engine cannot be reached or answered 5xx
│   └── EngineCrashed    the engine process this node started died (signal or exit status)
├── BackendTimeout       the engine accepted the request but went silent
├── ModelNotLoaded       the engine does not hold the requested model
├── ContextLengthExceeded the prompt does not fit the engine's context (the client's fault)
├── InstallFailed        pulling or deleting a model failed (reason in the message)
│   └── EngineStartFailed an engine process this node starts exited or never got healthy
└── UnsupportedOperation the engine cannot do this at all (e.g. pull on a fixed server)
"""


class BackendError(Exception):
    """Base class: something went wrong talking to the inference engine."""


class BackendUnavailable(BackendError):
    pass


class BackendTimeout(BackendError):
    pass


class ModelNotLoaded(BackendError):
    pass


class ContextLengthExceeded(BackendError):
    """The engine refused a prompt that does not fit its context: the request's fault, not
    the engine's. Carries the engine's own numbers where its refusal gave them."""

    def __init__(
        self, message: str, prompt_tokens: int | None = None, context_length: int | None = None
    ) -> None:
        super().__init__(message)
        self.prompt_tokens = prompt_tokens
        self.context_length = context_length

    def room_for_answer(self) -> int | None:
        """Tokens left for the answer once the prompt is in (one position kept free, as
        SGLang and llama.cpp need); None when the numbers are unknown."""
        if self.prompt_tokens is None or self.context_length is None:
            return None
        return self.context_length - self.prompt_tokens - 1


class EngineCrashed(BackendUnavailable):
    pass


class InstallFailed(BackendError):
    pass


class EngineStartFailed(InstallFailed):
    pass


class UnsupportedOperation(BackendError):
    pass
