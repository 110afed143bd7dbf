-- POST /api/auth/register with a new email every request.
package.path = "bench/?.lua;" .. package.path
local report = require("report")
local counter, tag = 0, 0
setup = function(thread) tag = tag + 1; thread:set("tag", tag) end
init = function() math.randomseed(os.time() + (tag or 0)); run = math.random(1, 1e9) end
request = function()
  counter = counter + 1
  local body = string.format(
    '{"name": "Bench", "email": "bench-%d-%d-%d@example.com", "password": "password123", "passwordConfirm": "password123"}',
    run, tag or 0, counter)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
done = report.done
