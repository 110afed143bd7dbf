-- POST /api/auth/register with a new email every request.
package.path = "bench/?.lua;" .. package.path
local report = require("report")
local threads = 0
-- Runs in the main state: give each thread its own number (a global there).
setup = function(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end
local counter = 0
request = function()
  counter = counter + 1
  local body = string.format(
    '{"name": "Bench", "email": "bench-%d-%d-%d@example.com", "password": "password123", "passwordConfirm": "password123"}',
    os.time(), thread_number or 0, counter)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
done = report.done
