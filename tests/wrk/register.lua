-- POST a new version (FULL_TRANSITIVE-compatible: one more optional field each time)
-- to one of 100 subjects, each holding prior versions made by run.sh.
local counter = 0
local thread_id = 0
setup = function(thread)
  thread:set("tid", thread_id)
  thread_id = thread_id + 1
end
request = function()
  counter = counter + 1
  local s = counter % 100
  local f = "f" .. tid .. "_" .. counter
  local body = '{"schema":"{\\"type\\":\\"record\\",\\"name\\":\\"R\\",\\"fields\\":[{\\"name\\":\\"id\\",\\"type\\":\\"long\\"},{\\"name\\":\\"'
    .. f .. '\\",\\"type\\":[\\"null\\",\\"string\\"],\\"default\\":null}]}"}'
  return wrk.format("POST", "/subjects/w" .. s .. "-value/versions",
    {["Content-Type"] = "application/vnd.schemaregistry.v1+json"}, body)
end
