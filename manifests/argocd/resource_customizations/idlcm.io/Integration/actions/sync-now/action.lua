-- Run a full sync now instead of at the next sync.interval: the operator reacts to every new value of the
-- idlcm.io/sync-now annotation. Same value scheme as revalidate (Unix seconds, always increasing).
local os = require("os")
local key = "idlcm.io/sync-now"
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
local value = os.time()
local last = tonumber(obj.metadata.annotations[key])
if last ~= nil and last >= value then
  value = last + 1
end
obj.metadata.annotations[key] = tostring(value)
return obj
