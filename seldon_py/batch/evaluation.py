"""``seldon-evaluate``: Starwhale-style predict → results table → evaluate, on the batch engine.

Subcommands (see ``seldon-evaluate --help`` and docs):

* ``run TARGET --dataset D --output-dir O``: call a ``predict`` function (plain, or decorated with
  ``starwhale``'s or our ``@evaluation.predict``) on every row of a JSON Lines or CSV dataset, with
  ``batch_size`` rows per call and ``replicas`` concurrent workers; write the results table
  ``O/results.jsonl`` in input order (``O/results.parquet`` too with pyarrow), resumably; then run
  ``evaluate`` (the ``@evaluation.evaluate`` function that ``needs`` it, or ``--evaluate``) and the
  built-in classification report when ``--label`` is given.
* ``merge --output-dir O SHARD...``: join the results of ``run --shard i/n`` runs in dataset order,
  then evaluate once.
* ``evaluate DIR``: run evaluate / the report again on a finished results table.

Results table columns (Starwhale's): ``id``, ``_index`` (row in the dataset), ``_mode``,
``input/<feature>`` (``log_dataset_features``, default all), ``output``, ``duration_seconds``, and
``error`` on a failed row (kept in the table, never passed to evaluate).
"""

from __future__ import annotations

import argparse
import heapq
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from ..util import jsonutil
from .datasets import count_lines, dataset_format, iter_json_lines, read_dataset, write_parquet
from .engine import (
    Engine,
    EngineOptions,
    InputError,
    Row,
    RowResult,
    StoppedOnFailure,
    parse_shard,
    select_shard,
    skip,
    stop_on_sigterm,
)
from .journal import ResumableOutput, ResumeError, read_journal
from .progress import Progress, format_summary
from .report import ReportError, classification_report, plot_confusion_matrix
from .starwhale_compat import (
    AttrDict,
    PredictOptions,
    TargetError,
    evaluate_options,
    find_evaluate,
    load_function,
    predict_caller,
    predict_options,
)

logger = logging.getLogger("seldon_py.batch")

RESULTS = "results.jsonl"
#: a failed row's error text is cut to this length in the results table
MAX_ERROR_CHARS = 2000


def _dump(obj: Any) -> bytes:
    return jsonutil.dumps(obj).rstrip(b"\n")


class PredictTask:
    """Calls a Starwhale-style predict function and builds results-table rows."""

    def __init__(self, func: Callable[..., Any], opts: PredictOptions, dataset_uri: str,
                 id_column: str | None, extra_features: list[str]) -> None:
        self.call_fn = predict_caller(func)
        self.opts = opts
        self.dataset_uri = dataset_uri
        self.dataset_name = os.path.splitext(os.path.basename(dataset_uri))[0]
        self.id_column = id_column
        self.features = None if opts.log_dataset_features is None else \
            list(dict.fromkeys([*opts.log_dataset_features, *extra_features]))

    def _id(self, row: Row) -> Any:
        if self.id_column and isinstance(row.value, dict) and self.id_column in row.value:
            return row.value[self.id_column]
        return row.index

    def _external(self, row: Row) -> dict[str, Any]:
        rid = self._id(row)
        return {"index": rid, "index_with_dataset": f"{self.dataset_name}_#@#_{rid}",
                "dataset_info": None, "context": None, "dataset_uri": self.dataset_uri}

    def _base(self, row: Row) -> dict[str, Any]:
        rec: dict[str, Any] = {"id": self._id(row), "_index": row.index, "_mode": "plain"}
        if isinstance(row.value, dict):
            keys = row.value.keys() if self.features is None else self.features
            for k in keys:
                if k in row.value:
                    rec[f"input/{k}"] = row.value[k]
        return rec

    def call(self, rows: list[Row]) -> list[RowResult]:
        for row in rows:
            if isinstance(row.value, InputError):
                raise row.value
        started = time.perf_counter()
        if self.opts.batch_size > 1:
            outputs = self.call_fn([AttrDict(r.value) for r in rows], self._external(rows[0]))
            if not isinstance(outputs, (list, tuple)) or len(outputs) != len(rows):
                got = len(outputs) if isinstance(outputs, (list, tuple)) else type(outputs).__name__
                raise InputError(f"predict with batch_size {self.opts.batch_size} must return a list of "
                                 f"{len(rows)} outputs, got {got}")
        else:
            outputs = [self.call_fn(AttrDict(rows[0].value), self._external(rows[0]))]
        seconds = time.perf_counter() - started
        results = []
        for row, out in zip(rows, outputs, strict=True):
            if out is None or not self.opts.auto_log:
                results.append(RowResult([]))  # Starwhale logs no row for None
                continue
            rec = self._base(row)
            rec["output"] = out
            rec["duration_seconds"] = seconds
            try:
                results.append(RowResult([_dump(rec)]))
            except TypeError as exc:
                raise InputError(f"the output cannot be stored as JSON: {exc}") from None
        return results

    def failure(self, row: Row, error: BaseException) -> RowResult:
        rec = self._base(row)
        rec["error"] = f"{type(error).__name__}: {error}"[:MAX_ERROR_CHARS]
        return RowResult([_dump(rec)], failed=True)

    def retryable(self, error: BaseException) -> bool:
        return not isinstance(error, InputError)


# ---------------------------------------------------------------- evaluate
def result_rows(path: str) -> Iterator[dict[str, Any]]:
    """The successful rows of a results table as ``evaluate`` receives them (Starwhale's shape).

    A batch processor output line (merged shards of ``seldon-batch-processor``) becomes
    ``{"id": batch_index, "index": batch_index, "input": {}, "output": <the response message>}``."""
    for rec in iter_json_lines(path):
        if "error" in rec:
            continue
        if "_index" not in rec:
            status = rec.get("status")
            if isinstance(status, dict) and status.get("info") == "FAILURE":
                continue
            index = _merge_key(rec)
            yield {"id": index, "index": index, "input": {}, "output": rec, "duration_seconds": None}
            continue
        yield {"id": rec.get("id"), "index": rec.get("_index"),
               "input": {k[6:]: v for k, v in rec.items() if k.startswith("input/")},
               "output": rec.get("output"), "duration_seconds": rec.get("duration_seconds")}


def _pick(value: Any, key: str | None) -> Any:
    if key is None:
        return value
    for part in key.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def build_report(results_path: str, out_dir: str, label: str, prediction_key: str | None,
                 scores_key: str | None) -> dict[str, Any]:
    y_true, y_pred, scores = [], [], []
    skipped = 0
    for row in result_rows(results_path):
        truth = row["input"].get(label)
        pred = _pick(row["output"], prediction_key)
        if truth is None or pred is None or isinstance(pred, (dict, list)):
            skipped += 1
            continue
        y_true.append(truth)
        y_pred.append(pred)
        if scores_key:
            scores.append(_pick(row["output"], scores_key))
    if scores_key and any(s is None for s in scores):
        raise ReportError(f"--scores-key {scores_key!r} is missing from some outputs")
    report = classification_report(y_true, y_pred, scores if scores_key else None)
    report["skipped_rows"] = skipped
    with open(os.path.join(out_dir, "report.json"), "w") as fh:
        json.dump(report, fh, indent=2)
    plot_confusion_matrix(report, os.path.join(out_dir, "confusion_matrix.png"))
    logger.info("Report: accuracy %.4f over %d rows%s → %s", report["accuracy"], report["rows"],
                f", ROC AUC {report['roc_auc']:.4f}" if report.get("roc_auc") is not None else "",
                os.path.join(out_dir, "report.json"))
    return report


def run_evaluate(func: Callable[..., Any] | None, results_path: str, out_dir: str) -> Any:
    if func is None:
        return None
    opts = evaluate_options(func)
    summary = func(result_rows(results_path)) if opts.use_predict_auto_log else func()
    path = os.path.join(out_dir, "summary.json")
    with open(path, "w") as fh:
        json.dump(summary, fh, indent=2, default=lambda o: json.loads(_dump(o)))
    logger.info("evaluate %s → %s", getattr(func, "__name__", func), path)
    return summary


def finish(args: argparse.Namespace, results_path: str, out_dir: str, evaluate: Callable[..., Any] | None) -> None:
    if args.parquet != "no":
        ok = write_parquet(results_path, os.path.join(out_dir, "results.parquet"))
        if not ok and args.parquet == "yes":
            raise SystemExit("error: --parquet yes needs pyarrow: pip install 'seldon-py[parquet]'")
    run_evaluate(evaluate, results_path, out_dir)
    if args.label:
        try:
            build_report(results_path, out_dir, args.label, args.prediction_key, args.scores_key)
        except ReportError as exc:
            raise SystemExit(f"error: report: {exc}") from None


# ---------------------------------------------------------------- subcommands
def cmd_run(args: argparse.Namespace) -> int:
    try:
        func = load_function(args.target)
        evaluate = load_function(args.evaluate) if args.evaluate else find_evaluate(func)
        shard = parse_shard(args.shard)
    except (TargetError, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from None
    if not os.path.isfile(args.dataset):
        raise SystemExit(f"error: dataset {args.dataset} does not exist")
    opts = predict_options(func)
    for name in ("batch_size", "replicas", "fail_on_error", "auto_log"):
        value = getattr(args, name)
        if value is not None:
            setattr(opts, name, value)
    if args.log_dataset_features is not None:
        opts.log_dataset_features = [f for f in args.log_dataset_features.split(",") if f]
    options = EngineOptions(workers=opts.replicas, batch_size=opts.batch_size, attempts=args.retries,
                            stop_on_failure=opts.fail_on_error)
    try:
        options.validate()
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    out_dir = args.output_dir
    os.makedirs(out_dir, exist_ok=True)
    results_path = os.path.join(out_dir, RESULTS)
    header = {"tool": "seldon-evaluate", "target": args.target, "dataset": os.path.abspath(args.dataset),
              "dataset_bytes": os.path.getsize(args.dataset), "shard": args.shard or "",
              "batch_size": opts.batch_size}
    output = ResumableOutput(results_path, header, resume=not args.no_resume, commit_rows=max(1, args.commit_rows))
    try:
        resumed = output.open()
    except (ResumeError, OSError) as exc:
        raise SystemExit(f"error: {exc}") from None
    fmt = dataset_format(args.dataset, args.format)
    lines = count_lines(args.dataset)
    if lines is not None and fmt == "csv":
        lines -= 1
    total = None if lines is None else (lines if shard is None else len(range(shard[0], lines, shard[1])))
    progress = Progress(total, args.progress, already=resumed.rows)
    extra = [args.label] if args.label else []
    task = PredictTask(func, opts, args.dataset, args.id_column, extra)
    engine = Engine(task, options)
    logger.info("predict %s over %s: batch_size %d, replicas %d, fail_on_error %s, auto_log %s%s",
                args.target, args.dataset, opts.batch_size, opts.replicas, opts.fail_on_error, opts.auto_log,
                f", shard {args.shard}" if args.shard else "")
    try:
        engine.run(skip(select_shard(read_dataset(args.dataset, fmt), shard), resumed.rows), output, progress)
    except StoppedOnFailure as exc:
        logger.error("predict failed on dataset row %d (fail_on_error): %s; rows before it are saved in %s, "
                     "run the same command to retry from that row", exc.row.index, exc.error, results_path)
        return 1
    except InputError as exc:
        raise SystemExit(f"error: {exc}") from None
    summary = progress.summary(output.rows, output.failures)
    with open(os.path.join(out_dir, "run_summary.json"), "w") as fh:
        json.dump(summary, fh, indent=2)
    logger.info("Done: %s", format_summary(summary))
    if shard is not None:
        if args.parquet != "no":
            write_parquet(results_path, os.path.join(out_dir, "results.parquet"))
        logger.info("Shard %s done: run `seldon-evaluate merge` over all shards to evaluate", args.shard)
        return 0
    finish(args, results_path, out_dir, evaluate)
    return 0


def _shard_results(path: str) -> str:
    results = os.path.join(path, RESULTS) if os.path.isdir(path) else path
    if not os.path.isfile(results):
        raise SystemExit(f"error: {path}: no {RESULTS}")
    journal = results + ".journal"
    if os.path.exists(journal):
        _, _, done = read_journal(journal)
        if not done:
            raise SystemExit(f"error: {path} is not finished (its journal has no 'done'): run that shard again")
    return results


def _merge_key(rec: dict[str, Any]) -> int:
    """Dataset index of a record: a results row's ``_index``, or a batch processor line's tag."""
    try:
        if "_index" in rec:
            return int(rec["_index"])
        meta = rec["meta"]
        tags = meta["tags"] if isinstance(meta.get("tags"), dict) else meta
        return int(tags["batch_index"])
    except (KeyError, TypeError, ValueError, AttributeError):
        raise SystemExit(f"error: a record has no dataset index (_index or meta batch_index): {str(rec)[:200]}") \
            from None


def cmd_merge(args: argparse.Namespace) -> int:
    paths = [_shard_results(p) for p in args.shards]
    os.makedirs(args.output_dir, exist_ok=True)
    out_path = os.path.join(args.output_dir, RESULTS)
    if any(os.path.abspath(p) == os.path.abspath(out_path) for p in paths):
        raise SystemExit("error: the merged output would overwrite a shard's results")
    streams = [((_merge_key(r), i, r) for r in iter_json_lines(p)) for i, p in enumerate(paths)]
    n = failed = 0
    last = -1
    tmp = out_path + ".tmp"
    with open(tmp, "wb") as fh:
        for key, _, rec in heapq.merge(*streams):
            if key == last:
                raise SystemExit(f"error: dataset row {key} is in more than one shard (overlapping --shard?)")
            last = key
            fh.write(_dump(rec) + b"\n")
            n += 1
            failed += "error" in rec or rec.get("status", {}).get("info") == "FAILURE"
    os.replace(tmp, out_path)
    logger.info("Merged %d shards: %d rows (%d failed) → %s", len(paths), n, failed, out_path)
    try:
        evaluate = load_function(args.evaluate) if args.evaluate else None
    except TargetError as exc:
        raise SystemExit(f"error: {exc}") from None
    finish(args, out_path, args.output_dir, evaluate)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    results = _shard_results(args.results_dir)
    try:
        evaluate = load_function(args.evaluate) if args.evaluate else None
    except TargetError as exc:
        raise SystemExit(f"error: {exc}") from None
    if evaluate is None and not args.label:
        raise SystemExit("error: nothing to do: give --evaluate module:function and/or --label FEATURE")
    finish(args, results, args.results_dir, evaluate)
    return 0


def _bool(text: str) -> bool:
    t = text.lower()
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not true/false")


def _add_finish_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--evaluate", metavar="MODULE:FUNCTION",
                   help="evaluate function (gets the successful result rows, returns the summary stored in "
                        "summary.json); run: default is the @evaluation.evaluate function that needs TARGET")
    p.add_argument("--label", metavar="FEATURE",
                   help="input feature with the true class: writes report.json and confusion_matrix.png")
    p.add_argument("--prediction-key", metavar="KEY",
                   help="where the predicted class is in a dict output (dotted path); default: the output itself")
    p.add_argument("--scores-key", metavar="KEY",
                   help="where the class scores are in the output, for ROC AUC (binary: positive-class score; "
                        "multi-class: one score per class in sorted label order)")
    p.add_argument("--parquet", choices=("auto", "yes", "no"), default="auto",
                   help="also write results.parquet (auto: when pyarrow is installed)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="seldon-evaluate",
                                description="Starwhale-style batch evaluation: predict over a dataset into a "
                                            "results table, then evaluate.")
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="predict over a dataset (resumable), then evaluate")
    r.add_argument("target", metavar="MODULE:FUNCTION", help="the predict function")
    r.add_argument("--dataset", required=True, help="JSON Lines (one object per line) or CSV with a header")
    r.add_argument("--format", choices=("jsonl", "csv"), help="dataset format (default: from the extension)")
    r.add_argument("--output-dir", "-o", required=True, help="where results.jsonl and the rest go")
    r.add_argument("--batch-size", type=int, help="rows per predict call (default: the decorator's, else 1)")
    r.add_argument("--replicas", type=int, help="concurrent predict calls (default: the decorator's, else 1)")
    r.add_argument("--fail-on-error", type=_bool, metavar="true|false",
                   help="stop at the first failed row (default: the decorator's, else true)")
    r.add_argument("--auto-log", type=_bool, metavar="true|false", help="write result rows (default true)")
    r.add_argument("--log-dataset-features", metavar="A,B", help="input features kept in the results (default: all)")
    r.add_argument("--id-column", help="feature holding the row id (default: the row's position)")
    r.add_argument("--retries", type=int, default=1, help="attempts per call (default 1, as Starwhale)")
    r.add_argument("--shard", metavar="i/n", default=os.environ.get("SELDON_BATCH_SHARD"),
                   help="only rows whose index is i modulo n [env SELDON_BATCH_SHARD]")
    r.add_argument("--progress", choices=("auto", "bar", "log", "none"), default="auto")
    r.add_argument("--commit-rows", type=int, default=1000,
                   help="fsync the results and the journal at least every this many rows (and every 0.5 s)")
    r.add_argument("--no-resume", action="store_true", help="start over instead of continuing an interrupted run")
    _add_finish_options(r)
    r.set_defaults(func=cmd_run)

    m = sub.add_parser("merge", help="join shards' results in dataset order, then evaluate once")
    m.add_argument("shards", nargs="+", metavar="SHARD", help="a shard's output directory (or results file)")
    m.add_argument("--output-dir", "-o", required=True)
    _add_finish_options(m)
    m.set_defaults(func=cmd_merge)

    e = sub.add_parser("evaluate", help="run evaluate / the report on a finished results table")
    e.add_argument("results_dir", metavar="DIR")
    _add_finish_options(e)
    e.set_defaults(func=cmd_evaluate)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level.upper()), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop_on_sigterm()
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        logger.error("Interrupted: run the same command again to continue where it stopped")
        # what was written is committed; calls still in flight in worker threads are abandoned
        logging.shutdown()
        sys.stderr.flush()
        os._exit(130)
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
