-- wrk script of scripts/bench-http.sh, the same for every scenario so that the load generator
-- does the same work in each: every request is `$BENCH_METHOD <url path>` (GET by default),
-- without a body, with
-- `Authorization: Bearer <token>`, rotating through the tokens in the file $BENCH_TOKENS (one
-- per line; a route without auth ignores the header). The requests are formatted once, in
-- init(), so each request costs wrk one table lookup.
--
-- done() prints one line for the script to parse, in exact units (wrk's own summary rounds):
--   BENCH requests=N duration_us=N p99_us=N non2xx=N connect=N read=N write=N timeout=N

local requests = {}
local count = 0
local index = 0

function init(args)
  local method = os.getenv("BENCH_METHOD")
  if method == "" then method = nil end
  local path = os.getenv("BENCH_TOKENS")
  assert(path and path ~= "", "BENCH_TOKENS must name a file of tokens, one per line")
  for token in io.lines(path) do
    if token ~= "" then
      count = count + 1
      -- nil path (and method): those of the command line.
      requests[count] = wrk.format(method, nil, { ["Authorization"] = "Bearer " .. token })
    end
  end
  assert(count > 0, path .. " holds no token")
end

function request()
  index = index % count + 1
  return requests[index]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p99_us=%d non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(99.0),
    e.status, e.connect, e.read, e.write, e.timeout))
end
