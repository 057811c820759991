-- wrk script: durable ConfigMap creates with unique names, authenticated by a bearer token.
--
-- wrk cannot present a client certificate, so create a service account with cluster-admin and a
-- token for it, then run (32 connections, as in docs/benchmarks.md):
--
--   export KUBECONFIG=<root-directory>/admin.kubeconfig
--   kubectl create namespace bench
--   kubectl -n default create serviceaccount bench
--   kubectl create clusterrolebinding bench --clusterrole=cluster-admin --serviceaccount=default:bench
--   TOKEN=$(kubectl -n default create token bench --duration 1h) \
--     wrk -t2 -c32 -d10s -s e2e/wrk/create-configmaps.lua https://127.0.0.1:6443
--
-- The summary adds how many answers were not 2xx and the p50/p99 latency.

local token = os.getenv("TOKEN") or error("set TOKEN to a bearer token")
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

request = function()
  counter = counter + 1
  local name = "cm-" .. tid .. "-" .. counter
  local body = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"' .. name .. '","namespace":"bench"},"data":{"value":"' .. counter .. '","payload":"' .. string.rep("x", 256) .. '"}}'
  return wrk.format("POST", "/clusters/root/api/v1/namespaces/bench/configmaps",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end

done = function(summary, latency, requests)
  io.write(string.format("non-2xx or socket errors: %d\n", summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
  for _, p in ipairs({50, 99}) do
    io.write(string.format("p%d: %.2f ms\n", p, latency:percentile(p) / 1000))
  end
end
