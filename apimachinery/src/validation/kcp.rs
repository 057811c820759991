//! kcp's own kinds: the URLs of a Shard.

use serde_json::Value;

use crate::status::FieldError;

/// A Shard needs `spec.baseURL`; every URL it names must be an absolute https URL with a host.
pub fn shard(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (field, required) in [("baseURL", true), ("externalURL", false), ("virtualWorkspaceURL", false)] {
        let path = format!("spec.{field}");
        match obj.pointer(&format!("/spec/{field}")) {
            None | Some(Value::Null) if required => errs.push(FieldError::required(path, "")),
            None | Some(Value::Null) => {}
            Some(Value::String(url)) if https_url(url) => {}
            Some(Value::String(url)) if url.is_empty() && !required => {}
            Some(other) => errs.push(FieldError::invalid(path, other.clone(), "must be an absolute https:// URL with a host")),
        }
    }
    errs
}

fn https_url(url: &str) -> bool {
    url.strip_prefix("https://")
        .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or_default())
        .is_some_and(|host| !host.is_empty() && !host.contains(char::is_whitespace))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shard_urls() {
        assert!(shard(&json!({"spec": {"baseURL": "https://10.0.0.1:6443"}})).is_empty());
        assert!(shard(&json!({"spec": {"baseURL": "https://a", "externalURL": "https://b/x"}})).is_empty());
        assert_eq!(shard(&json!({"spec": {}}))[0].to_string(), "spec.baseURL: Required value");
        assert_eq!(shard(&json!({"spec": {"baseURL": "http://a"}})).len(), 1);
        assert_eq!(shard(&json!({"spec": {"baseURL": "https://"}})).len(), 1);
        assert_eq!(shard(&json!({"spec": {"baseURL": "https://a", "externalURL": 3}})).len(), 1);
    }
}
