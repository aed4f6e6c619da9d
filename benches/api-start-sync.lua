-- wrk script for benches/api.sh: POSTs StartSyncExecution (AWS JSON 1.0) and
-- counts every response that is not a 200 carrying "status": "SUCCEEDED",
-- so that a run measuring errors is reported as one.
-- Environment:
--   API_MACHINE_ARN  the state machine's ARN (from CreateStateMachine)
--   API_INPUT_FILE   the execution input (JSON text; sent as a JSON string)
--   API_AUTHORIZATION  optional Authorization header (e.g. for an emulator's routing)
--   API_DELAY_MS     optional mean pause per connection between a response and the
--                    next request (fractions allowed): wrk has no -R, this paces it

local function json_string(text)
  text = text:gsub("%s+$", "")
  text = text:gsub("\\", "\\\\"):gsub('"', '\\"'):gsub("\n", "\\n"):gsub("\r", "\\r"):gsub("\t", "\\t")
  return '"' .. text .. '"'
end

local function read_file(path)
  local file = assert(io.open(path, "rb"), "cannot open API_INPUT_FILE " .. tostring(path))
  local text = file:read("*a")
  file:close()
  return text
end

local arn = assert(os.getenv("API_MACHINE_ARN"), "API_MACHINE_ARN is not set")
local input = read_file(os.getenv("API_INPUT_FILE"))

wrk.method = "POST"
wrk.path = "/"
wrk.body = '{"stateMachineArn":' .. json_string(arn) .. ',"input":' .. json_string(input) .. "}"
wrk.headers["Content-Type"] = "application/x-amz-json-1.0"
wrk.headers["X-Amz-Target"] = "AWSStepFunctions.StartSyncExecution"
local authorization = os.getenv("API_AUTHORIZATION")
if authorization and authorization ~= "" then
  wrk.headers["Authorization"] = authorization
end

-- Per-thread counters, gathered in done() through the thread objects.
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

checked, not_ok, not_succeeded, first_failure = 0, 0, 0, nil

function response(status, headers, body)
  checked = checked + 1
  if status ~= 200 then
    not_ok = not_ok + 1
  elseif not body:find('"status":%s*"SUCCEEDED"') then
    not_succeeded = not_succeeded + 1
  else
    return
  end
  if first_failure == nil then
    first_failure = status .. " " .. body:sub(1, 300)
  end
end

local delay_ms = tonumber(os.getenv("API_DELAY_MS") or "")
if delay_ms and delay_ms > 0 then
  -- wrk's timers count whole milliseconds: mix floor and ceil to keep the mean.
  local whole = math.floor(delay_ms)
  local fraction = delay_ms - whole
  function delay()
    if math.random() < fraction then
      return whole + 1
    end
    return whole
  end
end

function done(summary, latency, requests)
  local total_checked, total_not_ok, total_not_succeeded, failure = 0, 0, 0, nil
  for _, thread in ipairs(threads) do
    total_checked = total_checked + thread:get("checked")
    total_not_ok = total_not_ok + thread:get("not_ok")
    total_not_succeeded = total_not_succeeded + thread:get("not_succeeded")
    failure = failure or thread:get("first_failure")
  end
  io.write(string.format("CHECKED %d responses: %d not 200, %d without SUCCEEDED, %d socket errors\n",
    total_checked, total_not_ok, total_not_succeeded,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
  if failure then
    io.write("FIRST FAILURE " .. failure .. "\n")
  end
end
