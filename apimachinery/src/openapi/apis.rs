//! Hand-written OpenAPI schemas of the `apis.kcp.io` kinds (kcp generates them from Go types,
//! which k8s-openapi does not have): they drive `kubectl explain` and the pruning of unknown
//! fields, so every field either version accepts is listed.

use serde_json::{json, Value};

fn string(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

fn boolean(description: &str) -> Value {
    json!({"type": "boolean", "description": description})
}

fn strings(description: &str) -> Value {
    json!({"type": "array", "description": description, "items": {"type": "string"}})
}

fn object(description: &str, properties: Value) -> Value {
    json!({"type": "object", "description": description, "properties": properties})
}

fn list(description: &str, item: Value) -> Value {
    json!({"type": "array", "description": description, "items": item})
}

/// An object whose content is not described here and is kept as written.
fn free(description: &str) -> Value {
    json!({"type": "object", "description": description, "x-kubernetes-preserve-unknown-fields": true})
}

fn label_selector(description: &str) -> Value {
    object(
        description,
        json!({
            "matchLabels": {"type": "object", "description": "matchLabels is a map of {key,value} pairs.", "additionalProperties": {"type": "string"}},
            "matchExpressions": list("matchExpressions is a list of label selector requirements.", object("A label selector requirement.", json!({
                "key": string("key is the label key that the selector applies to."),
                "operator": string("operator represents a key's relationship to a set of values: In, NotIn, Exists and DoesNotExist."),
                "values": strings("values is an array of string values."),
            }))),
        }),
    )
}

fn conditions() -> Value {
    list(
        "conditions is a list of conditions that apply to the object.",
        object(
            "Condition defines an observation of the object's state.",
            json!({
                "type": string("Type of condition."),
                "status": string("Status of the condition, one of True, False, Unknown."),
                "severity": string("Severity provides an explicit classification of Reason code."),
                "lastTransitionTime": {"type": "string", "format": "date-time", "description": "Last time the condition transitioned from one status to another."},
                "reason": string("The reason for the condition's last transition in CamelCase."),
                "message": string("A human readable message indicating details about the transition."),
            }),
        ),
    )
}

fn export_reference(description: &str) -> Value {
    object(
        description,
        json!({
            "path": string("path is a logical cluster path where the APIExport is defined. If empty, the APIExport is in the same workspace."),
            "name": string("name is the name of the APIExport that describes the API."),
        }),
    )
}

/// The claim fields both versions share; `extra` adds the version's own.
fn claim(description: &str, extra: Value) -> Value {
    let mut props = json!({
        "group": string("group is the name of an API group. For core groups this is the empty string."),
        "resource": string("resource is the name of the resource (plural, lowercase)."),
        "identityHash": string("identityHash is the identity for a given APIExport that the APIResourceSchema belongs to."),
    });
    if let (Some(p), Value::Object(e)) = (props.as_object_mut(), extra) {
        p.extend(e);
    }
    object(description, props)
}

fn v1alpha1_scope() -> Value {
    json!({
        "all": boolean("all claims all resources for the given group/resource."),
        "resourceSelector": list("resourceSelector is a list of claimed resource selectors.", object("A claimed resource selector.", json!({
            "name": string("name of an object within a claimed group/resource."),
            "namespace": string("namespace containing the named object."),
        }))),
    })
}

fn verbs() -> Value {
    strings("verbs is a list of supported API operation types; \"*\" means all.")
}

fn kind(description: &str, spec: Value, status: Option<Value>) -> Value {
    let mut props = json!({
        "apiVersion": string("APIVersion defines the versioned schema of this representation of an object."),
        "kind": string("Kind is a string value representing the REST resource this object represents."),
        "metadata": {"$ref": format!("{}{}", super::REF_PREFIX, super::OBJECT_META), "description": "Standard object's metadata."},
        "spec": spec,
    });
    if let Some(status) = status {
        props["status"] = status;
    }
    object(description, props)
}

fn api_export(v1alpha1: bool) -> Value {
    let resources = if v1alpha1 {
        json!({"latestResourceSchemas": strings("latestResourceSchemas records the latest APIResourceSchemas that are exposed with this APIExport, named <prefix>.<resource>.<group>.")})
    } else {
        json!({"resources": list("resources is the list of resources exported by this APIExport.", object("A resource exported with its schema.", json!({
            "name": string("name is the name of the resource (plural, lowercase)."),
            "group": string("group is the API group of the resource; empty for the core group."),
            "schema": string("schema is the name of the APIResourceSchema, <prefix>.<name>.<group or core>."),
            "storage": object("storage defines how the resource is stored.", json!({
                "crd": free("crd storage: objects are stored like custom resources."),
                "virtual": object("virtual storage: objects are served by another endpoint.", json!({
                    "reference": free("reference is a typed local object reference to the serving object."),
                    "identityHash": string("identityHash of the serving APIExport."),
                })),
            })),
        })))})
    };
    let claim_fields = if v1alpha1 {
        v1alpha1_scope()
    } else {
        json!({"verbs": verbs(), "defaultSelector": label_selector("defaultSelector is the selector suggested to consumers.")})
    };
    let mut spec = json!({
        "identity": object("identity points to a secret that contains the API identity in the 'key' file.", json!({
            "secretRef": object("secretRef is a reference to a secret that contains the API identity in the 'key' file.", json!({
                "namespace": string("namespace of the secret."), "name": string("name of the secret."),
            })),
        })),
        "maximalPermissionPolicy": object("maximalPermissionPolicy will allow for a service provider to set an upper bound on what is allowed for a consumer of this API.", json!({
            "local": free("local is the policy that is defined in the same workspace as the API Export."),
        })),
        "permissionClaims": list("permissionClaims make resources available in the APIExport's virtual workspace that are not part of the actual APIExport resources.", claim("A permission claim.", claim_fields)),
    });
    if let (Some(s), Value::Object(r)) = (spec.as_object_mut(), resources) {
        s.extend(r);
    }
    let status = object(
        "APIExportStatus defines the observed state of APIExport.",
        json!({
            "identityHash": string("identityHash is the hash of the API identity."),
            "conditions": conditions(),
            "virtualWorkspaces": list("virtualWorkspaces contains all APIExport virtual workspace URLs (deprecated).", object("A virtual workspace URL.", json!({"url": string("url is an APIExport virtual workspace URL.")}))),
        }),
    );
    kind(
        "APIExport registers an API and implementation to allow consumption by others through APIBindings.",
        object("Spec holds the desired state.", spec),
        Some(status),
    )
}

fn api_binding(v1alpha1: bool) -> Value {
    let scope = |extra: Value| if v1alpha1 { v1alpha1_scope() } else { extra };
    let selector = || {
        json!({"verbs": verbs(), "selector": {"description": "selector restricts the claimed objects; matchAll claims all.", "type": "object", "properties": {
            "matchAll": boolean("matchAll selects all objects of the claimed resource."),
            "matchLabels": label_selector("")["properties"]["matchLabels"].clone(),
            "matchExpressions": label_selector("")["properties"]["matchExpressions"].clone(),
        }}})
    };
    let mut accepted = scope(selector());
    accepted["state"] = string("state indicates if the claim is Accepted or Rejected.");
    let export_claims =
        if v1alpha1 { v1alpha1_scope() } else { json!({"verbs": verbs(), "defaultSelector": label_selector("defaultSelector suggested by the provider.")}) };
    let spec = object(
        "APIBindingSpec records the APIs and implementations that are to be bound.",
        json!({
            "reference": object("reference uniquely identifies an API to bind to.", json!({"export": export_reference("export is a reference to an APIExport by cluster name and export name.")})),
            "permissionClaims": list("permissionClaims records decisions about permission claims requested by the API service provider.", claim("An accepted or rejected permission claim.", accepted)),
        }),
    );
    let status = object(
        "APIBindingStatus records which schemas are bound.",
        json!({
            "apiExportClusterName": string("APIExportClusterName records the name (not path) of the logical cluster that contains the APIExport."),
            "boundResources": list("boundResources records the state of bound APIs.", object("A bound resource.", json!({
                "group": string("group is the group of the bound API."),
                "resource": string("resource is the resource of the bound API."),
                "schema": object("Schema references the APIResourceSchema that is bound to this API.", json!({
                    "name": string("name is the bound APIResourceSchema name."),
                    "UID": string("UID is the UID of the APIResourceSchema that is bound to this API."),
                    "identityHash": string("identityHash is the hash of the API identity that this schema is bound to."),
                })),
                "storageVersions": strings("storageVersions lists all versions of a resource that were ever persisted."),
            }))),
            "phase": string("phase is the current phase of the APIBinding: Binding or Bound."),
            "conditions": conditions(),
            "appliedPermissionClaims": list("appliedPermissionClaims is a list of the permission claims the system has seen and applied.", claim("An applied claim.", scope(selector()))),
            "exportPermissionClaims": list("exportPermissionClaims records the permissions that the export provider is asking for.", claim("An exported claim.", export_claims)),
        }),
    );
    kind("APIBinding enables a set of resources and their behaviour through an external service provider in this workspace.", spec, Some(status))
}

fn api_resource_schema() -> Value {
    let names = object(
        "names are the names used to describe the resource.",
        json!({
            "plural": string("plural is the plural name of the resource to serve."),
            "singular": string("singular is the singular name of the resource."),
            "kind": string("kind is the serialized kind of the resource."),
            "listKind": string("listKind is the serialized kind of the list for this resource."),
            "shortNames": strings("shortNames are short names for the resource."),
            "categories": strings("categories is a list of grouped resources this custom resource belongs to (e.g. 'all')."),
        }),
    );
    let version = object(
        "APIResourceVersion describes one API version of a resource.",
        json!({
            "name": string("name is the version name, e.g. v1, v2beta1."),
            "served": boolean("served is a flag enabling/disabling this version from being served via REST APIs."),
            "storage": boolean("storage indicates this version should be used when persisting custom resources to storage."),
            "deprecated": boolean("deprecated indicates this version of the custom resource API is deprecated."),
            "deprecationWarning": string("deprecationWarning overrides the default warning returned to API clients."),
            "schema": free("schema describes the structural schema used for validation, pruning, and defaulting of this version."),
            "subresources": free("subresources specify what subresources this version of the defined custom resource have."),
            "additionalPrinterColumns": list("additionalPrinterColumns specifies additional columns returned in Table output.", object("A printer column.", json!({
                "name": string("name is a human readable name for the column."),
                "type": string("type is an OpenAPI type definition for this column."),
                "format": string("format is an optional OpenAPI type definition for this column."),
                "description": string("description is a human readable description of this column."),
                "priority": {"type": "integer", "format": "int32", "description": "priority is an integer defining the relative importance of this column."},
                "jsonPath": string("jsonPath is a simple JSON path evaluated against each custom resource."),
            }))),
            "selectableFields": list("selectableFields specifies paths to fields that may be used as field selectors.", free("A selectable field.")),
        }),
    );
    let spec = object(
        "APIResourceSchemaSpec defines the desired state of APIResourceSchema.",
        json!({
            "group": string("group is the API group of the defined custom resource; empty for the core group."),
            "names": names,
            "scope": string("scope indicates whether the defined custom resource is cluster- or namespace-scoped: Cluster or Namespaced."),
            "versions": list("versions is the API version of the defined custom resource.", version),
            "nameValidation": string("nameValidation can be used to configure name validation for bound APIs: DNS1123Subdomain or PathSegmentName."),
            "conversion": free("conversion defines conversion settings for the defined custom resource."),
        }),
    );
    kind("APIResourceSchema describes a resource, identified by (group, version, resource, schema), immutable after creation.", spec, None)
}

fn api_export_endpoint_slice() -> Value {
    let spec = object(
        "APIExportEndpointSliceSpec defines the desired state of the APIExportEndpointSlice.",
        json!({
            "export": export_reference("export points to the APIExport."),
            "partition": string("partition points to a partition that is used for filtering the endpoints of the APIExport part of the slice."),
        }),
    );
    let status = object(
        "APIExportEndpointSliceStatus defines the observed state of APIExportEndpointSlice.",
        json!({
            "conditions": conditions(),
            "endpoints": list("endpoints contains all the URLs of the APIExport service.", object("An endpoint.", json!({"url": string("url is an APIExport virtual workspace URL.")}))),
            "shardSelector": string("shardSelector is the selector used to filter the shards."),
        }),
    );
    kind("APIExportEndpointSlice is a sink for the endpoints of an APIExport.", spec, Some(status))
}

/// `(version, kind, schema)` of every served version of the group's kinds.
pub(super) fn definitions() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        ("v1alpha2", "APIExport", api_export(false)),
        ("v1alpha1", "APIExport", api_export(true)),
        ("v1alpha2", "APIBinding", api_binding(false)),
        ("v1alpha1", "APIBinding", api_binding(true)),
        ("v1alpha1", "APIResourceSchema", api_resource_schema()),
        ("v1alpha1", "APIExportEndpointSlice", api_export_endpoint_slice()),
    ]
}
