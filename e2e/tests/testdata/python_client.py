"""Drives a kcp-rs install with the official Python client (`kubernetes` from PyPI) the way
its users do: typed CoreV1Api calls with objects built without apiVersion/kind, the patch
types the client picks from the body, watch.Watch().stream, DynamicClient and delete with
V1DeleteOptions bodies. Run by e2e/tests/python_client.rs; exits non-zero on the first
failed check.

usage: python_client.py <admin kubeconfig> <scratch directory>
"""

import json
import sys
import threading
import time
import uuid

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException
from kubernetes.dynamic import DynamicClient

KUBECONFIG, SCRATCH = sys.argv[1], sys.argv[2]
config.load_kube_config(config_file=KUBECONFIG)
api_client = client.ApiClient()
v1 = client.CoreV1Api(api_client)
NS = "py-" + uuid.uuid4().hex[:8]


def step(name):
    print("ok:", name, flush=True)


def meta(name, **labels):
    return client.V1ObjectMeta(name=name, labels=labels or None)


def api_error(call, *args, **kwargs):
    """Runs a call that must fail; returns (status, the Status body as a dict)."""
    try:
        call(*args, **kwargs)
    except ApiException as e:
        return e.status, json.loads(e.body) if e.body else {}
    raise AssertionError(f"{call.__name__} succeeded but should have failed")


def eventually(what, check, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def version():
    info = client.VersionApi(api_client).get_code()
    assert info.major == "1" and info.minor.isdigit(), info
    assert info.git_version.startswith("v1."), info
    step("/version")


def missing_namespace():
    status, body = api_error(v1.read_namespace, "no-such-namespace")
    assert status == 404, status
    assert (body["kind"], body["status"], body["reason"], body["code"]) == ("Status", "Failure", "NotFound", 404), body
    assert body["message"] == 'namespaces "no-such-namespace" not found', body
    assert body["details"] == {"name": "no-such-namespace", "kind": "namespaces"}, body
    step("read_namespace of a missing name is a 404 Status")


def typed_writes():
    # The client leaves out apiVersion and kind: the server takes them from the URL.
    ns = v1.create_namespace(client.V1Namespace(metadata=meta(NS)))
    assert (ns.api_version, ns.kind, ns.metadata.name) == ("v1", "Namespace", NS), ns
    cm = v1.create_namespaced_config_map(NS, client.V1ConfigMap(metadata=meta("typed", app="py"), data={"a": "1"}))
    assert (cm.api_version, cm.kind, cm.metadata.namespace, cm.data) == ("v1", "ConfigMap", NS, {"a": "1"}), cm
    cm.data["a"] = "2"
    replaced = v1.replace_namespaced_config_map("typed", NS, client.V1ConfigMap(metadata=cm.metadata, data=cm.data))
    assert replaced.data == {"a": "2"} and replaced.metadata.resource_version != cm.metadata.resource_version, replaced
    # The stale resourceVersion of the first write is now a conflict.
    status, body = api_error(v1.replace_namespaced_config_map, "typed", NS, client.V1ConfigMap(metadata=cm.metadata, data={}))
    assert status == 409 and body["reason"] == "Conflict", body
    sa = v1.create_namespaced_service_account(NS, client.V1ServiceAccount(metadata=meta("robot")))
    assert sa.kind == "ServiceAccount", sa
    review = client.AuthorizationV1Api(api_client).create_self_subject_access_review(client.V1SelfSubjectAccessReview(
        spec=client.V1SelfSubjectAccessReviewSpec(resource_attributes=client.V1ResourceAttributes(
            namespace=NS, verb="create", resource="configmaps"))))
    assert review.status.allowed is True, review
    step("create/replace without apiVersion and kind")


def contradictions():
    def create(body):
        return api_error(v1.create_namespaced_config_map, NS, body)

    status, body = create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}})
    assert status == 400 and body["message"] == "the kind in the data (Secret) does not match the expected kind (ConfigMap)", body
    status, body = create({"apiVersion": "apps/v1", "metadata": {"name": "x"}})
    assert status == 400 and body["message"] == "the API version in the data (apps/v1) does not match the expected API version (v1)", body
    step("a kind or apiVersion that contradicts the URL is a 400")


def ill_typed():
    # Python dicts take any value; Go's types do not, and kube-apiserver decodes into them.
    status, body = api_error(v1.create_namespaced_config_map, NS, client.V1ConfigMap(metadata=meta("ints"), data={"port": 8080}))
    assert status == 400, body
    assert body["message"] == ('ConfigMap in version "v1" cannot be handled as a ConfigMap: '
                               "json: cannot unmarshal number into Go struct field ConfigMap.data of type string"), body
    status, body = api_error(v1.patch_namespaced_config_map, "typed", NS, {"metadata": {"labels": {"replicas": 3}}})
    assert status == 422 and body["reason"] == "Invalid", body
    assert body["message"].endswith("json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string"), body
    assert v1.read_namespaced_config_map("typed", NS).metadata.labels == {"app": "py"}
    step("values of the wrong type are refused, not stored")


def patches():
    # A dict body goes out as a strategic merge patch, a list as a JSON patch.
    got = v1.patch_namespaced_config_map("typed", NS, {"metadata": {"labels": {"patched": "smp"}}, "data": {"b": "2"}})
    assert got.data == {"a": "2", "b": "2"} and got.metadata.labels == {"app": "py", "patched": "smp"}, got
    got = v1.patch_namespaced_config_map("typed", NS, [
        {"op": "add", "path": "/data/c", "value": "3"},
        {"op": "remove", "path": "/data/a"},
    ])
    assert got.data == {"b": "2", "c": "3"}, got
    status, _ = api_error(v1.patch_namespaced_config_map, "typed", NS, [{"op": "test", "path": "/data/b", "value": "wrong"}])
    assert status in (409, 422), status
    # Strategic merge patch merges lists by their merge key.
    v1.patch_namespaced_service_account("robot", NS, {"secrets": [{"name": "one"}]})
    sa = v1.patch_namespaced_service_account("robot", NS, {"secrets": [{"name": "two"}]})
    assert [s.name for s in sa.secrets] == ["two", "one"] or [s.name for s in sa.secrets] == ["one", "two"], sa.secrets
    # CustomObjectsApi sends JSON merge patches, here to a built-in group.
    rbac = client.RbacAuthorizationV1Api(api_client)
    rbac.create_namespaced_role(NS, client.V1Role(metadata=meta("reader"), rules=[
        client.V1PolicyRule(api_groups=[""], resources=["configmaps"], verbs=["get"])]))
    role = client.CustomObjectsApi(api_client).patch_namespaced_custom_object(
        "rbac.authorization.k8s.io", "v1", NS, "roles", "reader",
        {"metadata": {"labels": {"patched": "merge"}}, "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}]})
    assert role["metadata"]["labels"] == {"patched": "merge"} and role["rules"][0]["resources"] == ["secrets"], role
    step("strategic merge, JSON and JSON merge patches")


def paged_lists():
    for i in range(7):
        v1.create_namespaced_config_map(NS, client.V1ConfigMap(metadata=meta(f"page-{i}", app="paged", parity=str(i % 2))))
    names, token, pages = [], None, 0
    while True:
        page = v1.list_namespaced_config_map(
            NS, label_selector="app=paged,parity=0", field_selector="metadata.name!=page-2", limit=2, _continue=token)
        pages += 1
        assert page.kind == "ConfigMapList" and page.metadata.resource_version, page.metadata
        assert len(page.items) <= 2, page.items
        names += [i.metadata.name for i in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert names == ["page-0", "page-4", "page-6"], names
    assert pages == 2, pages
    step("list with label_selector, field_selector, limit and _continue")


def deletes():
    for name in ("del-bg", "del-fg", "del-uid"):
        v1.create_namespaced_config_map(NS, client.V1ConfigMap(metadata=meta(name, app="del")))
    uid = v1.read_namespaced_config_map("del-bg", NS).metadata.uid
    # A ConfigMap that is gone at once is reported as a Status, which the client types it as.
    status = v1.delete_namespaced_config_map("del-bg", NS, body=client.V1DeleteOptions(propagation_policy="Background"))
    assert (status.kind, status.status) == ("Status", "Success"), status
    assert (status.details.name, status.details.kind, status.details.uid) == ("del-bg", "configmaps", uid), status.details
    # Foreground deletion waits for the garbage collector: the answer is the marked object.
    marked = v1.delete_namespaced_config_map("del-fg", NS, body=client.V1DeleteOptions(
        api_version="v1", kind="DeleteOptions", propagation_policy="Foreground", grace_period_seconds=0))
    assert marked.kind == "ConfigMap", marked
    # Service accounts answer with the deleted object, as kube-apiserver's do.
    v1.create_namespaced_service_account(NS, client.V1ServiceAccount(metadata=meta("short-lived")))
    gone = v1.delete_namespaced_service_account("short-lived", NS, body=client.V1DeleteOptions())
    assert (gone.kind, gone.metadata.name) == ("ServiceAccount", "short-lived"), gone
    status, body = api_error(v1.delete_namespaced_config_map, "del-uid", NS, body=client.V1DeleteOptions(
        preconditions=client.V1Preconditions(uid="not-the-uid")))
    assert status == 409 and "Precondition failed" in body["message"], body

    def gone(name):
        try:
            v1.read_namespaced_config_map(name, NS)
            return False
        except ApiException as e:
            return e.status == 404

    eventually("del-bg and del-fg to go", lambda: gone("del-bg") and gone("del-fg"))
    v1.delete_collection_namespaced_config_map(NS, label_selector="app=del", body=client.V1DeleteOptions(propagation_policy="Background"))
    eventually("the collection to go", lambda: gone("del-uid"))
    step("delete with V1DeleteOptions bodies")


def watches():
    listed = v1.list_namespaced_config_map(NS, label_selector="app=watched")
    start = listed.metadata.resource_version
    v1.create_namespaced_config_map(NS, client.V1ConfigMap(metadata=meta("w1", app="watched")))
    v1.patch_namespaced_config_map("w1", NS, {"data": {"k": "v"}})
    v1.delete_namespaced_config_map("w1", NS)

    # From the list's resourceVersion: exactly what happened after it, then the stream ends at
    # timeout_seconds.
    w = watch.Watch()
    began = time.time()
    seen = [(e["type"], e["object"].metadata.name) for e in w.stream(
        v1.list_namespaced_config_map, NS, label_selector="app=watched", resource_version=start, timeout_seconds=2)]
    assert seen == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")], seen
    assert time.time() - began < 15, "the watch outlived timeout_seconds"
    resume_from = w.resource_version
    assert resume_from and int(resume_from) > int(start), (resume_from, start)

    # Resuming from the last resourceVersion seen gives only what came later.
    v1.create_namespaced_config_map(NS, client.V1ConfigMap(metadata=meta("w2", app="watched")))
    seen = [(e["type"], e["object"].metadata.name) for e in watch.Watch().stream(
        v1.list_namespaced_config_map, NS, label_selector="app=watched", resource_version=resume_from, timeout_seconds=2)]
    assert seen == [("ADDED", "w2")], seen

    # Live events while the stream is open, and a BOOKMARK before the timeout.
    def later():
        time.sleep(1)
        v1.patch_namespaced_config_map("w2", NS, {"data": {"live": "yes"}})

    writer = threading.Thread(target=later)
    writer.start()
    events = list(watch.Watch().stream(
        v1.list_namespaced_config_map, NS, label_selector="app=watched", allow_watch_bookmarks=True, timeout_seconds=6))
    writer.join()
    changes = [e for e in events if e["type"] != "BOOKMARK"]
    assert [e["type"] for e in changes] == ["ADDED", "MODIFIED"], events
    assert changes[1]["object"].data == {"live": "yes"}, changes[1]
    # The last word before the timeout is a BOOKMARK at least as new as everything before it.
    assert events[-1]["type"] == "BOOKMARK", [e["type"] for e in events]
    bookmark = events[-1]["raw_object"]
    newest = max(int(e["raw_object"]["metadata"]["resourceVersion"]) for e in events[:-1])
    assert bookmark["kind"] == "ConfigMap" and int(bookmark["metadata"]["resourceVersion"]) >= newest, (bookmark, newest)
    step("watch: resourceVersion, resume, timeout_seconds, BOOKMARK")


def expired_watch():
    # The install keeps a short event window (--watch-cache-size): write past it, then a watch
    # from before it gets an ERROR event, which the client raises as a 410.
    for i in range(60):
        v1.create_namespaced_config_map(NS, client.V1ConfigMap(metadata=meta(f"churn-{i}", app="churn")))
    try:
        for _ in watch.Watch().stream(v1.list_namespaced_config_map, NS, resource_version="1", timeout_seconds=5):
            pass
    except ApiException as e:
        assert e.status == 410 and "Expired" in e.reason, (e.status, e.reason)
    else:
        raise AssertionError("a watch from a compacted resourceVersion did not fail")
    step("watch: ERROR 410 for a compacted resourceVersion")


def dynamic():
    dc = DynamicClient(api_client, cache_file=f"{SCRATCH}/discovery.json")
    assert dc.version["kubernetes"]["major"] == "1", dc.version
    core = dc.request("GET", "/api")
    assert core.kind == "APIVersions" and core.versions == ["v1"], core
    groups = dc.request("GET", "/apis")
    assert groups.kind == "APIGroupList", groups
    for g in groups.groups:
        assert g.preferredVersion in g.versions, g
    names = {g.name for g in groups.groups}
    assert {"rbac.authorization.k8s.io", "tenancy.kcp.io", "apiextensions.k8s.io"} <= names, names
    resources = dc.request("GET", "/api/v1")
    assert resources.kind == "APIResourceList" and resources.groupVersion == "v1", resources
    assert any(r.name == "configmaps" and r.kind == "ConfigMap" and r.namespaced for r in resources.resources), resources

    cms = dc.resources.get(api_version="v1", kind="ConfigMap")
    assert dc.resources.get(api_version="rbac.authorization.k8s.io/v1", kind="Role").namespaced
    assert not dc.resources.get(api_version="tenancy.kcp.io/v1alpha1", kind="Workspace").namespaced
    assert dc.resources.get(kind="Namespace").preferred

    made = cms.create(namespace=NS, body={"metadata": {"name": "dyn", "labels": {"app": "dyn"}}, "data": {"a": "1"}})
    assert (made.kind, made.metadata.name) == ("ConfigMap", "dyn"), made
    assert cms.get(name="dyn", namespace=NS).data.a == "1"
    listed = cms.get(namespace=NS, label_selector="app=dyn")
    assert listed.kind == "ConfigMapList" and [i.metadata.name for i in listed.items] == ["dyn"], listed
    got = cms.patch(name="dyn", namespace=NS, body={"data": {"b": "2"}})
    assert dict(got.data) == {"a": "1", "b": "2"}, got.data
    got = cms.patch(name="dyn", namespace=NS, body={"data": {"a": None}}, content_type="application/merge-patch+json")
    assert dict(got.data) == {"b": "2"}, got.data
    got = cms.patch(name="dyn", namespace=NS, body=[{"op": "replace", "path": "/data/b", "value": "3"}], content_type="application/json-patch+json")
    assert dict(got.data) == {"b": "3"}, got.data
    replaced = cms.replace(namespace=NS, body={"metadata": {"name": "dyn"}, "data": {"r": "1"}})
    assert dict(replaced.data) == {"r": "1"}, replaced.data
    events = [(e["type"], e["object"].metadata.name) for e in cms.watch(
        namespace=NS, name="dyn", resource_version=made.metadata.resourceVersion, timeout=2)]
    assert events == [("MODIFIED", "dyn")] * 4, events
    cms.delete(name="dyn", namespace=NS, body={"propagationPolicy": "Background"})
    status = None
    try:
        cms.get(name="dyn", namespace=NS)
    except Exception as e:  # the dynamic client raises its own NotFoundError
        status = getattr(e, "status", None)
    assert status == 404, status
    step("DynamicClient: discovery, create, get, list, patch, replace, watch, delete")


def cleanup():
    v1.delete_namespace(NS, body=client.V1DeleteOptions())
    step("namespace deleted")


for check in (version, missing_namespace, typed_writes, contradictions, ill_typed, patches, paged_lists, deletes, watches, expired_watch, dynamic, cleanup):
    check()
print("all python client checks passed", flush=True)
