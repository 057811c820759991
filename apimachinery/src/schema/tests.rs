use serde_json::json;

use super::*;

fn widget_schema() -> Value {
    json!({"type":"object","properties":{
        "spec":{"type":"object","required":["size"],"properties":{
            "size":{"type":"string","enum":["small","medium","large"]},
            "replicas":{"type":"integer","minimum":1,"maximum":10,"default":1},
            "name":{"type":"string","pattern":"^[a-z]+$","maxLength":5},
            "tags":{"type":"array","items":{"type":"string"},"maxItems":2},
            "port":{"x-kubernetes-int-or-string":true},
            "extra":{"type":"object","x-kubernetes-preserve-unknown-fields":true},
            "labels":{"type":"object","additionalProperties":{"type":"string"}}}},
        "status":{"type":"object","properties":{"ready":{"type":"boolean"}}}}})
}

#[test]
fn validation_messages() {
    let s = widget_schema();
    let cases = [
        (json!({"spec":{"size":"small"}}), vec![]),
        (json!({"spec":{"size":"small","replicas":"x"}}), vec!["spec.replicas: Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\""]),
        (json!({"spec":{}}), vec!["spec.size: Required value"]),
        (json!({"spec":{"size":"huge"}}), vec!["spec.size: Unsupported value: \"huge\": supported values: \"small\", \"medium\", \"large\""]),
        (json!({"spec":{"size":"small","replicas":0}}), vec!["spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1"]),
        (json!({"spec":{"size":"small","replicas":11}}), vec!["spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10"]),
        (json!({"spec":{"size":"small","name":"ABC"}}), vec!["spec.name: Invalid value: \"ABC\": spec.name in body should match '^[a-z]+$'"]),
        (json!({"spec":{"size":"small","name":"abcdef"}}), vec!["spec.name: Too long: may not be more than 5 bytes"]),
        (json!({"spec":{"size":"small","tags":["a","b","c"]}}), vec!["spec.tags: Too many: 3: must have at most 2 items"]),
        (json!({"spec":{"size":"small","port":"http"}}), vec![]),
        (json!({"spec":{"size":"small","port":true}}), vec!["spec.port: Invalid value: \"boolean\": spec.port in body must be of type integer or string: \"boolean\""]),
        (json!({"spec":{"size":"small","labels":{"a":1}}}), vec!["spec.labels.a: Invalid value: \"integer\": spec.labels.a in body must be of type string: \"integer\""]),
    ];
    for (obj, want) in cases {
        let got: Vec<String> = validate(&s, &obj).iter().map(|e| e.to_string()).collect();
        assert_eq!(got, want, "{obj}");
    }
}

#[test]
fn pruning_and_defaulting() {
    let s = widget_schema();
    let mut obj = json!({"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w","x":1},
        "spec":{"size":"small","bogus":1,"extra":{"anything":{"goes":true}},"labels":{"k":"v"}},"top":2});
    let dropped = prune(&s, &mut obj);
    assert_eq!(dropped, vec![".spec.bogus".to_string(), ".top".to_string()]);
    assert_eq!(obj["metadata"]["x"], 1);
    assert_eq!(obj["spec"]["extra"]["anything"]["goes"], true);
    default(&s, &mut obj);
    assert_eq!(obj["spec"]["replicas"], 1);
}

#[test]
fn structural_rules() {
    assert!(validate_structural(&widget_schema(), "s").is_empty());
    let bad = json!({"type":"object","properties":{"spec":{"properties":{"a":{"type":"string"}}}}});
    let errs: Vec<String> = validate_structural(&bad, "spec.versions[0].schema.openAPIV3Schema").iter().map(|e| e.to_string()).collect();
    assert_eq!(errs, vec!["spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields"]);
    let bad_default = json!({"type":"object","properties":{"n":{"type":"integer","default":"x"}}});
    assert_eq!(validate_structural(&bad_default, "s").len(), 1);
}
