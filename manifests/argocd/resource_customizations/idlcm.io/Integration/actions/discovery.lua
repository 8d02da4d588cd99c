-- The Integration actions that make sense in the current state; Argo CD shows the others greyed out.
local actions = {}
local spec = obj.spec or {}
local status = obj.status or {}
local state = status.status
local suspended = spec.suspend == true
local deleting = obj.metadata.deletionTimestamp ~= nil

-- revalidate: once a validation or operation has ended (it is how UnderReview is left); not while one runs.
local settled = {
  Validated = true, ValidationFailed = true, UnderReview = true, Failed = true, Retrying = true, UpToDate = true,
}
-- sync-now: only where a sync may run at once (validation passed, no human review pending).
local syncable = {Validated = true, UpToDate = true, Failed = true, Retrying = true}

actions["revalidate"] = {["disabled"] = deleting or suspended or settled[state] ~= true}
actions["sync-now"] = {["disabled"] = deleting or suspended or syncable[state] ~= true}
actions["suspend"] = {["disabled"] = deleting or suspended}
actions["resume"] = {["disabled"] = deleting or not suspended}
return actions
