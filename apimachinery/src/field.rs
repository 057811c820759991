//! Fields of a JSON value by a path of keys.
//!
//! `serde_json::Value::pointer` copies every step of its path (to undo `~1` and `~0`
//! escapes) before it looks it up; the write path reads a dozen fields per request, so the
//! paths here are plain keys and nothing is copied.

use serde_json::Value;

/// The value at `path`, each step a key of an object; None where a step is missing or the
/// value there is not an object.
pub fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, key| v.get(key))
}

/// The string at `path`, or "" when absent or not a string (Go's zero value).
pub fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    at(v, path).and_then(Value::as_str).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn steps_through_objects_only() {
        let v = json!({"metadata": {"name": "a", "labels": {"kcp.io/x": "y"}, "finalizers": ["f"]}, "n": 1});
        assert_eq!(str_at(&v, &["metadata", "name"]), "a");
        assert_eq!(str_at(&v, &["metadata", "labels", "kcp.io/x"]), "y");
        assert_eq!(at(&v, &["metadata", "finalizers"]), Some(&json!(["f"])));
        assert_eq!(at(&v, &[]), Some(&v));
        // Arrays are not indexed by key, and a number is not a string.
        assert_eq!(at(&v, &["metadata", "finalizers", "0"]), None);
        assert_eq!(str_at(&v, &["n"]), "");
        assert_eq!(str_at(&v, &["metadata", "missing", "deeper"]), "");
    }
}
