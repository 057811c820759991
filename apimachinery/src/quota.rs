//! ResourceQuota object counts, as kube's quota admission reads them: which names in a quota
//! count a resource, and whether one more object fits. Only counts are evaluated here: a
//! workspace serves no pods, so compute resources are never used.
//!
//! Limits are enforced from `status.hard` (what the quota controller last acknowledged), not
//! from `spec.hard`, and usage starts from `status.used`, as in kube: a quota the controller has
//! not yet seen restricts nothing, and every admitted create is charged on the quota before it
//! is stored.

use serde_json::{Map, Value};

use crate::field;

/// The core resources kube counts under their bare plural as well as `count/<plural>`.
const LEGACY: &[&str] = &["configmaps", "persistentvolumeclaims", "pods", "replicationcontrollers", "resourcequotas", "secrets", "services"];

/// The quota names that count objects of `group`/`plural`: `count/<plural>[.<group>]`, and the
/// bare plural for kube's legacy core names.
pub fn names_counting(group: &str, plural: &str) -> Vec<String> {
    if group.is_empty() {
        let mut names = vec![format!("count/{plural}")];
        if LEGACY.contains(&plural) {
            names.push(plural.to_string());
        }
        names
    } else {
        vec![format!("count/{plural}.{group}")]
    }
}

/// The resource (group, plural) a quota name counts; None for names that are not object counts
/// (`requests.cpu`, `services.nodeports`).
pub fn counted(name: &str) -> Option<(&str, &str)> {
    if let Some(resource) = name.strip_prefix("count/") {
        return Some(match resource.split_once('.') {
            Some((plural, group)) => (group, plural),
            None => ("", resource),
        });
    }
    LEGACY.contains(&name).then_some(("", name))
}

/// The value of a quantity (`20`, `1k`, `2e3`, `500m`), None when it is not one.
pub fn amount(quantity: &str) -> Option<f64> {
    let digits = quantity.find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '+' | '-'))).unwrap_or(quantity.len());
    let (number, suffix) = quantity.split_at(digits);
    let number: f64 = number.parse().ok()?;
    let scale = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exp => 10f64.powi(exp.strip_prefix(['e', 'E'])?.parse().ok()?),
    };
    Some(number * scale)
}

/// Prints a count as a quantity.
pub fn count_quantity(n: u64) -> Value {
    Value::String(n.to_string())
}

/// Whether a quota applies to objects other than pods: scopes select pods only.
pub fn counts_objects(quota: &Value) -> bool {
    let set = |path: &[&str]| field::at(quota, path).is_some_and(|v| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()));
    !set(&["spec", "scopes"]) && !set(&["spec", "scopeSelector"])
}

/// What one more object named by `names` does to `quota`: None when the quota does not restrict
/// it, the new `status.used` when it fits, and kube's words when it does not.
pub fn charge(quota: &Value, names: &[String]) -> Result<Option<Map<String, Value>>, String> {
    let empty = Map::new();
    let map = |path: &[&str]| field::at(quota, path).and_then(Value::as_object).unwrap_or(&empty);
    let (hard, used) = (map(&["status", "hard"]), map(&["status", "used"]));
    let restricted: Vec<&String> = names.iter().filter(|n| hard.contains_key(n.as_str())).collect();
    if restricted.is_empty() || !counts_objects(quota) {
        return Ok(None);
    }
    let quota_name = field::str_at(quota, &["metadata", "name"]);
    let mut lacking: Vec<&str> = restricted.iter().filter(|n| !used.contains_key(n.as_str())).map(|n| n.as_str()).collect();
    if !lacking.is_empty() {
        lacking.sort();
        return Err(format!("status unknown for quota: {quota_name}, resources: {}", lacking.join(",")));
    }
    let value = |m: &Map<String, Value>, n: &str| m.get(n).and_then(Value::as_str).and_then(amount).unwrap_or(0.0);
    let mut exceeded: Vec<&str> = restricted.iter().filter(|n| value(used, n) + 1.0 > value(hard, n)).map(|n| n.as_str()).collect();
    if !exceeded.is_empty() {
        exceeded.sort();
        let list = |f: &dyn Fn(&str) -> String| exceeded.iter().map(|n| format!("{n}={}", f(n))).collect::<Vec<_>>().join(",");
        let text = |m: &Map<String, Value>, n: &str| m.get(n).and_then(Value::as_str).unwrap_or("0").to_string();
        return Err(format!(
            "exceeded quota: {quota_name}, requested: {}, used: {}, limited: {}",
            list(&|_| "1".into()),
            list(&|n| text(used, n)),
            list(&|n| text(hard, n))
        ));
    }
    let mut next = used.clone();
    for n in restricted {
        next.insert(n.clone(), count_quantity(value(used, n) as u64 + 1));
    }
    Ok(Some(next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn quota(hard: Value, used: Value) -> Value {
        json!({"metadata": {"name": "q"}, "spec": {"hard": hard.clone()}, "status": {"hard": hard, "used": used}})
    }

    #[test]
    fn core_legacy_names_count_under_both_spellings() {
        assert_eq!(names_counting("", "configmaps"), ["count/configmaps", "configmaps"]);
        assert_eq!(names_counting("", "serviceaccounts"), ["count/serviceaccounts"]);
        assert_eq!(names_counting("example.com", "widgets"), ["count/widgets.example.com"]);
        assert_eq!(counted("count/widgets.example.com"), Some(("example.com", "widgets")));
        assert_eq!(counted("count/configmaps"), Some(("", "configmaps")));
        assert_eq!(counted("secrets"), Some(("", "secrets")));
        assert_eq!(counted("requests.cpu"), None);
        assert_eq!(counted("services.nodeports"), None);
    }

    #[test]
    fn quantities_read_as_numbers() {
        for (q, v) in [("20", 20.0), ("1k", 1000.0), ("2e3", 2000.0), ("500m", 0.5), ("1Ki", 1024.0), ("+3", 3.0)] {
            assert_eq!(amount(q), Some(v), "{q}");
        }
        assert_eq!(amount("x"), None);
        assert_eq!(amount("1Q"), None);
    }

    #[test]
    fn one_more_fits_until_the_limit() {
        let names = names_counting("", "configmaps");
        let q = quota(json!({"configmaps": "2", "count/secrets": "1"}), json!({"configmaps": "1", "count/secrets": "0"}));
        assert_eq!(charge(&q, &names), Ok(Some(json!({"configmaps": "2", "count/secrets": "0"}).as_object().unwrap().clone())));
        let full = quota(json!({"configmaps": "2", "count/configmaps": "5"}), json!({"configmaps": "2", "count/configmaps": "2"}));
        assert_eq!(charge(&full, &names), Err("exceeded quota: q, requested: configmaps=1, used: configmaps=2, limited: configmaps=2".into()));
        let both = quota(json!({"configmaps": "1", "count/configmaps": "1"}), json!({"configmaps": "1", "count/configmaps": "1"}));
        assert_eq!(
            charge(&both, &names),
            Err("exceeded quota: q, requested: configmaps=1,count/configmaps=1, used: configmaps=1,count/configmaps=1, limited: configmaps=1,count/configmaps=1".into())
        );
        assert_eq!(charge(&q, &names_counting("", "serviceaccounts")), Ok(None), "not restricted");
    }

    #[test]
    fn only_acknowledged_limits_restrict_and_unknown_usage_refuses() {
        let names = names_counting("", "configmaps");
        let unseen = json!({"metadata": {"name": "q"}, "spec": {"hard": {"configmaps": "0"}}});
        assert_eq!(charge(&unseen, &names), Ok(None), "the controller has not acknowledged it yet");
        let no_usage = json!({"metadata": {"name": "q"}, "status": {"hard": {"configmaps": "3"}}});
        assert_eq!(charge(&no_usage, &names), Err("status unknown for quota: q, resources: configmaps".into()));
        let scoped =
            json!({"metadata": {"name": "q"}, "spec": {"scopes": ["BestEffort"]}, "status": {"hard": {"configmaps": "0"}, "used": {"configmaps": "0"}}});
        assert_eq!(charge(&scoped, &names), Ok(None), "scopes select pods only");
    }
}
