-- wrk script for POST /api/v1/orders: each request is a buyer (taken in
-- turn from the tokens file, one Bearer token a line) buying one unit of
-- a listing: always CHECKOUT_FIRST, or one of the CHECKOUT_COUNT listings
-- from CHECKOUT_FIRST on, at random. No Origin or Sec-Fetch-Site header:
-- an API client.
local tokens = {}
for line in io.lines(os.getenv("CHECKOUT_TOKENS")) do
  tokens[#tokens + 1] = "Bearer " .. line
end
local first = tonumber(os.getenv("CHECKOUT_FIRST"))
local count = tonumber(os.getenv("CHECKOUT_COUNT"))
local n = 0

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
  n = math.random(#tokens)
end

function request()
  n = n + 1
  local id = first
  if count > 1 then
    id = first + math.random(count) - 1
  end
  local body = '{"items":[{"listing_id":' .. id .. ',"quantity":1}]}'
  return wrk.format("POST", "/api/v1/orders", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = tokens[n % #tokens + 1],
  }, body)
end
