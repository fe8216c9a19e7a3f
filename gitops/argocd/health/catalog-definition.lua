-- Argo CD health check for orchestrator.dev/CatalogItem and orchestrator.dev/CatalogBundle (the same conditions).
-- Reads the kstatus conditions the operator writes (Ready, Stalled: the definition is invalid); see docs/gitops.md.
local hs = {}
local meta = obj.metadata or {}
local status = obj.status

local function condition(kind)
  if status == nil or status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function describe(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  elseif c ~= nil and c.reason ~= nil and c.reason ~= "" then
    return c.reason
  end
  return fallback
end

if meta.deletionTimestamp ~= nil then
  local why = condition("Stalled")
  if why == nil or why.status ~= "True" then
    why = condition("Ready")
  end
  hs.status = "Progressing"
  hs.message = describe(why, "deleting")
  return hs
end
if status == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to report status"
  return hs
end
if status.observedGeneration ~= nil and meta.generation ~= nil and status.observedGeneration ~= meta.generation then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to observe generation " .. tostring(meta.generation)
    .. " (observed " .. tostring(status.observedGeneration) .. ")"
  return hs
end
local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled, "stalled")
  return hs
end
local reconciling = condition("Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = describe(reconciling, "reconciling")
  return hs
end
local ready = condition("Ready")
if ready == nil then
  hs.status = "Progressing"
  hs.message = describe(nil, "waiting for the Ready condition")
  return hs
end
if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready, "ready")
  return hs
end
hs.status = "Progressing"
hs.message = describe(ready, "not ready")
return hs
