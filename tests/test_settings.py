import pytest

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
