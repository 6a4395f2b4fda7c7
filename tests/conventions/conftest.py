"""Keep the real starwhale package (when installed) from writing into the home directory."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def starwhale_storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    root = tmp_path_factory.mktemp("starwhale")
    saved = {k: os.environ.get(k) for k in ("SW_CLI_CONFIG", "SW_LOCAL_STORAGE")}
    os.environ["SW_CLI_CONFIG"] = str(root / "config.yaml")
    os.environ["SW_LOCAL_STORAGE"] = str(root / "storage")
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
