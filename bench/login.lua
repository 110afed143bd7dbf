-- POST /api/auth/login for one registered user (BENCH_EMAIL).
package.path = "bench/?.lua;" .. package.path
local report = require("report")
local body = string.format('{"email": "%s", "password": "%s"}', os.getenv("BENCH_EMAIL"), os.getenv("BENCH_PASSWORD"))
request = function()
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
done = report.done
