//! Property tests: no config input, however broken, makes loading panic.

use proptest::prelude::*;
use serde_json::Value;
use twoleg_core::config::{EXAMPLE_CONFIG, ValidConfig};

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::String),
        prop_oneof![Just("127.0.0.1:5060"), Just("::1"), Just("70000"), Just("")]
            .prop_map(|s| Value::String(s.to_owned())),
    ];
    let keys = prop_oneof![
        Just("version".to_owned()),
        Just("sip".to_owned()),
        Just("listeners".to_owned()),
        Just("routes".to_owned()),
        Just("turn_servers".to_owned()),
        Just("address".to_owned()),
        Just("port".to_owned()),
        Just("match".to_owned()),
        Just("regex".to_owned()),
        Just("lync_b2bua".to_owned()),
        "[a-z_]{1,10}",
    ];
    leaf.prop_recursive(5, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(keys.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Replaces the value at a pseudo-random place in `value` with `replacement`.
fn mutate(value: &mut Value, choice: usize, replacement: Value) {
    let len = match value {
        Value::Object(map) => map.len(),
        Value::Array(items) => items.len(),
        _ => 0,
    };
    if len == 0 || choice.is_multiple_of(4) {
        *value = replacement;
        return;
    }
    let index = (choice / 4) % len;
    let child = match value {
        Value::Object(map) => map.values_mut().nth(index),
        Value::Array(items) => items.get_mut(index),
        _ => None,
    };
    if let Some(child) = child {
        mutate(child, choice / 4 / len.max(1), replacement);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_json_never_panics(value in arbitrary_json()) {
        let text = value.to_string();
        let by_text = ValidConfig::from_json(&text);
        let by_value = ValidConfig::from_value(value);
        prop_assert_eq!(by_text.is_ok(), by_value.is_ok());
        if let Err(problems) = by_text {
            for problem in problems.iter() {
                prop_assert!(!problem.message.is_empty(), "{problem}");
            }
        }
    }

    #[test]
    fn mutated_valid_configs_never_panic(choices in prop::collection::vec((any::<usize>(), arbitrary_json()), 1..4)) {
        let mut value: Value = serde_json::from_str(EXAMPLE_CONFIG).unwrap();
        for (choice, replacement) in choices {
            mutate(&mut value, choice, replacement);
        }
        match ValidConfig::from_value(value) {
            Ok(valid) => {
                // Whatever validates exports and validates again, unchanged.
                let again = ValidConfig::from_json(&valid.config().to_json()).unwrap();
                prop_assert_eq!(valid.config(), again.config());
            }
            Err(problems) => {
                for problem in problems.iter() {
                    prop_assert!(!problem.message.is_empty(), "{problem}");
                }
            }
        }
    }

    /// The example config's text with characters cut, inserted or replaced: mostly text that is
    /// almost the file (a truncation, a stray quote, a digit too many), which reaches the loader's
    /// repair loop and the validator, not only the JSON parser.
    #[test]
    fn edited_config_text_never_panics(
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0..3_u8, "[ -~]{0,3}"), 1..6)
    ) {
        let mut text = EXAMPLE_CONFIG.to_owned();
        for (at, kind, insert) in edits {
            let mut at = at.index(text.len().max(1));
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            match kind {
                0 => text.truncate(at),
                1 => text.insert_str(at, &insert),
                _ => {
                    let end = (at + insert.len().max(1)).min(text.len());
                    if text.is_char_boundary(end) {
                        text.replace_range(at..end, &insert);
                    }
                }
            }
        }
        match ValidConfig::from_json(&text) {
            Ok(valid) => {
                let again = ValidConfig::from_json(&valid.config().to_json()).unwrap();
                prop_assert_eq!(valid.config(), again.config());
            }
            Err(problems) => {
                for problem in problems.iter() {
                    prop_assert!(!problem.message.is_empty(), "{problem}");
                }
            }
        }
    }
}
