-- wrk script used by benchmarks/run.py: POSTs the file named by $WRK_BODY_FILE as JSON (or
-- GETs when it is unset) and prints one machine-readable line from done():
--   RESULT {"requests":..,"duration_us":..,"errors":{..},"latency_us":{"p50":..,"p99":..}}
local path = os.getenv("WRK_BODY_FILE")
if path and path ~= "" then
  local f = assert(io.open(path, "rb"))
  wrk.body = f:read("*a")
  f:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%.1f,"p90":%.1f,"p99":%.1f,"mean":%.1f,"max":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max))
end
