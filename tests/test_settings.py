import dataclasses
import math

import pytest

from seldon_py import cli
from seldon_py import settings as st
from seldon_py.settings import ConfigError, parse_parameters, parse_settings, read_annotations


def test_defaults():
    s = parse_settings(["MyModel"], {})
    assert (s.http_port, s.grpc_port, s.metrics_port) == (9000, 5000, 6000)
    assert (s.workers, s.threads, s.grpc_workers, s.grpc_threads) == (1, 1, 1, 1)
    assert s.timeout == 60 and s.metrics_path == "/metrics" and s.service_type == "MODEL"
    assert s.include_metrics_in_response and s.executor_enabled and not s.debug


def test_env_fallbacks_and_flags_win():
    env = {"PREDICTIVE_UNIT_HTTP_SERVICE_PORT": "8000", "PREDICTIVE_UNIT_GRPC_SERVICE_PORT": "8001",
           "PREDICTIVE_UNIT_METRICS_SERVICE_PORT": "8002", "GUNICORN_WORKERS": "3", "GUNICORN_THREADS": "4",
           "GRPC_WORKERS": "0", "GRPC_THREADS": "2", "SELDON_LOG_LEVEL": "debug", "SELDON_DEBUG": "true",
           "PREDICTIVE_UNIT_METRICS_ENDPOINT": "/prometheus", "GUNICORN_ACCESS_LOG": "1",
           "GUNICORN_MAX_REQUESTS": "10", "GUNICORN_MAX_REQUESTS_JITTER": "2", "GUNICORN_KEEPALIVE": "5",
           "PAYLOAD_PASSTHROUGH": "true", "INCLUDE_METRICS_IN_CLIENT_RESPONSE": "false",
           "SELDON_EXECUTOR_ENABLED": "false", "PREDICTIVE_UNIT_ID": "node", "PREDICTIVE_UNIT_IMAGE": "img:1"}
    s = parse_settings(["M", "--workers", "5"], env)
    assert (s.http_port, s.grpc_port, s.metrics_port) == (8000, 8001, 8002)
    assert (s.workers, s.threads, s.grpc_workers, s.grpc_threads) == (5, 4, 0, 2)
    assert s.log_level == "DEBUG" and s.debug and s.access_log and s.metrics_path == "/prometheus"
    assert (s.max_requests, s.max_requests_jitter, s.keepalive) == (10, 2, 5)
    assert s.payload_passthrough and not s.include_metrics_in_response and not s.executor_enabled
    assert (s.unit_id, s.unit_image) == ("node", "img:1")


def test_output_transformer_is_accepted_and_legacy_api_type_warns():
    assert parse_settings(["M", "--service-type", "OUTPUT_TRANSFORMER"], {}).service_type == "OUTPUT_TRANSFORMER"
    s = parse_settings(["M", "REST"], {})
    assert any("ignored" in w for w in s.warnings)


@pytest.mark.parametrize("argv,env,fragment", [
    (["M", "--bogus"], {}, "unrecognized arguments"),
    (["M", "extra", "args"], {}, "unrecognized"),
    (["M", "--service-type", "NOPE"], {}, "invalid choice"),
    (["M"], {"GUNICORN_WORKERS": "many"}, "GUNICORN_WORKERS"),
    (["M"], {"FLASK_SINGLE_THREADED": "maybe"}, "FLASK_SINGLE_THREADED"),
    (["M", "--workers", "0"], {}, "--workers"),
    (["M", "--http-port", "70000"], {}, "TCP port"),
    (["M", "--parameters", "[{"], {}, "not valid JSON"),
    (["M"], {"PREDICTIVE_UNIT_PARAMETERS": '[{"name":"a","value":"x","type":"INT"}]'}, "can't be parsed as a INT"),
])
def test_config_errors_are_one_line(argv, env, fragment):
    with pytest.raises(ConfigError) as e:
        parse_settings(argv, env)
    assert fragment in str(e.value) and "\n" not in str(e.value)


def test_parameters():
    p = parse_parameters('[{"name":"i","value":"3","type":"INT"},{"name":"f","value":"1.5","type":"FLOAT"},'
                         '{"name":"d","value":"2.5","type":"DOUBLE"},{"name":"s","value":"hey","type":"STRING"},'
                         '{"name":"b","value":"yes","type":"BOOL"},{"name":"j","value":"{\\"a\\":[1]}","type":"JSON"}]')
    assert p == {"i": 3, "f": 1.5, "d": 2.5, "s": "hey", "b": True, "j": {"a": [1]}}
    for bad in ('[{"name":"b","value":"maybe","type":"BOOL"}]', '[{"name":"x","value":"1"}]',
                '[{"name":"x","value":"1","type":"LIST"}]', '{"name":"x"}'):
        with pytest.raises(ConfigError):
            parse_parameters(bad)


def test_annotations_drive_timeout_and_payload_size():
    text = 'seldon.io/rest-timeout="2500"\nseldon.io/grpc-max-message-size="10485760"\nother="x"\n'
    assert read_annotations(text)["other"] == "x"
    s = parse_settings(["M"], {}, text)
    assert s.timeout == 2 and s.max_payload_bytes == 10485760
    assert parse_settings(["M"], {}, 'seldon.io/rest-timeout="100"').timeout == 1
    s = parse_settings(["M", "--timeout", "9", "--max-payload-size", "2048"], {}, text)
    assert s.timeout == 9 and s.max_payload_bytes == 2048


# --- the table, --help and the parsers --------------------------------------------------------


# The documented defaults (README "Command line and environment", reference §2-3): the table must
# keep every one of them.
DOCUMENTED_DEFAULTS = {
    "service_type": "MODEL", "parameters": {}, "host": "0.0.0.0", "http_port": 9000, "grpc_port": 5000,
    "metrics_port": 6000, "metrics_path": "/metrics", "workers": 1, "threads": 1, "max_requests": 0,
    "max_requests_jitter": 0, "keepalive": 2, "timeout": 60, "graceful_timeout": 30, "single_threaded": False,
    "debug": False, "log_level": "INFO", "access_log": False, "pidfile": None, "grpc_workers": 1,
    "grpc_threads": 1, "max_payload_bytes": 16 * 1024 * 1024, "max_batch_size": 0, "max_batch_latency_ms": 10.0,
    "preload": False, "tracing": False, "persistence": False, "unit_id": None, "unit_image": None,
    "deployment_id": "NOT_IMPLEMENTED", "predictor_id": "NOT_IMPLEMENTED", "predictor_labels": {},
    "model_metadata": None, "payload_passthrough": False, "include_metrics_in_response": True,
    "filter_metrics_access_logs": True, "executor_enabled": True,
}

DOCUMENTED_SOURCES = {  # setting -> (flags, environment variables)
    "service_type": (("--service-type",), ()),
    "parameters": (("--parameters",), ("PREDICTIVE_UNIT_PARAMETERS",)),
    "host": (("--host",), ("SELDON_HOST",)),
    "http_port": (("--http-port",), ("PREDICTIVE_UNIT_HTTP_SERVICE_PORT",)),
    "grpc_port": (("--grpc-port",), ("PREDICTIVE_UNIT_GRPC_SERVICE_PORT",)),
    "metrics_port": (("--metrics-port",), ("PREDICTIVE_UNIT_METRICS_SERVICE_PORT",)),
    "metrics_path": ((), ("PREDICTIVE_UNIT_METRICS_ENDPOINT",)),
    "workers": (("--workers",), ("GUNICORN_WORKERS",)),
    "threads": (("--threads",), ("GUNICORN_THREADS",)),
    "max_requests": (("--max-requests",), ("GUNICORN_MAX_REQUESTS",)),
    "max_requests_jitter": (("--max-requests-jitter",), ("GUNICORN_MAX_REQUESTS_JITTER",)),
    "keepalive": (("--keepalive",), ("GUNICORN_KEEPALIVE",)),
    "timeout": (("--timeout",), ("GUNICORN_TIMEOUT",)),
    "graceful_timeout": (("--graceful-timeout",), ("GUNICORN_GRACEFUL_TIMEOUT",)),
    "single_threaded": (("--single-threaded",), ("FLASK_SINGLE_THREADED",)),
    "debug": (("--debug",), ("SELDON_DEBUG",)),
    "log_level": (("--log-level",), ("SELDON_LOG_LEVEL",)),
    "access_log": (("--access-log",), ("GUNICORN_ACCESS_LOG",)),
    "pidfile": (("--pidfile",), ()),
    "grpc_workers": (("--grpc-workers",), ("GRPC_WORKERS",)),
    "grpc_threads": (("--grpc-threads",), ("GRPC_THREADS",)),
    "max_payload_bytes": (("--max-payload-size",), ("SELDON_MAX_PAYLOAD_SIZE",)),
    "max_batch_size": (("--max-batch-size",), ("SELDON_MAX_BATCH_SIZE",)),
    "max_batch_latency_ms": (("--max-batch-latency-ms",), ("SELDON_MAX_BATCH_LATENCY_MS",)),
    "preload": (("--preload",), ("SELDON_PRELOAD",)),
    "model_convention": (("--model-convention",), ("SELDON_MODEL_CONVENTION",)),
    "tracing": (("--tracing",), ("TRACING",)),
    "persistence": (("--persistence",), ()),
    "unit_id": ((), ("PREDICTIVE_UNIT_ID",)),
    "unit_image": ((), ("PREDICTIVE_UNIT_IMAGE",)),
    "deployment_id": ((), ("SELDON_DEPLOYMENT_ID",)),
    "predictor_id": ((), ("PREDICTOR_ID",)),
    "predictor_labels": ((), ("PREDICTOR_LABELS",)),
    "model_metadata": ((), ("MODEL_METADATA",)),
    "payload_passthrough": ((), ("PAYLOAD_PASSTHROUGH",)),
    "include_metrics_in_response": ((), ("INCLUDE_METRICS_IN_CLIENT_RESPONSE",)),
    "filter_metrics_access_logs": ((), ("FILTER_METRICS_ACCESS_LOGS",)),
    "executor_enabled": ((), ("SELDON_EXECUTOR_ENABLED",)),
}


def test_every_settings_field_is_one_row_of_the_table():
    rows = [s.name for s in st.SETTINGS]
    assert len(rows) == len(set(rows))
    plain = {"interface_name", "annotations", "warnings"}
    assert set(rows) == {f.name for f in dataclasses.fields(st.Settings)} - plain
    flags = [f for s in st.SETTINGS for f in s.flags]
    envs = [v for s in st.SETTINGS for v in s.env]
    assert len(flags) == len(set(flags)) and len(envs) == len(set(envs))


def test_table_keeps_the_documented_flags_env_vars_and_defaults():
    assert {s.name: (s.flags, s.env) for s in st.SETTINGS} == DOCUMENTED_SOURCES
    got = dataclasses.asdict(parse_settings(["M"], {}))
    assert {k: got[k] for k in DOCUMENTED_DEFAULTS} == DOCUMENTED_DEFAULTS
    # the dataclass's own defaults (code that builds Settings directly) are the same ones
    direct = dataclasses.asdict(st.Settings(interface_name="M"))
    assert {k: direct[k] for k in DOCUMENTED_DEFAULTS} == DOCUMENTED_DEFAULTS
    assert {s.name: s.annotation for s in st.SETTINGS if s.annotation} == {
        "timeout": "seldon.io/rest-timeout", "max_payload_bytes": "seldon.io/grpc-max-message-size"}


def test_mutable_defaults_are_not_shared():
    a, b = parse_settings(["M"], {}), parse_settings(["M"], {})
    a.parameters["x"] = 1
    a.predictor_labels["y"] = 2
    assert b.parameters == {} and b.predictor_labels == {}
    assert st.Settings(interface_name="M").parameters == {}


@pytest.mark.parametrize("row", [s for s in st.SETTINGS if s.default_text is None and s.default is not None],
                         ids=lambda s: s.name)
def test_the_default_help_states_parses_back_to_the_default(row):
    assert row.read(row.shown_default(), "x") == row.default


def _help() -> str:
    return " ".join(st.build_parser().format_help().split())


def test_help_states_every_source_and_each_default_once():
    text = _help()
    stated = [s for s in st.SETTINGS if s.flags or s.env]
    assert text.count("(default:") == len(stated)
    for s in stated:
        line = s.option_help() if s.flags else f"{' / '.join(s.env)} {s.help} (default: {s.shown_default()})"
        assert " ".join(line.split()) in text, s.name
        assert s.option_help().count("(default:") == 1
    for flag, env in DOCUMENTED_SOURCES.values():
        for word in flag + env:
            assert word in text
    assert "(default: 16777216 = 16 MiB)" in text and "(default: 60)" in text
    assert "seldon.io/rest-timeout" in text and "seldon.io/grpc-max-message-size" in text


def test_cli_help_exits_zero(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0
    assert "--max-payload-size" in capsys.readouterr().out


@pytest.mark.parametrize("word", ["1", "true", "True", "TRUE", "t", "yes", "Y", "on", " On "])
def test_parse_bool_true(word):
    assert st.parse_bool(word, "X") is True


@pytest.mark.parametrize("word", ["0", "false", "False", "f", "no", "N", "off", "OFF "])
def test_parse_bool_false(word):
    assert st.parse_bool(word, "X") is False


@pytest.mark.parametrize("word", ["", "maybe", "2", "-1", "truee", "enabled", "x" * 500])
def test_parse_bool_refuses_anything_else_in_one_line(word):
    with pytest.raises(ConfigError) as e:
        st.parse_bool(word, "SOME_VAR")
    msg = str(e.value)
    assert msg.startswith("SOME_VAR: ") and "not a boolean" in msg and "\n" not in msg and len(msg) < 200


@pytest.mark.parametrize("argv,env", [
    (["M", "--single-threaded", "true"], {}),
    (["M", "--single-threaded", "1"], {}),
    (["M", "--single-threaded", "yes"], {}),
    (["M", "--single-threaded"], {}),
    (["M"], {"FLASK_SINGLE_THREADED": "true"}),
    (["M"], {"FLASK_SINGLE_THREADED": "1"}),
    (["M", "--single-threaded", "on", "--threads", "8"], {}),
])
def test_single_threaded_takes_booleans(argv, env):
    s = parse_settings(argv, env)
    assert s.single_threaded is True and s.threads == 1


def test_single_threaded_false():
    s = parse_settings(["M", "--single-threaded", "false", "--threads", "4"], {"FLASK_SINGLE_THREADED": "1"})
    assert s.single_threaded is False and s.threads == 4


@pytest.mark.parametrize("flag", ["--debug", "--access-log", "--preload", "--tracing", "--persistence",
                                  "--single-threaded"])
def test_every_boolean_flag_takes_the_same_words(flag):
    name = flag[2:].replace("-", "_")
    assert getattr(parse_settings(["M", flag], {}), name) is True
    for word, want in (("true", True), ("on", True), ("1", True), ("false", False), ("no", False), ("0", False)):
        assert getattr(parse_settings(["M", f"{flag}={word}"], {}), name) is want
    with pytest.raises(ConfigError, match=f"^{flag}: 'maybe' is not a boolean"):
        parse_settings(["M", f"{flag}=maybe"], {})


@pytest.mark.parametrize("var", [v for s in st.SETTINGS if s.parse is st.parse_bool for v in s.env])
def test_every_boolean_variable_takes_the_same_words(var):
    name = next(s.name for s in st.SETTINGS if var in s.env)
    assert getattr(parse_settings(["M"], {var: "yes"}), name) is True
    assert getattr(parse_settings(["M"], {var: "off"}), name) is False
    with pytest.raises(ConfigError, match=f"^{var}: 'sometimes' is not a boolean"):
        parse_settings(["M"], {var: "sometimes"})


@pytest.mark.parametrize("argv,env,annotations,where", [
    (["M", "--max-payload-size", "100"], {}, "", "--max-payload-size"),
    (["M"], {"SELDON_MAX_PAYLOAD_SIZE": "100"}, "", "SELDON_MAX_PAYLOAD_SIZE"),
    (["M"], {}, 'seldon.io/grpc-max-message-size="100"', "annotation seldon.io/grpc-max-message-size"),
])
def test_a_value_below_the_minimum_names_where_it_came_from(argv, env, annotations, where):
    with pytest.raises(ConfigError) as e:
        parse_settings(argv, env, annotations)
    assert str(e.value) == f"{where}: 100 is below the minimum 1024"


def test_cli_error_names_the_real_flag(capsys):
    assert cli.main(["M", "--max-payload-size", "100"]) == 2
    err = capsys.readouterr().err
    assert "--max-payload-size: 100 is below the minimum 1024" in err and "--max-payload-bytes" not in err


@pytest.mark.parametrize("argv,env,message", [
    (["M", "--workers", "x"], {}, "--workers: 'x' is not an integer"),
    (["M"], {"GRPC_THREADS": "0"}, "GRPC_THREADS: 0 is below the minimum 1"),
    (["M", "--grpc-workers", "-1"], {}, "--grpc-workers: -1 is below the minimum 0"),
    (["M", "--metrics-port", "-5"], {}, "--metrics-port: -5 is not a TCP port (0-65535)"),
    (["M"], {"PREDICTIVE_UNIT_GRPC_SERVICE_PORT": "65536"},
     "PREDICTIVE_UNIT_GRPC_SERVICE_PORT: 65536 is not a TCP port"),
    (["M", "--max-batch-latency-ms", "nan"], {}, "--max-batch-latency-ms: 'nan' is not a finite number"),
    (["M"], {"SELDON_MAX_BATCH_LATENCY_MS": "soon"}, "SELDON_MAX_BATCH_LATENCY_MS: 'soon' is not a number"),
    (["M", "--max-batch-size", "-1"], {}, "--max-batch-size: -1 is below the minimum 0"),
    (["M", "--log-level", "loud"], {}, "--log-level: invalid choice 'LOUD'"),
    (["M"], {"SELDON_LOG_LEVEL": "loud"}, "SELDON_LOG_LEVEL: invalid choice 'LOUD'"),
    (["M"], {"PREDICTOR_LABELS": "[1]"}, "PREDICTOR_LABELS must be a JSON object"),
    (["M"], {"PREDICTOR_LABELS": "{"}, "PREDICTOR_LABELS is not valid JSON"),
    (["M"], {"PREDICTIVE_UNIT_PARAMETERS": "{"}, "PREDICTIVE_UNIT_PARAMETERS is not valid JSON"),
    (["M"], {}, None),
])
def test_errors_name_the_flag_or_variable(argv, env, message):
    if message is None:
        parse_settings(argv, env)
        return
    with pytest.raises(ConfigError) as e:
        parse_settings(argv, env)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_precedence_flag_env_annotation_default():
    ann = 'seldon.io/rest-timeout="7000"\nseldon.io/grpc-max-message-size="4096"'
    assert parse_settings(["M"], {}, "").timeout == 60
    assert parse_settings(["M"], {}, ann).timeout == 7
    assert parse_settings(["M"], {"GUNICORN_TIMEOUT": "8"}, ann).timeout == 8
    assert parse_settings(["M", "--timeout", "9"], {"GUNICORN_TIMEOUT": "8"}, ann).timeout == 9
    assert parse_settings(["M"], {"GUNICORN_TIMEOUT": ""}, ann).timeout == 7  # empty = unset
    assert parse_settings(["M"], {}, ann).max_payload_bytes == 4096
    assert parse_settings(["M"], {"SELDON_MAX_PAYLOAD_SIZE": "5000"}, ann).max_payload_bytes == 5000
    # the variable a flag overrides is not parsed (the operator may set what the flag corrects)
    assert parse_settings(["M", "--workers", "2"], {"GUNICORN_WORKERS": "many"}).workers == 2


def test_log_level_variable_wins_but_a_bad_flag_is_still_an_error():
    assert parse_settings(["M", "--log-level", "ERROR"], {"SELDON_LOG_LEVEL": "warning"}).log_level == "WARNING"
    assert parse_settings(["M", "--log-level", "error"], {}).log_level == "ERROR"
    with pytest.raises(ConfigError, match="--log-level"):
        parse_settings(["M", "--log-level", "LOUD"], {"SELDON_LOG_LEVEL": "INFO"})


def test_filter_metrics_access_logs_defaults_to_not_debug():
    assert parse_settings(["M"], {}).filter_metrics_access_logs is True
    assert parse_settings(["M", "--debug"], {}).filter_metrics_access_logs is False
    assert parse_settings(["M"], {"SELDON_DEBUG": "1"}).filter_metrics_access_logs is False
    assert parse_settings(["M", "--debug"], {"FILTER_METRICS_ACCESS_LOGS": "on"}).filter_metrics_access_logs is True


def test_metrics_path_gets_a_leading_slash():
    assert parse_settings(["M"], {"PREDICTIVE_UNIT_METRICS_ENDPOINT": "prometheus"}).metrics_path == "/prometheus"


def test_tracing_and_persistence_warn():
    s = parse_settings(["M", "--tracing", "--persistence"], {})
    assert len(s.warnings) == 2 and "tracing" in s.warnings[0] and "persistence" in s.warnings[1]
    assert parse_settings(["M"], {"TRACING": "1"}).warnings
    assert parse_settings(["M"], {"TRACING": "0"}).warnings == []


@pytest.mark.parametrize("parser,text,want", [
    (st.parse_int, " 42 ", 42), (st.parse_int, "-3", -3),
    (st.parse_float, "2.5", 2.5), (st.parse_float, "10", 10.0),
    (st.parse_port, "0", 0), (st.parse_port, "65535", 65535),
    (st.parse_str, " a b ", " a b "),
    (st.parse_upper, " debug ", "DEBUG"),
    (st.parse_path, "/x", "/x"), (st.parse_path, "x/y", "/x/y"),
    (st.parse_json_object, '{"version": "v1"}', {"version": "v1"}),
    (st.parse_ms_as_seconds, "2500", 2), (st.parse_ms_as_seconds, "999", 1), (st.parse_ms_as_seconds, "0", 1),
    (st.parse_parameters, "", {}), (st.parse_parameters, "[]", {}),
])
def test_parsers_accept(parser, text, want):
    assert parser(text, "W") == want


@pytest.mark.parametrize("parser,text,fragment", [
    (st.parse_int, "1.5", "W: '1.5' is not an integer"),
    (st.parse_int, "", "W: '' is not an integer"),
    (st.parse_float, "inf", "W: 'inf' is not a finite number"),
    (st.parse_float, "x", "W: 'x' is not a number"),
    (st.parse_port, "65536", "W: 65536 is not a TCP port"),
    (st.parse_port, "http", "W: 'http' is not an integer"),
    (st.parse_path, "  ", "W: an empty path"),
    (st.parse_json_object, "[]", "W must be a JSON object, got list"),
    (st.parse_json_object, "nope", "W is not valid JSON"),
    (st.parse_ms_as_seconds, "2s", "W: '2s' is not an integer"),
    (st.parse_parameters, '{"a": 1}', "W must be a JSON list"),
])
def test_parsers_refuse_in_one_line(parser, text, fragment):
    with pytest.raises(ConfigError) as e:
        parser(text, "W")
    assert str(e.value).startswith(fragment) and "\n" not in str(e.value)


def test_parse_int_minimum():
    assert st.parse_int("3", "W", minimum=3) == 3
    with pytest.raises(ConfigError, match="W: 2 is below the minimum 3"):
        st.parse_int("2", "W", minimum=3)


def test_format_value():
    assert [st.format_value(v) for v in (None, True, False, 10.0, 2.5, 7, "x")] == [
        "unset", "true", "false", "10", "2.5", "7", "x"]
    assert not math.isnan(parse_settings(["M"], {}).max_batch_latency_ms)


@pytest.mark.parametrize("argv,env,fragment", [
    (["M", "--http-port", "9100", "--grpc-port", "9100"], {}, "--http-port and --grpc-port are both 9100"),
    (["M", "--http-port", "9100", "--metrics-port", "9100"], {}, "--http-port and --metrics-port are both 9100"),
    (["M"], {"PREDICTIVE_UNIT_GRPC_SERVICE_PORT": "6000"}, "--grpc-port and --metrics-port are both 6000"),
])
def test_two_servers_on_one_port_is_a_one_line_error(argv, env, fragment):
    """Found by QA: the service started, then its gRPC server failed to bind and took it down with a
    gRPC core log line and exit 1, instead of a one-line error before anything started."""
    with pytest.raises(ConfigError) as e:
        parse_settings(argv, env)
    assert fragment in str(e.value) and "\n" not in str(e.value)


def test_one_port_is_fine_when_grpc_is_off_or_ports_are_ephemeral():
    parse_settings(["M", "--http-port", "9100", "--grpc-port", "9100", "--grpc-workers", "0"], {})
    parse_settings(["M", "--http-port", "0", "--grpc-port", "0", "--metrics-port", "0"], {})
