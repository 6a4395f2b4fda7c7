"""Datasets in (text lines, JSON Lines, CSV) and results out (JSON Lines → Parquet)."""

from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Iterator
from typing import Any

from .engine import InputError, Row

logger = logging.getLogger("seldon_py.batch")

#: a CSV field or an input line longer than this is refused (bounded before it is parsed)
MAX_LINE_BYTES = 64 * 1024 * 1024


def open_input(path: str) -> Any:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise InputError(f"cannot read input {path}: {exc.strerror or exc}") from None


def count_lines(path: str) -> int | None:
    """Number of lines (for the progress ETA); None if the file cannot be counted cheaply."""
    try:
        if not os.path.isfile(path):
            return None
        n, last = 0, b"\n"
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                n += chunk.count(b"\n")
                last = chunk[-1:]
        return n + (last != b"\n")
    except OSError:
        return None


def read_lines(path: str) -> Iterator[Row]:
    """Every line of a text file as a Row of its text (without the newline); a blank line or one
    that is not UTF-8 is a row holding an InputError, so it is reported, not skipped."""
    with open_input(path) as fh:
        index = -1
        while raw := fh.readline(MAX_LINE_BYTES + 1):
            index += 1
            if len(raw) > MAX_LINE_BYTES:
                while raw and not raw.endswith(b"\n"):  # skip the rest without holding it
                    raw = fh.readline(1 << 20)
                yield Row(index, InputError(f"line longer than {MAX_LINE_BYTES} bytes"))
                continue
            try:
                text = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                yield Row(index, InputError(f"line is not UTF-8: {exc}"))
                continue
            yield Row(index, text if text.strip() else InputError("empty line"))


def read_json_lines(path: str) -> Iterator[Row]:
    """JSON Lines: each line a JSON object (the features of one row)."""
    for row in read_lines(path):
        if isinstance(row.value, InputError):
            yield row
            continue
        try:
            obj = json.loads(row.value)
        except ValueError as exc:
            yield Row(row.index, InputError(f"not JSON: {exc}"))
            continue
        yield Row(row.index, obj if isinstance(obj, dict) else InputError(
            f"a JSON Lines dataset row must be an object, got {type(obj).__name__}"))


def _cell(text: str) -> Any:
    """A CSV cell: int or float when it reads as one, else the text ('' stays '')."""
    t = text.strip()
    if not t:
        return text
    try:
        return int(t)
    except ValueError:
        pass
    try:
        return float(t)
    except ValueError:
        return text


def read_csv(path: str) -> Iterator[Row]:
    """CSV with a header row; numeric-looking cells become numbers."""
    csv.field_size_limit(MAX_LINE_BYTES)
    try:
        fh = open(path, newline="", encoding="utf-8")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise InputError(f"cannot read input {path}: {exc.strerror or exc}") from None
    with fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: cannot read the CSV header: {exc}") from None
        index = 0
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except (csv.Error, UnicodeDecodeError) as exc:
                yield Row(index, InputError(f"CSV row unreadable: {exc}"))
                index += 1
                continue
            if not cells:
                continue  # csv's blank line
            if len(cells) != len(header):
                yield Row(index, InputError(f"CSV row has {len(cells)} cells, the header {len(header)}"))
            else:
                yield Row(index, {k: _cell(v) for k, v in zip(header, cells, strict=True)})
            index += 1


def dataset_format(path: str, fmt: str | None) -> str:
    if fmt:
        return fmt
    lower = path.lower()
    if lower.endswith(".csv"):
        return "csv"
    return "jsonl"


def read_dataset(path: str, fmt: str | None = None) -> Iterator[Row]:
    fmt = dataset_format(path, fmt)
    if fmt == "csv":
        return read_csv(path)
    if fmt in ("jsonl", "json"):
        return read_json_lines(path)
    raise InputError(f"unknown dataset format {fmt!r} (jsonl or csv)")


def iter_json_lines(path: str) -> Iterator[dict[str, Any]]:
    """The records of a results file (JSON Lines written by this package)."""
    with open(path, "rb") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def write_parquet(jsonl_path: str, parquet_path: str) -> bool:
    """Convert a results JSON Lines file to Parquet; False (and a log line) without pyarrow.

    Columns whose values do not share one Arrow type (e.g. ``output`` that is sometimes a list,
    sometimes a dict) are stored as JSON text."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        logger.info("pyarrow is not installed: results stay JSON Lines only (%s)", jsonl_path)
        return False
    rows = list(iter_json_lines(jsonl_path))
    columns: dict[str, list[Any]] = {}
    for i, rec in enumerate(rows):
        for key in rec:
            if key not in columns:
                columns[key] = [None] * i
        for key, values in columns.items():
            values.append(rec.get(key))
    arrays = {}
    for key, values in columns.items():
        try:
            arrays[key] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            arrays[key] = pa.array([None if v is None else json.dumps(v) for v in values], type=pa.string())
    table = pa.table(arrays) if arrays else pa.table({})
    tmp = parquet_path + ".tmp"
    pq.write_table(table, tmp)
    os.replace(tmp, parquet_path)
    return True
