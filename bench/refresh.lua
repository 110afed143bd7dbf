-- POST /api/auth/refresh. Refresh tokens rotate, so each wrk thread (one
-- connection each) follows its own session: it starts from one token of
-- BENCH_TOKENS (comma-separated) and uses the token each response returns.
package.path = "bench/?.lua;" .. package.path
local report = require("report")
local tokens, next_index = {}, 1
for t in string.gmatch(os.getenv("BENCH_TOKENS") or "", "[^,]+") do table.insert(tokens, t) end
setup = function(thread)
  thread:set("token", tokens[next_index])
  next_index = next_index + 1
end
request = function()
  return wrk.format("POST", nil, {["Authorization"] = "Bearer " .. token})
end
response = function(status, headers, body)
  local cookies = headers["Set-Cookie"] or headers["set-cookie"] or ""
  local fresh = string.match(cookies, "refresh_token=([%w_%-]+)")
  if fresh then token = fresh end
end
done = report.done
