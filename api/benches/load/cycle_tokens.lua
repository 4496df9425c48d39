-- Each request carries the next token of the file: every token is new to the server once.
local tokens = {}
local i = 0
function init(args)
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line end
end
function request()
  i = i + 1
  local t = tokens[((i - 1) % #tokens) + 1]
  return wrk.format("GET", "/api/v1/organizations/org-demo", {["Authorization"] = "Bearer " .. t})
end
