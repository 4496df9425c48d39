-- Mixed load for wrk: of every 20 requests, 14 read (lists and details), 4 import ten source
-- records and 2 create an export. Each thread numbers its own requests, so record ids and
-- idempotency keys never repeat across threads or runs.
local token = os.getenv("TOKEN")
local org = os.getenv("ORG") or "org-demo"
local metric = os.getenv("METRIC")
local run = os.getenv("RUN") or tostring(os.time())
local counter = 0
local thread_id = 0
local errors = 0

function setup(thread)
  thread_id = thread_id + 1
  thread:set("id", thread_id)
end

function init(args)
  counter = 0
end

local reads = {
  "/api/v1/organizations/" .. org,
  "/api/v1/bufdir-exports?limit=20",
  "/api/v1/report-history?org_id=" .. org,
  "/api/v1/aggregated-report-data?organization_id=" .. org,
  "/api/v1/organizations",
  "/api/v1/report-reexports?limit=20",
  "/api/v1/source-records?organization_id=" .. org .. "&limit=20",
}

local function headers(extra)
  local h = { ["Authorization"] = "Bearer " .. token }
  for k, v in pairs(extra or {}) do h[k] = v end
  return h
end

function request()
  counter = counter + 1
  local slot = counter % 20
  local key = run .. "-" .. id .. "-" .. counter
  if slot < 14 then
    return wrk.format("GET", reads[(slot % #reads) + 1], headers())
  elseif slot < 18 then
    local records = {}
    for i = 1, 10 do
      records[i] = string.format(
        '{"record_id":"load-%s-%d","occurred_on":"2025-%02d-15","metric":"%s","value":1}',
        key, i, (i % 12) + 1, metric)
    end
    local body = string.format(
      '{"organization_id":"%s","data_source":"load","records":[%s]}', org, table.concat(records, ","))
    return wrk.format("POST", "/api/v1/source-records",
      headers({ ["Content-Type"] = "application/json", ["Idempotency-Key"] = key }), body)
  else
    local body = string.format(
      '{"org_id":"%s","format":"csv","period_from":"2025-01-01","period_to":"2025-12-31"}', org)
    return wrk.format("POST", "/api/v1/bufdir-exports",
      headers({ ["Content-Type"] = "application/json", ["Idempotency-Key"] = key }), body)
  end
end
