-- GET /subjects/s{k}-value/versions/latest over N subjects (N from the environment).
local n = tonumber(os.getenv("ACCORD_WRK_IDS") or "1000")
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/subjects/s" .. (counter % n) .. "-value/versions/latest")
end
