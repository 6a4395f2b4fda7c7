"""Ceiling: a WSGI app under gunicorn that reads the whole request body and answers a constant.

The cost of moving the bytes through gunicorn, with no parsing at all.
"""

BODY = b'{"data":{"names":["t:0","t:1","t:2","t:3"],"ndarray":[[1,2,3,4]]},"meta":{}}'
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    stream = environ["wsgi.input"]
    while length > 0:
        chunk = stream.read(min(length, 1 << 20))
        if not chunk:
            break
        length -= len(chunk)
    start_response("200 OK", HEADERS)
    return [BODY]
