"""Ceiling: Flask under gunicorn that parses the JSON body and re-encodes it with stdlib json.

The cheapest possible "JSON in, JSON out" Flask service: no validation, no numpy, no names.
A GET (the readiness probe) answers a constant body.
"""

import json

from flask import Flask, Response, request

app = Flask(__name__)


@app.route("/", defaults={"path": ""}, methods=["GET", "POST"])
@app.route("/<path:path>", methods=["GET", "POST"])
def echo(path):
    if request.method == "GET":
        return Response(b'{"status":"ok"}', mimetype="application/json")
    obj = json.loads(request.get_data())
    return Response(json.dumps(obj, separators=(",", ":")), mimetype="application/json")
