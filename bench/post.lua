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

-- wrk.format uses the headers it is given instead of wrk.headers (the -H
-- options), so they are copied in: without them the session cookie is not
-- sent, and every POST is a guest's, redirected to sign in.
local headers = nil

function request()
  if headers == nil then
    headers = {}
    for k, v in pairs(wrk.headers) do
      headers[k] = v
    end
    headers["Content-Type"] = "application/x-www-form-urlencoded"
  end
  n = n + 1
  local body = "name=Bench+lamp+" .. tid .. "-" .. n ..
    "&description=A+brass+lamp+in+good+condition.+Ships+within+two+days." ..
    "&price=12.50&quantity=3"
  return wrk.format("POST", "/listings", headers, body)
end
