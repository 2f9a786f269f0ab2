"""Uploading a published model to the Hugging Face Hub (Book §9.5 step 1), as
`huggingface-cli upload` does it: `huggingface_hub.HfApi` with the token from
`HUGGINGFACE_TOKEN` (write scope), into `--hf-repo` (default: your user / the run name).
`HF_ENDPOINT` points it at another Hub.
"""

from __future__ import annotations

import os
from pathlib import Path

from infernet.train.errors import MissingDependency, PublishError

TOKEN_ENV = "HUGGINGFACE_TOKEN"


def hub_token() -> str:
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise MissingDependency(
            f"uploading to Hugging Face needs a write token in {TOKEN_ENV} "
            "(huggingface.co/settings/tokens), or publish with --skip-hf"
        )
    return token


def upload_folder(folder: Path, repo: str | None, name: str, ignore: list[str]) -> str:
    """Create the model repo if needed and upload `folder`; returns the repo id."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(token=hub_token())
    try:
        repo_id = repo or f"{api.whoami()['name']}/{name}"
        api.create_repo(repo_id, repo_type="model", exist_ok=True)
        api.upload_folder(
            folder_path=str(folder),
            repo_id=repo_id,
            commit_message=f"Publish {name}",
            ignore_patterns=ignore,
        )
    except HfHubHTTPError as exc:
        raise PublishError(f"the Hugging Face upload failed: {exc}") from exc
    return repo_id
