-- GET /schemas/ids/{id} over ids 1..N (N from the environment, default 1000).
local n = tonumber(os.getenv("ACCORD_WRK_IDS") or "1000")
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/schemas/ids/" .. ((counter % n) + 1))
end
