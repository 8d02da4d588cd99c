-- Argo CD health of an idlcm.io Integration, read from status.status (README.md, "The status set").
-- Argo CD runs custom scripts in gopher-lua (Lua 5.1) with the base and table libraries and os.time/os.date
-- only: no string or math library, so this script uses neither.
local health = {
  UpToDate = "Healthy",
  Validated = "Healthy",
  UnderValidation = "Progressing",
  Validating = "Progressing",
  InProgress = "Progressing",
  Retrying = "Progressing",
  ValidationFailed = "Degraded",
  Failed = "Degraded",
  UnderReview = "Suspended",
}

local hs = {}
local status = obj.status or {}
local state = status.status
if state == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator"
  return hs
end

local message = state
if status.message ~= nil and status.message ~= "" then
  message = state .. ": " .. status.message
end

-- A status written for an older spec says nothing about the current one.
local generation = obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. generation .. " (last: " .. message .. ")"
  return hs
end

if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = message
  return hs
end

hs.status = health[state]
if hs.status == nil then
  hs.status = "Unknown"
  hs.message = "Unknown status " .. message
  return hs
end
hs.message = message
return hs
