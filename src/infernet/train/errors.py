"""Errors of the training pipeline; the CLI maps each to an exit code.

TrainError
├── TrainConfigError    infernet.train.yml is missing or invalid (names the key)     exit 3
├── MissingDependency   a runtime or tool is not installed (names the install)     exit 3
├── DataError           the dataset or the crawl cannot be used                    exit 1
├── RunError            training itself failed, or the run directory is unusable   exit 1
└── PublishError        merge, conversion, quantization or an upload failed        exit 1
"""


class TrainError(Exception):
    """Base class: the message says what went wrong and what to do."""


class TrainConfigError(TrainError):
    pass


class MissingDependency(TrainError):
    pass


class DataError(TrainError):
    pass


class RunError(TrainError):
    pass


class PublishError(TrainError):
    pass


TRAIN_EXTRA = "pip install 'infernet[train]'"


def require_train_extra() -> None:
    """Fail with the install command when the `train` extra is not installed."""
    import importlib.util

    missing = [
        name
        for name in ("torch", "transformers", "peft", "trl", "datasets", "gguf")
        if importlib.util.find_spec(name) is None
    ]
    if missing:
        raise MissingDependency(
            f"{', '.join(missing)} not installed: training needs the train extra ({TRAIN_EXTRA})."
        )
