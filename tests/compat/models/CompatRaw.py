"""Low-level *_raw methods: the request JSON is echoed back (inside jsonData), predict_raw can pick
the HTTP status through status.code, and returned meta.metrics are recorded and kept."""


class CompatRaw:
    def predict_raw(self, msg):
        out = {"jsonData": {"echo": msg},
               "meta": {"metrics": [{"key": "raw_gauge", "type": "GAUGE", "value": 1}]}}
        if isinstance(msg, dict) and isinstance(msg.get("jsonData"), dict) and "code" in msg["jsonData"]:
            out["status"] = {"code": msg["jsonData"]["code"], "info": "custom", "status": 0}
        return out

    def transform_input_raw(self, msg):
        return {"jsonData": {"ti": msg}}

    def transform_output_raw(self, msg):
        return {"jsonData": {"to": msg}}

    def route_raw(self, msg):
        return {"data": {"ndarray": [[2]]}, "meta": {"tags": {"raw": True}}}

    def aggregate_raw(self, msgs):
        return {"jsonData": {"agg": msgs}}

    def send_feedback_raw(self, feedback):
        return {"strData": "feedback-raw"}

    def health_status_raw(self):
        return {"strData": "raw-ok"}
