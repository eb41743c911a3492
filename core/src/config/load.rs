//! Reading a config file: JSON syntax, value types and unknown keys, every problem at once.
//!
//! serde stops at the first wrong type. To report them all, a value whose type is wrong is
//! reported with its path, taken out of the document (so its default applies), and the document
//! is read again, until it reads; the fields inside a value taken out are not checked further.
//! Unknown keys are collected on the way with `serde_ignored` and reported with the nearest known
//! key of the same object as a suggestion.

use std::collections::BTreeSet;

use serde_json::Value;

use super::model::Config;
use super::problem::{FieldPath, Problem, Segment};
use super::schema;

/// How many wrong-typed values are reported before giving up on a file.
const MAX_TYPE_PROBLEMS: usize = 64;

/// The config as far as it could be read, and what stood in the way.
pub(crate) struct Loaded {
    pub(crate) config: Config,
    pub(crate) problems: Vec<Problem>,
    /// Values taken out because their type was wrong: nothing under them is reported again.
    pub(crate) removed: Vec<FieldPath>,
}

/// Reads config text. Returns `None` with one problem when the text is not JSON at all.
pub(crate) fn load(text: &str) -> Result<Loaded, Problem> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        Problem::new(
            FieldPath::root(),
            format!(
                "is not valid JSON: {} (line {}, column {})",
                syntax_message(&e),
                e.line(),
                e.column()
            ),
        )
    })?;
    Ok(load_value(value))
}

/// Reads an already parsed JSON document.
pub(crate) fn load_value(mut value: Value) -> Loaded {
    let mut problems = Vec::new();
    let mut removed = Vec::new();
    let mut unknown = BTreeSet::new();
    let config = loop {
        let result = {
            let mut on_ignored = |path: serde_ignored::Path<'_>| {
                unknown.insert(ignored_path(&path));
            };
            let ignored = serde_ignored::Deserializer::new(&value, &mut on_ignored);
            serde_path_to_error::deserialize::<_, Config>(ignored)
        };
        match result {
            Ok(config) => break config,
            Err(error) => {
                let path = tracked_path(error.path());
                problems.push(Problem::new(
                    path.clone(),
                    type_message(&error.inner().to_string()),
                ));
                if !remove(&mut value, &path) || problems.len() >= MAX_TYPE_PROBLEMS {
                    break Config::default();
                }
                removed.push(path);
            }
        }
    };
    for path in unknown {
        let Some(Segment::Key(key)) = path.segments().last() else {
            continue;
        };
        let parent = FieldPath::from_segments(&path.segments()[..path.segments().len() - 1]);
        let message = match schema::nearest_key(&parent, key) {
            Some(suggestion) => format!("unknown key; did you mean {suggestion}?"),
            None => "unknown key".to_owned(),
        };
        problems.push(Problem::new(path, message));
    }
    Loaded {
        config,
        problems,
        removed,
    }
}

impl FieldPath {
    fn from_segments(segments: &[Segment]) -> Self {
        let mut path = Self::root();
        for segment in segments {
            path.push(segment.clone());
        }
        path
    }
}

/// Takes the value at `path` out of the document: an object member is removed (its default then
/// applies), an array element is replaced by `{}`. Returns false for the root.
fn remove(value: &mut Value, path: &FieldPath) -> bool {
    let Some((last, parents)) = path.segments().split_last() else {
        return false;
    };
    let mut current = value;
    for segment in parents {
        let next = match (segment, current) {
            (Segment::Key(key), Value::Object(map)) => map.get_mut(key),
            (Segment::Index(index), Value::Array(items)) => items.get_mut(*index),
            _ => None,
        };
        let Some(next) = next else {
            return false;
        };
        current = next;
    }
    match (last, current) {
        (Segment::Key(key), Value::Object(map)) => map.remove(key).is_some(),
        (Segment::Index(index), Value::Array(items)) if *index < items.len() => {
            items[*index] = Value::Object(Default::default());
            true
        }
        _ => false,
    }
}

fn tracked_path(path: &serde_path_to_error::Path) -> FieldPath {
    let mut out = FieldPath::root();
    for segment in path.iter() {
        match segment {
            serde_path_to_error::Segment::Seq { index } => out.push(Segment::Index(*index)),
            serde_path_to_error::Segment::Map { key } => out.push(Segment::Key(key.clone())),
            serde_path_to_error::Segment::Enum { .. } | serde_path_to_error::Segment::Unknown => {}
        }
    }
    out
}

fn ignored_path(path: &serde_ignored::Path<'_>) -> FieldPath {
    let mut out = match path {
        serde_ignored::Path::Root => return FieldPath::root(),
        serde_ignored::Path::Seq { parent, .. }
        | serde_ignored::Path::Map { parent, .. }
        | serde_ignored::Path::Some { parent }
        | serde_ignored::Path::NewtypeStruct { parent }
        | serde_ignored::Path::NewtypeVariant { parent } => ignored_path(parent),
    };
    match path {
        serde_ignored::Path::Seq { index, .. } => out.push(Segment::Index(*index)),
        serde_ignored::Path::Map { key, .. } => out.push(Segment::Key(key.clone())),
        _ => {}
    }
    out
}

/// serde's type messages, reworded for people who edit config files.
fn type_message(inner: &str) -> String {
    let reworded = inner
        .replace("expected u64", "expected a whole number")
        .replace("expected u32", "expected a whole number")
        .replace("expected a boolean", "expected true or false")
        .replace("a string", "text");
    format!("has the wrong type: {reworded}")
}

fn syntax_message(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.find(" at line ") {
        Some(end) => text[..end].to_owned(),
        None => text,
    }
}
