-- Re-run validation (and leave UnderReview once the problem is fixed): the operator reacts to every new value
-- of the idlcm.io/revalidate annotation. The value is Unix seconds, kept above the previous value so that two
-- runs within one second still change it. Argo CD's sandbox offers os.time and os.date, nothing else of os.
local os = require("os")
local key = "idlcm.io/revalidate"
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
