-- Argo CD health of an idlcm.io ExternalApp (the app-level validation record the operator maintains), read
-- from status.state. Same sandbox as Integration/health.lua: base and table libraries only.
local health = {
  Validated = "Healthy",
  Pending = "Progressing",
  Validating = "Progressing",
  ValidationFailed = "Degraded",
  UnderReview = "Suspended",
}

local hs = {}
local status = obj.status or {}
local state = status.state
if state == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator"
  return hs
end

local message = state
if status.message ~= nil and status.message ~= "" then
  message = state .. ": " .. status.message
end

hs.status = health[state]
if hs.status == nil then
  hs.status = "Unknown"
  hs.message = "Unknown state " .. message
  return hs
end
hs.message = message
return hs
