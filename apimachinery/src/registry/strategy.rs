//! [`Strategy`]: everything that differs between kinds, in one place per kind.
//!
//! Like kube-apiserver's `pkg/registry/<group>/<resource>/strategy.go`, each kind's file says
//! what the kind is and how it behaves; the generic REST path, discovery, Table printing, field
//! selectors, patching and protobuf decoding ask the strategy instead of matching on group and
//! kind. Defaults are what an ordinary stored kind does, so most kinds override little. Rules
//! that read other objects are admission plugins (in the server), never strategies.

use serde_json::Value;

use super::builtin::Backing;
use super::ResourceInfo;
use crate::patch::KindLists;
use crate::protobuf::Fields;
use crate::status::FieldError;
use crate::table::{self, Column, Row};
use crate::validation::NameRule;

/// The verbs of a stored resource.
const STORED_VERBS: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

/// What a built-in kind is: its names, scope and the subresources it serves.
#[derive(Debug, Clone, Copy)]
pub struct Definition {
    /// API group (empty for the core group).
    pub group: &'static str,
    /// API version (`v1`).
    pub version: &'static str,
    /// Kind of the objects (`ConfigMap`).
    pub kind: &'static str,
    /// Plural resource name used in URLs.
    pub plural: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Short names kubectl accepts (`cm`).
    pub short_names: &'static [&'static str],
    /// Categories the resource belongs to (`all`).
    pub categories: &'static [&'static str],
    /// Subresources served (`status`, `token`).
    pub subresources: &'static [&'static str],
    /// Whether objects are stored or computed per request.
    pub backing: Backing,
}

impl Definition {
    /// A stored kind without short names, categories or subresources.
    pub const fn stored(group: &'static str, version: &'static str, kind: &'static str, plural: &'static str, namespaced: bool) -> Self {
        Definition { group, version, kind, plural, namespaced, short_names: &[], categories: &[], subresources: &[], backing: Backing::Stored }
    }

    /// A create-only review kind of `group/v1`.
    pub const fn review(group: &'static str, kind: &'static str, plural: &'static str, namespaced: bool) -> Self {
        Definition { backing: Backing::Review, ..Definition::stored(group, "v1", kind, plural, namespaced) }
    }

    /// The served description of the kind.
    pub fn info(&self) -> ResourceInfo {
        let strings = |s: &[&str]| s.iter().map(|x| x.to_string()).collect();
        ResourceInfo {
            group: self.group.into(),
            version: self.version.into(),
            kind: self.kind.into(),
            list_kind: format!("{}List", self.kind),
            plural: self.plural.into(),
            singular: self.kind.to_ascii_lowercase(),
            namespaced: self.namespaced,
            short_names: strings(self.short_names),
            categories: strings(self.categories),
            verbs: match self.backing {
                Backing::Stored => strings(STORED_VERBS),
                Backing::Review => vec!["create".into()],
            },
            subresources: strings(self.subresources),
            columns: vec![],
            schema: None,
            custom: false,
            backing: self.backing,
            identity: None,
        }
    }

    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// The `field` label when it is one of `own`, the labels a kind reads at their own path.
pub fn own_label<'a>(field: &'a str, own: &[&str]) -> Option<&'a str> {
    own.contains(&field).then_some(field)
}

/// Why an object could not be converted between two served versions of its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot convert to {version}: {field}: {reason}")]
pub struct ConversionError {
    /// The version asked for.
    pub version: String,
    /// The field (path) that cannot be converted.
    pub field: String,
    /// What in the object prevents it.
    pub reason: String,
}

/// How one kind is served and checked. Every method but [`Strategy::info`] has the behaviour of
/// an ordinary stored kind as its default.
pub trait Strategy: Send + Sync + 'static {
    /// The served resource: group, version, kind, names, scope, verbs, subresources, backing.
    fn info(&self) -> ResourceInfo;

    /// Versions served besides the stored one ([`Strategy::info`]'s), in discovery order after
    /// it; objects cross between versions through [`Strategy::convert`].
    fn other_versions(&self) -> &'static [&'static str] {
        &[]
    }

    /// The group and version whose objects this kind is served from, when they are another
    /// kind's (events.k8s.io Events are core Events, as in kube); objects cross through
    /// [`Strategy::convert`].
    fn stored_as(&self) -> Option<(&'static str, &'static str)> {
        None
    }

    /// Converts `obj` from the version its `apiVersion` names to `version`, one of the served
    /// versions (or, for [`Strategy::stored_as`], to the other group's version and back);
    /// only kinds with other versions or another kind's storage are ever asked.
    fn convert(&self, obj: Value, _version: &str) -> Result<Value, ConversionError> {
        Ok(obj)
    }

    /// The name format kube-apiserver enforces for the kind.
    fn name_rule(&self) -> NameRule {
        NameRule::Subdomain
    }

    /// Whether `metadata.generation` follows spec changes.
    fn tracks_generation(&self) -> bool {
        false
    }

    /// Canonicalizes an object after pruning and before metadata validation, on create (`old`
    /// is `None`) and update (kube's decoding defaults); errors are reported with validation's.
    fn prepare(&self, _obj: &mut Value, _old: Option<&Value>) -> Vec<FieldError> {
        Vec::new()
    }

    /// Sets what the server owns on a new, validated object (status, system finalizers).
    fn initialize(&self, _obj: &mut Value) {}

    /// The kind's body rules (`metadata` is checked generically); `old` is the stored object on
    /// update, which enables the immutability rules.
    fn validate(&self, _obj: &Value, _old: Option<&Value>) -> Vec<FieldError> {
        Vec::new()
    }

    /// The columns `kubectl get` prints.
    fn columns(&self) -> Vec<Column> {
        table::default_columns()
    }

    /// The columns `kubectl get` prints at `version`, one of the served versions (kcp's CRDs
    /// print different ones per version).
    fn columns_at(&self, _version: &str) -> Vec<Column> {
        self.columns()
    }

    /// The printed cells of `obj`, keyed by column name; JSONPath columns need none.
    fn row(&self, obj: &Value, _now: jiff::Timestamp) -> Row {
        table::default_row(obj)
    }

    /// The field path a field-selector label of the kind reads, `None` when the kind does not
    /// support it; `metadata.name` and `metadata.namespace` hold for every kind.
    fn field_label<'a>(&self, _label: &'a str) -> Option<&'a str> {
        None
    }

    /// The kind's own list fields that do not merge atomically (`ObjectMeta`'s are common).
    fn lists(&self) -> KindLists<'static> {
        &[]
    }

    /// Whether strategic merge patch is accepted (built-ins: yes; custom resources: no).
    fn strategic_merge(&self) -> bool {
        true
    }

    /// Decodes the kind's protobuf message, `None` when the kind is not readable as protobuf.
    fn decode_protobuf(&self, _raw: &[u8]) -> Option<Fields> {
        None
    }
}

impl std::fmt::Debug for dyn Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let info = self.info();
        write!(f, "Strategy({}/{})", info.api_version(), info.kind)
    }
}
