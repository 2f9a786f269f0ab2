"""Backend errors, translated at the adapter boundary so nothing above sees httpx.

BackendError
├── BackendUnavailable   the engine cannot be reached or answered 5xx
├── BackendTimeout       the engine accepted the request but went silent
├── ModelNotLoaded       the engine does not hold the requested model
├── InstallFailed        pulling or deleting a model failed (reason in the message)
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


class InstallFailed(BackendError):
    pass


class UnsupportedOperation(BackendError):
    pass
