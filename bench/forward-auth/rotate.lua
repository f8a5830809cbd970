-- wrk script for bench/forward-auth/run.sh, from bench/peers/rotate.lua: each
-- request carries the next of the tokens in TOKENS (a file, one token a line).
--
--   TOKENS            the token file (required)
--   TOKENS_LIMIT      use only its first N tokens, rotating (what a token cache
--                     sees in production: the same callers again and again);
--                     default: all of them
--   REQ_PATH          the path requested; default /auth (a forward-auth server
--                     called directly); through nginx: the client's path
--   FORWARD_HEADERS   1 (default): send X-Original-URI / X-Original-Method as
--                     nginx would; 0: leave them to nginx
--   RATE              requests per second for this wrk thread (run wrk with
--                     -t1): requests leave on a fixed schedule, one every
--                     1/RATE s, instead of as fast as the server answers
--
-- RATE needs wrk's delay() hook, which waits in whole milliseconds: each
-- request claims the next slot of the schedule (slots are 1/RATE apart, kept on
-- CLOCK_MONOTONIC through LuaJIT's FFI) and waits until then, rounded down to
-- the millisecond; a connection that is late for its slot sends at once. The
-- mean rate is RATE; requests leave in small bursts at millisecond ticks.
-- wrk measures each latency from the moment the request is written, after the
-- wait, so time a request spent waiting for a busy connection is not counted
-- (wrk2 would count it; Debian has no wrk2). run.sh prints the rate achieved.
local tokens = {}
local i = 0
local path = os.getenv("REQ_PATH") or "/auth"
local forward = (os.getenv("FORWARD_HEADERS") or "1") ~= "0"
local uri = "/orders/42"

function init(args)
  local file = os.getenv("TOKENS")
  local limit = tonumber(os.getenv("TOKENS_LIMIT") or "0")
  local f = assert(io.open(file, "r"))
  for line in f:lines() do
    if #line > 0 and (limit <= 0 or #tokens < limit) then tokens[#tokens + 1] = line end
  end
  f:close()
  assert(#tokens > 0, "no tokens in " .. file)
  i = math.random(#tokens)
end

function request()
  i = i % #tokens + 1
  local headers = { ["Authorization"] = "Bearer " .. tokens[i] }
  if forward then
    headers["X-Original-URI"] = uri
    headers["X-Original-Method"] = "GET"
  end
  return wrk.format("GET", path, headers)
end

local rate = tonumber(os.getenv("RATE") or "0")
if rate > 0 then
  local ffi = require("ffi")
  ffi.cdef [[
    typedef struct { long tv_sec; long tv_nsec; } tollgate_bench_timespec;
    int clock_gettime(int clock_id, tollgate_bench_timespec *tp);
  ]]
  local ts = ffi.new("tollgate_bench_timespec")
  local CLOCK_MONOTONIC = 1
  local function now_ms()
    ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
    return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
  end
  local interval = 1000 / rate
  local next_slot = nil

  function delay()
    local now = now_ms()
    if next_slot == nil then next_slot = now end
    local slot = next_slot
    next_slot = next_slot + interval
    local wait = slot - now
    if wait < 1 then return 0 end
    return math.floor(wait)
  end
end
