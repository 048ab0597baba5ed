-- Argo CD health check for jobmatch.io/JobMatchEnvironment.
-- argocd-cm: resource.customizations.health.jobmatch.io_JobMatchEnvironment (docs/gitops.md).
-- It reads the conditions kstatus reads (Stalled, Reconciling, Ready) and status.observedGeneration.
-- Argo CD's Lua has the base, table and os libraries only (no string library): plain comparisons and `..`.
local hs = {}
if obj.status == nil or obj.status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator's first reconcile"
  return hs
end
if obj.metadata.generation ~= nil and obj.status.observedGeneration ~= obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to reconcile generation " .. tostring(obj.metadata.generation)
  return hs
end
local conditions = {}
for _, condition in ipairs(obj.status.conditions) do
  conditions[condition.type] = condition
end
local stalled = conditions["Stalled"]
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = stalled.reason .. ": " .. (stalled.message or "")
  return hs
end
local annotations = obj.metadata.annotations or {}
if annotations["jobmatch.io/paused"] == "true" then
  hs.status = "Suspended"
  hs.message = "jobmatch.io/paused is \"true\": observed, nothing written"
  return hs
end
if obj.spec ~= nil and obj.spec.policy ~= nil and obj.spec.policy.suspend == true then
  hs.status = "Suspended"
  hs.message = "spec.policy.suspend: nothing observed, nothing changed"
  return hs
end
local ready = conditions["Ready"]
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or "Ready"
  return hs
end
local reconciling = conditions["Reconciling"]
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = reconciling.reason .. ": " .. (reconciling.message or "")
  return hs
end
hs.status = "Progressing"
if ready ~= nil then
  hs.message = ready.reason .. ": " .. (ready.message or "")
else
  hs.message = "Waiting for the Ready condition"
end
return hs
