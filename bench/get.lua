-- GET with an optional cookie (BENCH_COOKIE), e.g. /api/users/me.
package.path = "bench/?.lua;" .. package.path
local report = require("report")
local cookie = os.getenv("BENCH_COOKIE")
request = function()
  local headers = {}
  if cookie and cookie ~= "" then headers["Cookie"] = cookie end
  return wrk.format("GET", nil, headers)
end
done = report.done
