//! Serving stored objects without building a JSON tree.
//!
//! A stored object differs from what a list serves by a few fields: `metadata.resourceVersion`
//! (kept by the store as the revision), the `kcp.io/cluster` annotation and, for a CRD served in
//! another version, `apiVersion`. [`write_served`] copies the stored bytes in spans and changes
//! only those, which costs a scan of the input instead of parsing every value into maps and
//! strings and printing them again. The result is byte for byte what
//! [`super::Resolved::present`] followed by `serde_json::to_vec` gives; any input it cannot
//! borrow from (such as a key with an escape sequence) is an error, and callers fall back to
//! that slower path.

use std::fmt;
use std::ops::Range;

/// Where a scanned object closes, and whether it has members.
#[derive(Clone, Copy)]
struct Closed {
    /// Position of the closing brace.
    at: usize,
    empty: bool,
}

/// A cursor over JSON text; it stops only at ASCII bytes, so every position it reports lies
/// on a character boundary.
struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

/// How deep containers may nest, as in serde_json, whose limit the stored objects passed.
const MAX_DEPTH: u32 = 128;

impl<'a> Scanner<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    fn whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.pos += 1;
        }
    }

    /// The next byte that is not whitespace, consumed.
    fn token(&mut self) -> serde_json::Result<u8> {
        self.whitespace();
        let byte = self.peek().ok_or_else(|| invalid("unexpected end of JSON text"))?;
        self.pos += 1;
        Ok(byte)
    }

    fn expect(&mut self, wanted: u8) -> serde_json::Result<()> {
        match self.token()? {
            found if found == wanted => Ok(()),
            _ => Err(invalid(format_args!("expected '{}'", wanted as char))),
        }
    }

    fn since(&self, start: usize) -> serde_json::Result<&'a str> {
        self.text.get(start..self.pos).ok_or_else(|| invalid("value does not end on a character boundary"))
    }

    /// The object at the cursor, through its closing brace. Values are skipped, not decoded:
    /// strings by searching for their closing quote, containers by matching brackets. That is
    /// enough for text the server printed itself, and it is what makes serving a list cheap.
    /// `member` is offered each member name with the cursor at its value; it may read the
    /// value itself and say so, so that a nested object is scanned once. A member name with
    /// an escape sequence cannot be borrowed and is an error.
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> serde_json::Result<bool>) -> serde_json::Result<Closed> {
        self.expect(b'{')?;
        self.whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Closed { at: self.pos - 1, empty: true });
        }
        loop {
            self.expect(b'"')?;
            let key = self.name()?;
            self.expect(b':')?;
            self.whitespace();
            if !member(self, key)? {
                self.value()?;
            }
            match self.token()? {
                b',' => continue,
                b'}' => return Ok(Closed { at: self.pos - 1, empty: false }),
                _ => return Err(invalid("expected ',' or '}' after an object member")),
            }
        }
    }

    /// The value at the cursor, and where it lies.
    fn span(&mut self) -> serde_json::Result<Range<usize>> {
        let start = self.pos;
        self.value()?;
        Ok(start..self.pos)
    }

    /// A member name after its opening quote, consumed with the closing quote.
    fn name(&mut self) -> serde_json::Result<&'a str> {
        let start = self.pos;
        match quote_or_escape(&self.bytes()[start..]) {
            Some(len) if self.bytes()[start + len] == b'"' => {
                self.pos = start + len;
                let name = self.since(start)?;
                self.pos += 1;
                Ok(name)
            }
            Some(_) => Err(invalid("member name with an escape sequence")),
            None => Err(invalid("unterminated string")),
        }
    }

    /// The rest of a string after its opening quote.
    fn string(&mut self) -> serde_json::Result<()> {
        loop {
            let rest = self.bytes().get(self.pos..).unwrap_or_default();
            match quote_or_escape(rest) {
                Some(len) if rest[len] == b'"' => {
                    self.pos += len + 1;
                    return Ok(());
                }
                // A backslash escapes the byte after it; `\uXXXX` goes on with hex digits.
                Some(len) => self.pos += len + 2,
                None => return Err(invalid("unterminated string")),
            }
        }
    }

    /// One value of any kind, starting at the cursor.
    fn value(&mut self) -> serde_json::Result<()> {
        match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                self.string()
            }
            Some(b'{' | b'[') => self.container(),
            _ => {
                let start = self.pos;
                while self.peek().is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')) {
                    self.pos += 1;
                }
                if self.pos == start {
                    return Err(invalid("expected a JSON value"));
                }
                Ok(())
            }
        }
    }

    /// An object or array, through its matching closing bracket.
    fn container(&mut self) -> serde_json::Result<()> {
        // Bit d of `arrays` tells whether the container open at depth d is an array.
        let (mut arrays, mut depth) = (0u128, 0u32);
        loop {
            let byte = self.peek().ok_or_else(|| invalid("unexpected end of JSON text"))?;
            self.pos += 1;
            match byte {
                b'"' => self.string()?,
                b'{' | b'[' => {
                    if depth == MAX_DEPTH {
                        return Err(invalid("JSON nested too deeply"));
                    }
                    arrays = arrays & !(1 << depth) | u128::from(byte == b'[') << depth;
                    depth += 1;
                }
                b'}' | b']' => {
                    if depth == 0 || (arrays >> (depth - 1) & 1 == 1) != (byte == b']') {
                        return Err(invalid("mismatched bracket"));
                    }
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
    }
}

/// What serving changes in a stored object.
pub struct Served<'a> {
    /// The object's revision, its `metadata.resourceVersion`.
    pub revision: u64,
    /// The logical cluster, for the `kcp.io/cluster` annotation.
    pub cluster: Option<&'a str>,
    /// The `apiVersion` to serve instead of the stored one.
    pub api_version: Option<&'a str>,
}

/// Appends the stored object `stored` to `out` as it is served. The stored text is copied
/// in spans, with the changed values put between them. Every check happens before the first
/// byte is written, so on error `out` is unchanged.
pub fn write_served(stored: &[u8], served: &Served, out: &mut Vec<u8>) -> serde_json::Result<()> {
    let text = std::str::from_utf8(stored).map_err(invalid)?;
    let cluster = served.cluster.map(serde_json::to_string).transpose()?;
    let api_version = served.api_version.map(serde_json::to_string).transpose()?;

    let mut scan = Scanner { text, pos: 0 };
    scan.whitespace();
    let begin = scan.pos;
    let (mut stored_version, mut metadata, mut revision, mut annotations, mut stored_cluster) = (None, None, None, None, None);
    let top = scan.object(|scan, key| {
        match key {
            "apiVersion" if api_version.is_some() => once(&mut stored_version, scan.span()?)?,
            "metadata" => {
                let closed = scan.object(|scan, key| {
                    match key {
                        "resourceVersion" => once(&mut revision, scan.span()?)?,
                        "annotations" if cluster.is_some() => {
                            let closed = scan.object(|scan, key| {
                                if key == super::CLUSTER_ANNOTATION {
                                    once(&mut stored_cluster, scan.span()?)?;
                                    return Ok(true);
                                }
                                Ok(false)
                            })?;
                            once(&mut annotations, closed)?
                        }
                        _ => return Ok(false),
                    }
                    Ok(true)
                })?;
                once(&mut metadata, closed)?
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    scan.whitespace();
    if scan.pos != text.len() {
        return Err(invalid("trailing characters after a JSON object"));
    }
    let Some(metadata) = metadata else {
        return Err(invalid("stored object has no metadata"));
    };

    // What replaces each span of the stored text, as pieces to join; an empty span is an
    // insertion. Members missing from an object go last, in the order a JSON tree would gain
    // them. Joining borrowed pieces keeps the formatting machinery out of a per-item path.
    let mut edits: Vec<(Range<usize>, [&str; 9])> = Vec::with_capacity(4);
    let mut digits = itoa::Buffer::new();
    let revision_digits = digits.format(served.revision);
    edits.push(edit(revision, metadata, "resourceVersion", ["\"", revision_digits, "\"", "", ""]));
    if let Some(cluster) = &cluster {
        match annotations {
            Some(annotations) => edits.push(edit(stored_cluster, annotations, super::CLUSTER_ANNOTATION, [cluster, "", "", "", ""])),
            // The resourceVersion edit just before this one leaves metadata with a member.
            None => edits.push(edit(None, Closed { empty: false, ..metadata }, "annotations", ["{\"", super::CLUSTER_ANNOTATION, "\":", cluster, "}"])),
        }
    }
    if let Some(version) = &api_version {
        edits.push(edit(stored_version, top, "apiVersion", [version, "", "", "", ""]));
    }
    edits.sort_by_key(|(span, _)| span.start);

    out.reserve(text.len() + 64);
    let mut copied = begin;
    for (span, pieces) in edits {
        out.extend_from_slice(&text.as_bytes()[copied..span.start]);
        for piece in pieces {
            out.extend_from_slice(piece.as_bytes());
        }
        copied = span.end;
    }
    out.extend_from_slice(&text.as_bytes()[copied..=top.at]);
    Ok(())
}

/// Sets member `key` of the object closed at `within` to the JSON text joined from `value`:
/// replacing the stored value `found`, or adding the member last.
fn edit<'s>(found: Option<Range<usize>>, within: Closed, key: &'s str, value: [&'s str; 5]) -> (Range<usize>, [&'s str; 9]) {
    match found {
        Some(span) => (span, [value[0], value[1], value[2], value[3], value[4], "", "", "", ""]),
        None => {
            let comma = if within.empty { "" } else { "," };
            (within.at..within.at, [comma, "\"", key, "\":", value[0], value[1], value[2], value[3], value[4]])
        }
    }
}

/// Records a member that matters for serving. A JSON tree keeps only the last of duplicate
/// members, which spans cannot express, so a duplicate sends the caller to the tree path.
fn once<T>(slot: &mut Option<T>, found: T) -> serde_json::Result<()> {
    match slot.replace(found) {
        None => Ok(()),
        Some(_) => Err(invalid("duplicate member")),
    }
}

/// Where the first quote or backslash of `text` is. Most strings in an object are short, and
/// looking at their first bytes one by one is cheaper than setting up a vector search.
fn quote_or_escape(text: &[u8]) -> Option<usize> {
    const SHORT: usize = 16;
    let head = &text[..text.len().min(SHORT)];
    match head.iter().position(|&b| b == b'"' || b == b'\\') {
        None if text.len() > SHORT => memchr::memchr2(b'"', b'\\', &text[SHORT..]).map(|i| i + SHORT),
        found => found,
    }
}

fn invalid(reason: impl fmt::Display) -> serde_json::Error {
    <serde_json::Error as serde::de::Error>::custom(reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// What the tree path serves: decode, set the fields, print.
    fn via_tree(stored: &Value, served: &Served) -> Vec<u8> {
        let mut obj = stored.clone();
        obj["metadata"]["resourceVersion"] = json!(served.revision.to_string());
        if let Some(cluster) = served.cluster {
            let meta = obj["metadata"].as_object_mut().expect("metadata");
            meta.entry("annotations").or_insert_with(|| json!({}))["kcp.io/cluster"] = json!(cluster);
        }
        if let Some(version) = served.api_version {
            obj["apiVersion"] = json!(version);
        }
        serde_json::to_vec(&obj).expect("print")
    }

    fn same_as_tree(stored: Value, served: Served) {
        let bytes = serde_json::to_vec(&stored).expect("print");
        let mut out = Vec::new();
        write_served(&bytes, &served, &mut out).expect("splice");
        assert_eq!(String::from_utf8(out).expect("utf8"), String::from_utf8(via_tree(&stored, &served)).expect("utf8"));
    }

    #[test]
    fn matches_the_tree_path_byte_for_byte() {
        let plain = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "n", "uid": "u"}, "data": {"k": "v \"quoted\" \u{e9}\n", "n": "1"}});
        same_as_tree(plain.clone(), Served { revision: 7, cluster: Some("root"), api_version: None });
        same_as_tree(plain.clone(), Served { revision: 7, cluster: None, api_version: None });
        let annotated = json!({"kind": "ConfigMap", "metadata": {"name": "a", "annotations": {"x": "y", "kcp.io/cluster": "stale"}, "labels": {"a": "b"}}, "binaryData": {}, "immutable": true});
        same_as_tree(annotated, Served { revision: 12345678901, cluster: Some("2abc"), api_version: None });
        let custom = json!({"apiVersion": "example.io/v1", "kind": "Cowboy", "metadata": {"name": "c", "annotations": {"z": "1"}}, "spec": {"n": 1.5, "list": [1, {"a": null}]}});
        same_as_tree(custom, Served { revision: 3, cluster: Some("root:org"), api_version: Some("example.io/v2") });
        let no_version = json!({"kind": "Thing", "metadata": {"name": "t"}});
        same_as_tree(no_version, Served { revision: 1, cluster: Some("c"), api_version: Some("example.io/v1") });
        let empty = json!({"kind": "Thing", "metadata": {}, "spec": {}});
        same_as_tree(empty.clone(), Served { revision: 2, cluster: Some("c"), api_version: Some("example.io/v1") });
        same_as_tree(empty, Served { revision: 2, cluster: None, api_version: None });
        let no_annotation_yet = json!({"metadata": {"annotations": {}, "resourceVersion": "1"}, "kind": "Thing"});
        same_as_tree(no_annotation_yet, Served { revision: 5, cluster: Some("c"), api_version: None });
    }

    #[test]
    fn input_it_cannot_borrow_is_an_error_not_a_wrong_answer() {
        let mut out = Vec::new();
        assert!(write_served(br#"{"metadata":{"na\u006de":"a"}}"#, &Served { revision: 1, cluster: None, api_version: None }, &mut out).is_err());
        assert!(write_served(br#"{"kind":"x"}"#, &Served { revision: 1, cluster: None, api_version: None }, &mut out).is_err());
        assert!(write_served(b"[1]", &Served { revision: 1, cluster: None, api_version: None }, &mut out).is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn values_holding_brackets_quotes_and_escapes_are_copied_whole() {
        let tricky = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "t", "labels": {"a}": "]b", "q": "say \"hi\" \\ {"}, "managedFields": [{"f": {"f:x": {}, "k:{\"name\":\"c\"}": {".": {}}}, "l": [[], [{}], -1.5e-3, true, false, null]}]},
            "data": {"brace": "}}}", "bracket": "]]", "escapes": "\\\"\u{1}\t\u{e9}\u{1F600}", "empty": "", "long": "more than sixteen bytes, then \"a quote\" and } ] \\"},
        });
        same_as_tree(tricky.clone(), Served { revision: 9, cluster: Some("root"), api_version: None });
        same_as_tree(tricky.clone(), Served { revision: 9, cluster: None, api_version: Some("v2") });

        // Text with whitespace keeps it inside values, so compare what it means.
        let pretty = serde_json::to_vec_pretty(&tricky).expect("print");
        let mut out = Vec::new();
        write_served(&pretty, &Served { revision: 9, cluster: Some("root"), api_version: None }, &mut out).expect("splice");
        let served: Value = serde_json::from_slice(&out).expect("served JSON");
        let expected: Value = serde_json::from_slice(&via_tree(&tricky, &Served { revision: 9, cluster: Some("root"), api_version: None })).expect("tree JSON");
        assert_eq!(served, expected);
    }

    #[test]
    fn malformed_or_duplicated_text_is_an_error_and_writes_nothing() {
        let deep = format!(r#"{{"metadata":{{}},"x":{}{}}}"#, "[".repeat(129), "]".repeat(129));
        for text in [
            r#"{"metadata":{"name":"a"},"data":"unterminated}"#,
            r#"{"metadata":{"name":"a"},"data":"ends in an escape\"#,
            r#"{"metadata":{"name":"a"},"data":"a string longer than sixteen bytes"#,
            r#"{"metadata":{"name":"a"},"data":[1,2}}"#,
            r#"{"metadata":{"name":"a"}}trailing"#,
            r#"{"metadata":{"name":"a"},"data" 1}"#,
            r#"{"metadata":{"name":"a"},"data":}"#,
            r#"{"metadata":{"name":"a"}"#,
            r#"{"metadata":{"name":"a"},}"#,
            r#"{"metadata":{"name":"a"},"data":{"k":"v"]}"#,
            r#"{"metadata":{"name":"a"},"metadata":{"name":"b"}}"#,
            r#"{"metadata":{"resourceVersion":"1","resourceVersion":"2"}}"#,
            r#"{"metadata":{"annotations":{"kcp.io/cluster":"a","kcp.io/cluster":"b"}}}"#,
            "",
            &deep,
        ] {
            let mut out = Vec::new();
            assert!(write_served(text.as_bytes(), &Served { revision: 1, cluster: Some("root"), api_version: None }, &mut out).is_err(), "{text}");
            assert!(out.is_empty(), "{text}");
        }
    }
}
