"""Ceiling: a bare Flask route under gunicorn that returns a constant JSON body.

Every path and method answers the identity model's response to the small request, so the
same load (and the readiness probe on /health/status) works against it. The request body is
not read by the route (gunicorn discards it).
"""

from flask import Flask, Response

BODY = b'{"data":{"names":["t:0","t:1","t:2","t:3"],"ndarray":[[1,2,3,4]]},"meta":{}}'

app = Flask(__name__)


@app.route("/", defaults={"path": ""}, methods=["GET", "POST"])
@app.route("/<path:path>", methods=["GET", "POST"])
def const(path):
    return Response(BODY, mimetype="application/json")
