"""``seldon-core-microservice``: parse settings, set up logging, run the microservice."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Sequence

from .settings import ANNOTATIONS_PATH, ConfigError, parse_settings

PROG = "seldon-core-microservice"
LOG_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"


def _read_annotations(path: str = ANNOTATIONS_PATH) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError:
        return ""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns (and exits with) the process status."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        settings = parse_settings(args, os.environ, _read_annotations())
    except ConfigError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        print(f"Run '{PROG} --help' for the options.", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format=LOG_FORMAT, stream=sys.stderr, force=True)
    log = logging.getLogger("seldon_py")
    for warning in settings.warnings:
        log.warning("%s", warning)

    from .server import Microservice, StartupError

    try:
        return Microservice(settings).run()
    except StartupError as exc:
        cause = exc.__cause__
        if cause is not None and not isinstance(cause, ModuleNotFoundError):
            traceback.print_exception(cause, file=sys.stderr)
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
