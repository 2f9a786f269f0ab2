"""Backend errors, translated at the adapter boundary so nothing above sees httpx.

BackendError
├── BackendUnavailable   the engine cannot be reached or answered 5xx
│   └── EngineCrashed    the engine process this node started died (signal or exit status)
├── BackendTimeout       the engine accepted the request but went silent
├── ModelNotLoaded       the engine does not hold the requested model
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


class EngineCrashed(BackendUnavailable):
    pass


class InstallFailed(BackendError):
    pass


class EngineStartFailed(InstallFailed):
    pass


class UnsupportedOperation(BackendError):
    pass
