-- wrk script for bench/bench_serve.py: GET a random path from the file given after `--`
-- (one path a line), with the API key of the environment variable SEGMINT_BENCH_TOKEN.
local paths = {}
local token = os.getenv("SEGMINT_BENCH_TOKEN") or ""

init = function(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  wrk.headers["Authorization"] = "Bearer " .. token
end

request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "JSON {\"requests\": %d, \"duration_us\": %d, \"connect\": %d, \"read\": %d, \"write\": %d, " ..
    "\"status\": %d, \"timeout\": %d, \"p50\": %d, \"p90\": %d, \"p99\": %d, \"max\": %d, \"mean\": %f}\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
