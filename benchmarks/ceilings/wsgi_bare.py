"""Ceiling: a bare WSGI app under gunicorn that returns a constant body without reading the request."""

BODY = b'{"data":{"names":["t:0","t:1","t:2","t:3"],"ndarray":[[1,2,3,4]]},"meta":{}}'
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
