"""``seldon-batch-processor``: send every line of a file to a Seldon deployment (or to a model
class in this process) and write one output line per input line, in input order.

Flags and environment variables are those of Seldon Core 1.x's processor, with its flaws fixed
(see docs: ``-t`` means ``--transport`` only; the output path never defaults to the input file;
output in input order; gRPC mini-batches work and keep their tags; every line is retried and,
if it still fails, written as an error line; exact counts at the end; resumable after a kill).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import uuid
from typing import TYPE_CHECKING, Any

from .clients import FEEDBACK, GATEWAYS, PREDICT, CallError, Client, Endpoint
from .engine import Engine, EngineOptions, InputError, Row, RowResult, parse_shard, select_shard, skip, stop_on_sigterm
from .journal import ResumableOutput, ResumeError
from .progress import Progress, format_summary

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger("seldon_py.batch")

DATA_TYPES = ("data", "json", "str", "raw")
PAYLOAD_TYPES = ("ndarray", "tensor", "tftensor")
#: batchable message kinds (rows are stacked along the first dimension)
_STACKABLE = ("ndarray", "tensor", "tftensor")


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj).encode()


# ---------------------------------------------------------------- requests and responses
def _tensor(arr: np.ndarray) -> dict[str, Any]:
    return {"shape": list(arr.shape), "values": arr.ravel().tolist()}


def _tftensor(arr: np.ndarray) -> dict[str, Any]:
    dims = {"dim": [{"size": int(d)} for d in arr.shape]}
    if arr.dtype.kind in "iu":
        return {"dtype": "DT_INT64", "tensorShape": dims, "int64Val": [str(v) for v in arr.ravel().tolist()]}
    if arr.dtype.kind == "b":
        return {"dtype": "DT_BOOL", "tensorShape": dims, "boolVal": arr.ravel().tolist()}
    return {"dtype": "DT_DOUBLE", "tensorShape": dims, "doubleVal": arr.astype(float).ravel().tolist()}


def _numeric(value: Any) -> np.ndarray:
    import numpy as np

    try:
        arr = np.asarray(value)
    except ValueError as exc:  # ragged
        raise InputError(f"not a rectangular array: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise InputError(f"a {arr.dtype.kind!r} array cannot be sent as a tensor (numbers only)")
    return arr


def encode_data(value: Any, payload_type: str) -> dict[str, Any]:
    """A ``data`` input line (a JSON array) as the message's ``data`` field."""
    if payload_type == "ndarray":
        return {"ndarray": value}
    arr = _numeric(value)
    return {"tensor": _tensor(arr)} if payload_type == "tensor" else {"tftensor": _tftensor(arr)}


class ProcessorTask:
    """Builds the Seldon requests for rows, calls the client, splits mini-batch responses."""

    def __init__(self, client: Client, data_type: str, payload_type: str, method: str, batch_id: str) -> None:
        self.client = client
        self.data_type = data_type
        self.payload_type = payload_type
        self.method = method
        self.batch_id = batch_id

    # -- parsing
    def _parse(self, row: Row) -> Any:
        if isinstance(row.value, InputError):
            raise row.value
        try:
            value = json.loads(row.value)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        if self.data_type == "data" and not isinstance(value, list):
            raise InputError(f"a 'data' line must be a JSON array, got {type(value).__name__}")
        if self.data_type == "str" and not isinstance(value, str):
            raise InputError(f"a 'str' line must be a JSON string, got {type(value).__name__}")
        if self.data_type == "raw" and not isinstance(value, dict):
            raise InputError(f"a 'raw' line must be a JSON object, got {type(value).__name__}")
        return value

    def _tags(self, row: Row, instance: str) -> dict[str, Any]:
        return {"batch_id": self.batch_id, "batch_index": row.index, "batch_instance_id": instance}

    def _message(self, row: Row, value: Any, tags: dict[str, Any]) -> dict[str, Any]:
        if self.method == FEEDBACK:
            return value  # a Feedback message, sent as it is
        if self.data_type == "data":
            return {"data": encode_data(value, self.payload_type), "meta": {"tags": tags}}
        if self.data_type == "str":
            return {"strData": value, "meta": {"tags": tags}}
        if self.data_type == "json":
            return {"jsonData": value, "meta": {"tags": tags}}
        msg = dict(value)
        meta = msg.get("meta")
        meta = dict(meta) if isinstance(meta, dict) else {}
        own = meta.get("tags")
        meta["tags"] = {**(own if isinstance(own, dict) else {}), **tags}
        msg["meta"] = meta
        return msg

    @staticmethod
    def _with_tags(response: dict[str, Any], tags: dict[str, Any]) -> dict[str, Any]:
        """The response with the row's batch tags in ``meta.tags`` (whatever the server echoed)."""
        meta = response.get("meta")
        if not isinstance(meta, dict):
            meta = {}
        old = meta.get("tags")
        meta["tags"] = {**(old if isinstance(old, dict) else {}), **tags}
        response["meta"] = meta
        return response

    # -- the Task protocol
    def call(self, rows: list[Row]) -> list[RowResult]:
        if len(rows) == 1:
            row = rows[0]
            value = self._parse(row)
            instance = str(uuid.uuid1())
            tags = self._tags(row, instance)
            response = self.client.send(self._message(row, value, tags), self.method, instance)
            return [RowResult([_dumps(self._with_tags(response, tags))])]
        return self._call_batch(rows)

    def _call_batch(self, rows: list[Row]) -> list[RowResult]:
        values = [self._parse(r) for r in rows]
        instance = str(uuid.uuid1())
        if self.data_type == "data":
            kind = self.payload_type
            names: Any = None
            parts = values
            row_tags: list[dict[str, Any]] = [{} for _ in rows]
        else:  # raw
            datas = [v.get("data") for v in values]
            if not all(isinstance(d, dict) for d in datas):
                raise InputError("only raw lines with a 'data' field can be sent in one request")
            kinds = {next((k for k in _STACKABLE if k in d), None) for d in datas}
            if len(kinds) != 1 or None in kinds:
                raise InputError("raw lines in one request must all be ndarray, all tensor or all tftensor")
            kind = str(kinds.pop())
            names_set = {json.dumps(d.get("names")) for d in datas}
            if len(names_set) != 1:
                raise InputError("raw lines in one request must have the same data.names")
            names = datas[0].get("names")
            parts = [d[kind] for d in datas]
            row_tags = []
            for v in values:
                meta = v.get("meta")
                t = meta.get("tags") if isinstance(meta, dict) else None
                row_tags.append(dict(t) if isinstance(t, dict) else {})
        data = self._stack(kind, parts)
        if names is not None:
            data = {"names": names, **data}
        message = {"data": data, "meta": {"tags": {"batch_id": self.batch_id, "batch_instance_id": instance}}}
        response = self.client.send(message, PREDICT, instance)
        split = self._split(response, len(rows))
        out = []
        for k, (row, piece) in enumerate(zip(rows, split, strict=True)):
            tags = {**piece.pop("_tags"), **row_tags[k], **self._tags(row, f"{instance}-item-{k}")}
            out.append(RowResult([_dumps(self._with_tags(piece, tags))]))
        return out

    def _stack(self, kind: str, parts: list[Any]) -> dict[str, Any]:
        if kind == "ndarray":
            rows = []
            for p in parts:
                if not isinstance(p, list) or len(p) != 1:
                    raise InputError("to batch rows, each must have first dimension 1 (e.g. [[1, 2]])")
                rows.append(p[0])
            return {"ndarray": rows}
        arrays = []
        for p in parts:
            if not isinstance(p, dict):
                arr = _numeric(p)  # a 'data' line
            else:
                arr = _from_tensor(p) if kind == "tensor" else _from_tftensor(p)
            if arr.ndim == 0 or arr.shape[0] != 1:
                raise InputError("to batch rows, each must have first dimension 1 (e.g. [[1, 2]])")
            arrays.append(arr)
        if len({a.shape[1:] for a in arrays}) != 1:
            raise InputError("rows in one request must have the same shape")
        import numpy as np

        stacked = np.concatenate(arrays)
        return {"tensor": _tensor(stacked)} if kind == "tensor" else {"tftensor": _tftensor(stacked)}

    @staticmethod
    def _split(response: dict[str, Any], n: int) -> list[dict[str, Any]]:
        data = response.get("data")
        raw_meta = response.get("meta")
        meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
        raw_tags = meta.get("tags")
        tags = {k: v for k, v in (raw_tags if isinstance(raw_tags, dict) else {}).items()
                if k not in ("batch_id", "batch_instance_id", "batch_index")}
        rest_meta = {k: v for k, v in meta.items() if k != "tags"}
        if not isinstance(data, dict):
            raise InputError("the response to a mini-batch has no data to split into rows")
        names = data.get("names")
        pieces: list[dict[str, Any]]
        if isinstance(data.get("ndarray"), list):
            rows = data["ndarray"]
            if len(rows) != n:
                raise InputError(f"the response has {len(rows)} rows for {n} requests")
            pieces = [{"ndarray": [r]} for r in rows]
        elif isinstance(data.get("tensor"), dict):
            arr = _from_tensor(data["tensor"])
            if arr.ndim == 0 or arr.shape[0] != n:
                raise InputError(f"the response tensor has shape {list(arr.shape)} for {n} requests")
            pieces = [{"tensor": _tensor(arr[i:i + 1])} for i in range(n)]
        elif isinstance(data.get("tftensor"), dict):
            from ..protocol.seldon.tftensor import array_to_tftensor_json

            arr = _from_tftensor(data["tftensor"])
            if arr.ndim == 0 or arr.shape[0] != n:
                raise InputError(f"the response tftensor has shape {list(arr.shape)} for {n} requests")
            pieces = [{"tftensor": array_to_tftensor_json(arr[i:i + 1])} for i in range(n)]
        else:
            raise InputError("a mini-batch response must be an ndarray, a tensor or a tftensor")
        out = []
        for p in pieces:
            d = {"names": names, **p} if names is not None else p
            out.append({"data": d, "meta": dict(rest_meta), "_tags": dict(tags)})
        return out

    def failure(self, row: Row, error: BaseException) -> RowResult:
        reason = str(error) or type(error).__name__
        line = {"status": {"info": "FAILURE", "reason": reason, "status": 1},
                "meta": {"batch_id": self.batch_id, "batch_instance_id": str(uuid.uuid1()),
                         "batch_index": row.index}}
        return RowResult([_dumps(line)], failed=True)

    def retryable(self, error: BaseException) -> bool:
        return isinstance(error, CallError) and error.retryable


def _from_tftensor(t: dict[str, Any]) -> np.ndarray:
    from ..errors import SeldonMicroserviceException
    from ..protocol.seldon.tftensor import tftensor_json_to_array

    try:
        return tftensor_json_to_array(t)
    except SeldonMicroserviceException as exc:
        raise InputError(f"bad tftensor: {exc}") from None


def _from_tensor(t: dict[str, Any]) -> np.ndarray:
    import numpy as np

    shape, values = t.get("shape"), t.get("values", [])
    try:
        return np.asarray(values, dtype=float).reshape(shape)
    except (TypeError, ValueError) as exc:
        raise InputError(f"bad tensor: {exc}") from None


# ---------------------------------------------------------------- command line
_TRUE = {"1", "true", "t", "yes", "y", "on"}
_FALSE = {"0", "false", "f", "no", "n", "off", ""}


def _bool(text: str) -> bool:
    t = text.strip().lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not a boolean (true/false)")


def _transport(text: str) -> str:
    if text in ("rest", "grpc"):
        return text
    try:
        float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not rest or grpc") from None
    raise argparse.ArgumentTypeError(
        f"{text!r} is not rest or grpc: -t is --transport here (Seldon Core bound it to --batch-interval "
        f"too); use --batch-interval {text}")


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def _non_negative_float(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not x >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return x


def build_parser(env: dict[str, str]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="seldon-batch-processor", add_help=False,
        description="Send every line of an input file to a Seldon deployment (REST or gRPC) or to a model "
                    "class in this process, and write one output line per input line, in input order. "
                    "Every option can also be set by the environment variable shown. A run that was killed "
                    "continues where it stopped when the same command is run again.")

    def opt(*flags: str, env_name: str | None, default: Any = None, conv: Any = None, **kw: Any) -> None:
        value = env.get(env_name) if env_name else None
        if value is not None and conv is not None:
            try:
                value = conv(value)
            except (argparse.ArgumentTypeError, ValueError) as exc:
                p.error(f"{env_name}: {exc}")
        help_text = kw.pop("help", "")
        if env_name:
            help_text += f" [env {env_name}]"
        if default is not None:
            help_text += f" (default: {default})"
        p.add_argument(*flags, default=value if value is not None else default, help=help_text,
                       type=kw.pop("type", conv), **kw)

    opt("-d", "--deployment-name", env_name="SELDON_BATCH_DEPLOYMENT_NAME",
        help="SeldonDeployment to send to (required unless --model)")
    opt("-g", "--gateway-type", env_name="SELDON_BATCH_GATEWAY_TYPE", default="istio", choices=GATEWAYS,
        help="istio/ambassador: through the ingress at /seldon/NS/NAME; seldon: straight to the service")
    opt("-n", "--namespace", env_name="SELDON_BATCH_NAMESPACE", default="default", help="Kubernetes namespace")
    opt("-h", "--host", env_name="SELDON_BATCH_HOST", default="istio-ingressgateway.istio-system.svc.cluster.local:80",
        help="host:port of the ingress or the service")
    opt("-t", "--transport", env_name="SELDON_BATCH_TRANSPORT", default="rest", conv=_transport,
        help="rest or grpc")
    opt("-a", "--data-type", env_name="SELDON_BATCH_DATA_TYPE", default="data", choices=DATA_TYPES,
        help="data: a JSON array per line, sent as --payload-type; str: a JSON string (strData); "
             "json: any JSON (jsonData); raw: a whole SeldonMessage (or Feedback) per line")
    opt("-p", "--payload-type", env_name="SELDON_BATCH_PAYLOAD_TYPE", default="ndarray", choices=PAYLOAD_TYPES,
        help="how 'data' lines are sent")
    opt("-w", "--workers", env_name="SELDON_BATCH_WORKERS", default=1, conv=_positive,
        help="requests in flight at once")
    opt("-r", "--retries", env_name="SELDON_BATCH_RETRIES", default=3, conv=_positive,
        help="attempts per request before the line is written as an error line")
    opt("-i", "--input-data-path", env_name="SELDON_BATCH_INPUT_DATA_PATH", default="/assets/input-data.txt",
        help="input file, one request per line")
    opt("-o", "--output-data-path", env_name="SELDON_BATCH_OUTPUT_DATA_PATH",
        default="/assets/output-data.txt", help="output file (never the input file)")
    opt("-m", "--method", env_name="SELDON_BATCH_METHOD", default="predict", choices=(PREDICT, FEEDBACK),
        help="predict, or feedback (needs --data-type raw: each line a Feedback message)")
    opt("-l", "--log-level", env_name="SELDON_BATCH_LOG_LEVEL", default="info",
        choices=("debug", "info", "warning", "error"), help="log level")
    try:
        benchmark = _bool(env.get("SELDON_BATCH_BENCHMARK", "false"))
    except argparse.ArgumentTypeError as exc:
        p.error(f"SELDON_BATCH_BENCHMARK: {exc}")
    p.add_argument("-b", "--benchmark", action="store_true", default=benchmark,
                   help="also log the elapsed time [env SELDON_BATCH_BENCHMARK]")
    opt("-u", "--batch-id", env_name="SELDON_BATCH_ID",
        help="batch_id tag of every request (default: a new uuid1, or the interrupted run's when resuming)")
    opt("-s", "--batch-size", env_name="SELDON_BATCH_SIZE", default=1, conv=_positive,
        help="rows per request (data and raw lines whose first dimension is 1)")
    opt("--batch-interval", env_name="SELDON_BATCH_MIN_INTERVAL", default=0.0, conv=_non_negative_float,
        help="minimum seconds between the starts of a worker's requests")
    opt("--use-ssl", env_name="SELDON_BATCH_USE_SSL", default=False, conv=_bool, nargs="?", const=True,
        help="https / TLS")
    opt("--call-credentials-token", env_name="SELDON_BATCH_CALL_CREDENTIALS_TOKEN", default="",
        help="sent as X-Auth-Token (implies TLS)")
    opt("--ssl-verify", env_name="SELDON_BATCH_SSL_VERIFY", default=True, conv=_bool, nargs="?", const=True,
        help="verify TLS certificates")
    # ---- beyond Seldon Core's processor
    opt("--model", env_name="SELDON_BATCH_MODEL",
        help="run this model class (Module or pkg.module.Class, found from the working directory) in "
             "this process instead of calling a deployment")
    opt("--parameters", env_name="SELDON_BATCH_MODEL_PARAMETERS", default="{}",
        help="JSON object of constructor arguments for --model")
    opt("--model-convention", env_name="SELDON_BATCH_MODEL_CONVENTION", default="auto",
        help="for --model: which server's convention the model is written for (auto detects; seldon skips "
             "detection), as seldon-core-microservice --model-convention")
    opt("--shard", env_name="SELDON_BATCH_SHARD",
        help="i/n: process only the lines whose index is i modulo n (e.g. the Job completion index)")
    opt("--timeout", env_name="SELDON_BATCH_TIMEOUT", default=120.0, conv=_non_negative_float,
        help="seconds to wait for one response")
    opt("--progress", env_name="SELDON_BATCH_PROGRESS", default="auto", choices=("auto", "bar", "log", "none"),
        help="a progress bar on a terminal, log lines otherwise")
    opt("--commit-rows", env_name="SELDON_BATCH_COMMIT_ROWS", default=1000, conv=_positive,
        help="fsync the output and the journal at least every this many rows (and every 0.5 s)")
    p.add_argument("--no-resume", action="store_true",
                   help="start over even if the output belongs to an interrupted run of this command")
    p.add_argument("--help", action="help", help="show this help and exit")
    return p


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper()), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def make_client(args: argparse.Namespace) -> Client:
    from .clients import GrpcClient, InProcessClient, RestClient

    if args.model:
        try:
            parameters = json.loads(args.parameters)
        except ValueError as exc:
            raise SystemExit(f"error: --parameters is not JSON: {exc}") from None
        if not isinstance(parameters, dict):
            raise SystemExit("error: --parameters must be a JSON object")
        from .inprocess import StartupError

        try:
            return InProcessClient(args.model, parameters, args.model_convention)
        except StartupError as exc:
            raise SystemExit(f"error: {exc}") from None
    endpoint = Endpoint(host=args.host, deployment=args.deployment_name, namespace=args.namespace,
                        gateway=args.gateway_type, use_ssl=args.use_ssl, ssl_verify=args.ssl_verify,
                        token=args.call_credentials_token, timeout=args.timeout or None)
    return GrpcClient(endpoint) if args.transport == "grpc" else RestClient(endpoint)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the processor; returns the summary. Raises SystemExit with a message on bad usage."""
    from .datasets import count_lines, read_lines

    if not args.model and not args.deployment_name:
        raise SystemExit("error: --deployment-name (-d) is required (or --model to run a class in process)")
    if args.method == FEEDBACK and args.data_type != "raw":
        raise SystemExit("error: --method feedback needs --data-type raw (each line a Feedback message)")
    if os.path.abspath(args.input_data_path) == os.path.abspath(args.output_data_path):
        raise SystemExit("error: the output path is the input file; pass a different --output-data-path")
    if not os.path.isfile(args.input_data_path):
        raise SystemExit(f"error: input file {args.input_data_path} does not exist")
    try:
        shard = parse_shard(args.shard)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    batch_size = args.batch_size
    if batch_size > 1 and (args.data_type in ("str", "json") or args.method == FEEDBACK):
        logger.warning("--batch-size %d applies to data and raw predict lines only: sending one line per request",
                       batch_size)
        batch_size = 1

    options = EngineOptions(workers=args.workers, batch_size=batch_size, attempts=args.retries,
                            min_interval=args.batch_interval)
    try:
        options.validate()
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    header = {"tool": "seldon-batch-processor", "input": os.path.abspath(args.input_data_path),
              "input_bytes": os.path.getsize(args.input_data_path), "shard": args.shard or "",
              "data_type": args.data_type, "payload_type": args.payload_type, "method": args.method,
              "batch_id": args.batch_id}
    output = ResumableOutput(args.output_data_path, header, resume=not args.no_resume, commit_rows=args.commit_rows)
    try:
        resumed = output.open(defaults={"batch_id": str(uuid.uuid1())})
    except (ResumeError, OSError) as exc:
        raise SystemExit(f"error: {exc}") from None
    batch_id = str(output.header["batch_id"])
    try:
        client = make_client(args)
    except BaseException:
        output.close(done=False)
        raise
    lines = count_lines(args.input_data_path)
    total = None if lines is None else (lines if shard is None else len(range(shard[0], lines, shard[1])))
    progress = Progress(total, args.progress, already=resumed.rows)
    task = ProcessorTask(client, args.data_type, args.payload_type, args.method, batch_id)
    engine = Engine(task, options)
    where = f"model {args.model} in process" if args.model else \
        f"{args.transport} {args.gateway_type} gateway at {args.host}"
    logger.info("Batch %s: %s → %s via %s, %d workers, %d rows per request%s", batch_id, args.input_data_path,
                args.output_data_path, where, args.workers, batch_size,
                f", shard {args.shard}" if args.shard else "")
    started = time.monotonic()
    try:
        engine.run(skip(select_shard(read_lines(args.input_data_path), shard), resumed.rows), output, progress)
    finally:
        client.close()
    summary = progress.summary(output.rows, output.failures)
    logger.info("Done: %s", format_summary(summary))
    logger.info("Total processed instances: %d (%d failed), written to %s", output.rows, output.failures,
                args.output_data_path)
    if args.benchmark:
        logger.info("Elapsed time: %.3fs", time.monotonic() - started)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(dict(os.environ))
    args = parser.parse_args(argv)
    _configure_logging(args.log_level)
    stop_on_sigterm()
    try:
        run(args)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
