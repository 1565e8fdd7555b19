-- wrk script for POST /listings: a valid sell form, as a browser sends it,
-- with a name unique per thread and request so rows are told apart.
-- No Origin or Sec-Fetch-Site header: like curl, so the app's cross-origin
-- protection lets it through (see internal/web/middleware.go).
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local n = 0

function request()
  n = n + 1
  local body = "name=Bench+lamp+" .. tid .. "-" .. n ..
    "&description=A+brass+lamp+in+good+condition.+Ships+within+two+days." ..
    "&price=12.50&quantity=3"
  return wrk.format("POST", "/listings",
    { ["Content-Type"] = "application/x-www-form-urlencoded" }, body)
end
