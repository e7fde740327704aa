-- wrk script for bench/ingest.py: POSTs pre-built, encrypted and signed Lark events to /event,
-- each event once. File format, one event a line: timestamp \t nonce \t signature \t body
local requests = {}
local next_index = 0

function init(args)
  local f = assert(io.open(args[1], "r"))
  for line in f:lines() do
    local ts, nonce, sig, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    requests[#requests + 1] = wrk.format("POST", "/event", {
      ["Content-Type"] = "application/json; charset=utf-8",
      ["X-Lark-Request-Timestamp"] = ts,
      ["X-Lark-Request-Nonce"] = nonce,
      ["X-Lark-Signature"] = sig,
    }, body)
  end
  f:close()
end

function request()
  next_index = next_index + 1
  if next_index > #requests then
    next_index = 1 -- wrapped: the rest are duplicates (reported by bench/ingest.py)
  end
  return requests[next_index]
end

function done(summary, latency, requests_)
  io.write(string.format("RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d non2xx=%d errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
