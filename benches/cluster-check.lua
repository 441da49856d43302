-- wrk script for benches/cluster.sh: posts the request in BODY_FILE and checks every
-- answer: status 200 and the rule ids of its findings, in order, equal to EXPECT_RULES
-- (comma-separated, from `volatile scan` of the same file). Prints one JSON line at the end.
local body_file = os.getenv("BODY_FILE")
local expected = os.getenv("EXPECT_RULES") or ""
local f = assert(io.open(body_file, "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok = 0
  mismatched = 0
  not_200 = 0
  first_bad = ""
end

function response(status, headers, body)
  if status ~= 200 then
    not_200 = not_200 + 1
    if first_bad == "" then first_bad = "status " .. status end
    return
  end
  local ids = {}
  for id in body:gmatch('"rule_id":"([^"]*)"') do
    ids[#ids + 1] = id
  end
  local seen = table.concat(ids, ",")
  if seen == expected then
    ok = ok + 1
  else
    mismatched = mismatched + 1
    if first_bad == "" then first_bad = #ids .. " findings: " .. seen:sub(1, 200) end
  end
end

function done(summary, latency, requests)
  local ok_total, mismatched_total, not_200_total, bad = 0, 0, 0, ""
  for _, thread in ipairs(threads) do
    ok_total = ok_total + thread:get("ok")
    mismatched_total = mismatched_total + thread:get("mismatched")
    not_200_total = not_200_total + thread:get("not_200")
    if bad == "" then bad = thread:get("first_bad") end
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "checked_ok": %d, "mismatched": %d, "not_200": %d, ' ..
    '"first_bad": "%s", "p50_ms": %.2f, "p99_ms": %.2f, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}}\n',
    summary.requests, summary.duration / 1e6, ok_total, mismatched_total, not_200_total,
    (bad:gsub('[\\"]', "")), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.connect, e.read, e.write, e.timeout))
end
