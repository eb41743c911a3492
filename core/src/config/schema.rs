//! The JSON Schema of the config file, generated from the model, and key suggestions drawn
//! from it.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use serde_json::Value;

use super::model::Config;
use super::problem::{FieldPath, Segment};

/// The JSON Schema (draft 2020-12) of the config file, for editors and for `twoleg schema`.
pub fn json_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let mut schema = schemars::schema_for!(Config).to_value();
        if let Value::Object(map) = &mut schema {
            map.insert(
                "title".to_owned(),
                Value::String("TwoLeg config file".to_owned()),
            );
        }
        schema
    })
}

/// The known key of the object at `parent` that is closest to `key`, if any is close enough
/// to be a likely typo.
pub(crate) fn nearest_key(parent: &FieldPath, key: &str) -> Option<String> {
    let root = json_schema();
    let mut schemas = vec![root];
    for segment in parent.segments() {
        schemas = schemas
            .into_iter()
            .flat_map(|schema| resolve(schema, root))
            .filter_map(|schema| match segment {
                Segment::Key(key) => schema.get("properties").and_then(|p| p.get(key)),
                Segment::Index(_) => schema.get("items"),
            })
            .collect();
    }
    let known: BTreeSet<&str> = schemas
        .into_iter()
        .flat_map(|schema| resolve(schema, root))
        .filter_map(|schema| schema.get("properties").and_then(Value::as_object))
        .flat_map(|properties| properties.keys().map(String::as_str))
        .collect();
    known
        .into_iter()
        .map(|candidate| (strsim::damerau_levenshtein(candidate, key), candidate))
        .filter(|(distance, candidate)| *distance <= (candidate.len() / 3).max(2))
        .min()
        .map(|(_, candidate)| candidate.to_owned())
}

/// The schema itself plus, recursively, what it refers to and the alternatives it lists.
fn resolve<'a>(schema: &'a Value, root: &'a Value) -> Vec<&'a Value> {
    let mut out = vec![schema];
    if let Some(target) = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|pointer| root.pointer(pointer))
    {
        out.extend(resolve(target, root));
    }
    for keyword in ["anyOf", "oneOf", "allOf"] {
        if let Some(alternatives) = schema.get(keyword).and_then(Value::as_array) {
            for alternative in alternatives {
                out.extend(resolve(alternative, root));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_nearest_key_of_the_same_object() {
        let route = FieldPath::root().key("routes").index(0);
        assert_eq!(
            nearest_key(&route, "destinaton").as_deref(),
            Some("destination")
        );
        let server = FieldPath::root().key("turn_servers").index(3);
        assert_eq!(nearest_key(&server, "pasword").as_deref(), Some("password"));
        assert_eq!(nearest_key(&server, "completely_different"), None);
    }

    #[test]
    fn the_schema_forbids_unknown_keys() {
        let schema = json_schema();
        assert_eq!(schema["additionalProperties"], Value::Bool(false));
        assert!(schema["properties"]["turn_servers"].is_object());
    }
}
