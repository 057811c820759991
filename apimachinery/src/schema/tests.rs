//! Table-driven tests of the schema algorithms against messages kube-apiserver prints.

use super::*;
use serde_json::json;

fn widget_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "required": ["size"],
                "properties": {
                    "replicas": {"type": "integer", "minimum": 1, "maximum": 10, "format": "int32"},
                    "size": {"type": "string", "enum": ["small", "large"]},
                    "name": {"type": "string", "pattern": "^[a-z]+$", "minLength": 2, "maxLength": 5},
                    "id": {"type": "string", "format": "uuid"},
                    "ratio": {"type": "number", "exclusiveMinimum": true, "minimum": 0, "multipleOf": 0.5},
                    "port": {"x-kubernetes-int-or-string": true},
                    "note": {"type": "string", "nullable": true},
                    "tags": {"type": "array", "maxItems": 2, "minItems": 1, "items": {"type": "string"}},
                    "labels": {"type": "object", "maxProperties": 1, "additionalProperties": {"type": "string"}},
                    "items": {"type": "array", "items": {"type": "object", "required": ["name"],
                        "properties": {"name": {"type": "string"}, "weight": {"type": "integer", "default": 1}}}},
                    "raw": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                        "properties": {"known": {"type": "object", "properties": {"a": {"type": "string"}}}}},
                    "mode": {"type": "string", "default": "auto"},
                    "either": {"type": "object", "oneOf": [{"required": ["a"]}, {"required": ["b"]}],
                        "properties": {"a": {"type": "string"}, "b": {"type": "string"}}}
                }
            }
        }
    })
}

fn messages(obj: Value) -> Vec<String> {
    validate(&widget_schema(), &obj).iter().map(ToString::to_string).collect()
}

#[test]
fn validation_messages_match_kube() {
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({"spec": {"size": "small"}}), vec![]),
        (json!({"spec": {}}), vec!["spec.size: Required value"]),
        (
            json!({"spec": {"size": "small", "replicas": "3"}}),
            vec![r#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#],
        ),
        (json!({"spec": {"size": "x"}}), vec![r#"spec.size: Unsupported value: "x": supported values: "small", "large""#]),
        (
            json!({"spec": {"size": "small", "replicas": 0}}),
            vec!["spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1"],
        ),
        (
            json!({"spec": {"size": "small", "replicas": 11}}),
            vec!["spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10"],
        ),
        (
            json!({"spec": {"size": "small", "replicas": 3000000000u64}}),
            vec![
                "<nil>: Invalid value: \"\": Checked value must be of type integer with format int32 in spec.replicas",
                "spec.replicas: Invalid value: 3000000000: spec.replicas in body should be less than or equal to 10",
            ],
        ),
        (json!({"spec": {"size": "small", "name": "ab1"}}), vec![r#"spec.name: Invalid value: "ab1": spec.name in body should match '^[a-z]+$'"#]),
        (json!({"spec": {"size": "small", "name": "a"}}), vec![r#"spec.name: Invalid value: "a": spec.name in body should be at least 2 chars long"#]),
        (json!({"spec": {"size": "small", "name": "abcdef"}}), vec!["spec.name: Too long: may not be more than 5 bytes"]),
        (json!({"spec": {"size": "small", "id": "nope"}}), vec![r#"spec.id: Invalid value: "nope": spec.id in body must be of type uuid: "nope""#]),
        (json!({"spec": {"size": "small", "ratio": 0}}), vec!["spec.ratio: Invalid value: 0: spec.ratio in body should be greater than 0"]),
        (json!({"spec": {"size": "small", "ratio": 0.7}}), vec!["spec.ratio: Invalid value: 0.7: spec.ratio in body should be a multiple of 0.5"]),
        (json!({"spec": {"size": "small", "port": "http", "note": null}}), vec![]),
        (json!({"spec": {"size": "small", "port": 8080}}), vec![]),
        (
            json!({"spec": {"size": "small", "port": true}}),
            vec![r#"spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean""#],
        ),
        (json!({"spec": {"size": "small", "mode": null}}), vec![r#"spec.mode: Invalid value: "null": spec.mode in body must be of type string: "null""#]),
        (json!({"spec": {"size": "small", "tags": ["a", "b", "c"]}}), vec!["spec.tags: Too many: 3: must have at most 2 items"]),
        (json!({"spec": {"size": "small", "tags": []}}), vec!["spec.tags: Invalid value: 0: spec.tags in body should have at least 1 items"]),
        (json!({"spec": {"size": "small", "labels": {"a": "1", "b": "2"}}}), vec!["spec.labels: Too many: 2: must have at most 1 items"]),
        (
            json!({"spec": {"size": "small", "labels": {"a": 1}}}),
            vec![r#"spec.labels.a: Invalid value: "integer": spec.labels.a in body must be of type string: "integer""#],
        ),
        (json!({"spec": {"size": "small", "items": [{"name": "a"}, {"weight": 2}]}}), vec!["spec.items[1].name: Required value"]),
        (
            json!({"spec": {"size": "small", "either": {"a": "x", "b": "y"}}}),
            vec![r#"<nil>: Invalid value: "": "spec.either" must validate one and only one schema (oneOf). Found 2 valid alternatives"#],
        ),
    ];
    for (obj, want) in cases {
        assert_eq!(messages(obj.clone()), want, "object {obj}");
    }
}

#[test]
fn junctors_anyof_allof_not() {
    let schema = json!({"type": "object", "properties": {
        "v": {"type": "string", "anyOf": [{"maxLength": 1}, {"pattern": "^x"}], "not": {"enum": ["x"]}},
        "w": {"type": "integer", "allOf": [{"minimum": 5}, {"maximum": 3}]}
    }});
    let got: Vec<String> = validate(&schema, &json!({"v": "yy", "w": 4})).iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        vec![
            r#"<nil>: Invalid value: "": "v" must validate at least one schema (anyOf)"#,
            "v: Too long: may not be more than 1 bytes",
            "w: Invalid value: 4: w in body should be greater than or equal to 5",
            "w: Invalid value: 4: w in body should be less than or equal to 3",
            r#"<nil>: Invalid value: "": "w" must validate all the schemas (allOf). None validated"#,
        ]
    );
    let got: Vec<String> = validate(&schema, &json!({"v": "x"})).iter().map(ToString::to_string).collect();
    assert_eq!(got, vec![r#"<nil>: Invalid value: "": "v" must not validate the schema (not)"#]);
}

#[test]
fn prune_reports_unknown_fields() {
    let mut obj = json!({
        "apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w", "whatever": 1},
        "spec": {"size": "small", "foo": 1, "items": [{"name": "a", "bar": true}],
                 "labels": {"x": "y"}, "raw": {"anything": 1, "known": {"a": "b", "zap": 2}}},
        "extra": {}
    });
    let pruned = prune(&widget_schema(), &mut obj);
    assert_eq!(pruned, vec!["extra", "spec.foo", "spec.items[0].bar", "spec.raw.known.zap"]);
    assert_eq!(
        obj,
        json!({
            "apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w", "whatever": 1},
            "spec": {"size": "small", "items": [{"name": "a"}], "labels": {"x": "y"},
                     "raw": {"anything": 1, "known": {"a": "b"}}}
        })
    );
}

#[test]
fn prune_descends_into_full_object_meta() {
    let schema = json!({"type": "object", "properties": {
        "metadata": {"type": "object", "properties": {"name": {"type": "string"}, "labels": {"type": "object", "additionalProperties": {"type": "string"}}}}
    }});
    let mut obj = json!({"metadata": {"name": "a", "labels": {"k": "v"}, "bogus": 1}});
    assert_eq!(prune(&schema, &mut obj), vec!["metadata.bogus"]);
    assert_eq!(obj, json!({"metadata": {"name": "a", "labels": {"k": "v"}}}));
}

#[test]
fn defaults_apply_in_items_and_replace_nulls() {
    let mut obj = json!({"spec": {"size": "small", "items": [{"name": "a"}, {"name": "b", "weight": 5}], "note": null, "replicas": null}});
    default(&widget_schema(), &mut obj);
    assert_eq!(
        obj,
        json!({"spec": {"size": "small", "items": [{"name": "a", "weight": 1}, {"name": "b", "weight": 5}],
        "note": null, "mode": "auto"}})
    );
}

#[test]
fn defaults_are_pruned_and_nested_defaults_apply() {
    let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "default": {"stray": 1},
        "properties": {"mode": {"type": "string", "default": "auto"}}}}});
    let mut obj = json!({});
    default(&schema, &mut obj);
    assert_eq!(obj, json!({"spec": {"mode": "auto"}}));
}

#[test]
fn structural_errors_match_kube() {
    let p = "spec.validation.openAPIV3Schema";
    let cases: Vec<(Value, Vec<String>)> = vec![
        (widget_schema(), vec![]),
        (
            json!({"type": "object", "properties": {"spec": {"properties": {"a": {"type": "string"}}}}}),
            vec![format!("{p}.properties[spec].type: Required value: must not be empty for specified object fields")],
        ),
        (json!({"type": "object", "properties": {"list": {"type": "array"}}}), vec![format!("{p}.properties[list].items: Required value: must be specified")]),
        (
            json!({"type": "object", "properties": {"list": {"type": "array", "items": {}}}}),
            vec![format!("{p}.properties[list].items.type: Required value: must not be empty for specified array items")],
        ),
        (json!({"properties": {}}), vec![format!("{p}.type: Required value: must not be empty at the root")]),
        (
            json!({"type": "object", "properties": {"m": {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "string"}}}}),
            vec![format!("{p}.properties[m].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive")],
        ),
        (
            json!({"type": "object", "properties": {"metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}}}),
            vec![format!(
                "{p}.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified"
            )],
        ),
        (json!({"type": "object", "properties": {"metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 10}}}}}), vec![]),
        (
            json!({"type": "object", "properties": {"n": {"type": "integer", "default": "x"}}}),
            vec![format!(r#"{p}.properties[n].default: Invalid value: "string":  in body must be of type integer: "string""#)],
        ),
        (
            json!({"type": "object", "properties": {"o": {"type": "object", "default": {"zz": 1}, "properties": {"a": {"type": "string"}}}}}),
            vec![format!("{p}.properties[o].default: Invalid value: map[...]: must not have unknown fields")],
        ),
        (
            json!({"type": "object", "properties": {"u": {"type": "array", "uniqueItems": true, "items": {"type": "string"}}}}),
            vec![format!("{p}.properties[u].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic")],
        ),
        (
            json!({"type": "object", "properties": {"x": {"$ref": "#/definitions/x"}}}),
            vec![
                format!("{p}.properties[x].type: Required value: must not be empty for specified object fields"),
                format!("{p}.properties[x].$ref: Forbidden: $ref is not supported"),
            ],
        ),
        (json!({"type": "object", "properties": {"p": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]}}}), vec![]),
        (
            json!({"type": "object", "properties": {"p": {"type": "string", "anyOf": [{"type": "string", "description": "d"}]}}}),
            vec![
                format!("{p}.properties[p].anyOf[0].description: Forbidden: must be empty to be structural"),
                format!("{p}.properties[p].anyOf[0].type: Forbidden: must be empty to be structural"),
            ],
        ),
        (
            json!({"type": "object", "anyOf": [{"properties": {"ghost": {}}}]}),
            vec![format!("{p}.properties[ghost]: Required value: because it is defined in {p}.anyOf[0].properties[ghost]")],
        ),
        (
            json!({"type": "object", "properties": {"metadata": {"type": "object", "default": {"name": "x"}}}}),
            vec![format!("{p}.properties[metadata].default: Forbidden: must not be set in top-level metadata")],
        ),
        (
            json!({"type": "object", "properties": {"s": {"type": "string", "pattern": "("}}}),
            vec![format!(
                "{p}.properties[s].pattern: Invalid value: \"(\": must be a valid regular expression, but isn't: {}",
                compiled_pattern("(").unwrap_err()
            )],
        ),
    ];
    for (schema, want) in cases {
        let got: Vec<String> = validate_structural(&schema, p).iter().map(ToString::to_string).collect();
        assert_eq!(got, want, "schema {schema}");
    }
}
