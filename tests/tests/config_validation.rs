//! The config file: the shipped configs validate, and each kind of mistake is reported with its
//! path, all at once.

use twoleg_core::config::{
    Config, DEFAULT_CONFIG, EXAMPLE_CONFIG, Password, ValidConfig, json_schema,
};

fn problems(text: &str) -> Vec<String> {
    match ValidConfig::from_json(text) {
        Ok(_) => Vec::new(),
        Err(problems) => problems.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn embedded_default_validates_and_works_on_one_machine() {
    let config = ValidConfig::from_json(DEFAULT_CONFIG).expect("default validates");
    assert_eq!(config.listeners()[0].address.to_string(), "127.0.0.1:5060");
    assert_eq!(config.routes().len(), 1);
    assert_eq!(
        config.routes()[0].destinations[0].target.to_string(),
        "127.0.0.1:5070"
    );
    assert!(config.routes()[0].matches(Some("anyone"), "anywhere.example"));
    assert_eq!(config.admin_listen().to_string(), "127.0.0.1:8080");
    assert_eq!(config.history_max_calls(), 500);
    assert_eq!(config.timers().t1.as_millis(), 500);
    assert_eq!(config.timers().t2.as_millis(), 4_000);
    assert_eq!(config.timers().t4.as_millis(), 5_000);
    assert_eq!(config.max_forwards(), 70);
}

#[test]
fn example_validates_with_a_large_deployment() {
    let config = ValidConfig::from_json(EXAMPLE_CONFIG).expect("example validates");
    assert!(config.lync().enabled && config.lync().offer_turn_services);
    assert_eq!(config.lync().media_ports, (56_000, 57_000));
    // Two servers: one address, then one address plus five more ports.
    assert_eq!(config.turn_servers().len(), 7);
}

#[test]
fn an_empty_object_takes_expressway_defaults() {
    let config = ValidConfig::from_json("{}").expect("defaults validate");
    let lync = config.lync();
    assert!(!lync.enabled);
    assert!(!lync.offer_turn_services);
    assert_eq!(lync.hop_count, 70);
    assert_eq!(lync.session_timers.interval.as_secs(), 1_800);
    assert_eq!(lync.session_timers.min.as_secs(), 500);
    assert_eq!(config.session_timers().interval.as_secs(), 1_800);
    assert_eq!(config.session_timers().min.as_secs(), 500);
    assert_eq!(lync.media_ports, (56_000, 57_000));
    let turn: Config =
        serde_json::from_str(r#"{"turn_servers":[{"address":"127.0.0.1"}]}"#).unwrap();
    assert_eq!(turn.turn_servers[0].port, 3478);
}

#[test]
fn every_kind_of_mistake_is_reported_with_its_path_all_at_once() {
    let text = r#"{
        "version": 1,
        "sip": {
            "listeners": [
                { "name": "a", "address": "127.0.0.1:5060" },
                { "name": "b", "address": "127.0.0.1:5060" }
            ]
        },
        "routes": [
            { "destinaton": "127.0.0.1:5070", "destination": "" }
        ],
        "lync_b2bua": { "media_port_range": { "start": 57000, "end": 56000 } },
        "turn_servers": [
            { "address": "10.0.0.300", "username": "u", "password": "p" },
            { "address": "127.0.0.1", "port": 70000, "username": "u", "password": "p" }
        ]
    }"#;
    let found = problems(text);
    let expected = [
        "sip.listeners[1].address: 127.0.0.1:5060 over UDP clashes with sip.listeners[0].address",
        "routes[0].destinaton: unknown key; did you mean destination?",
        "routes[0].destination: is empty; give where the call goes as ip:port, like 127.0.0.1:5070",
        "lync_b2bua.media_port_range.end: range end 56000 is below its start 57000",
        "turn_servers[0].address: \"10.0.0.300\" is not an IP address",
        "turn_servers[1].port: 70000 is not a port number (1 to 65535)",
    ];
    for line in expected {
        assert!(
            found.iter().any(|p| p == line),
            "missing {line:?} in {found:#?}"
        );
    }
    assert_eq!(found.len(), expected.len(), "{found:#?}");
}

#[test]
fn wrong_types_are_all_reported_and_do_not_hide_other_problems() {
    let text = r#"{
        "sip": { "max_forwards": "seventy", "timers": { "t1_ms": true } },
        "history": { "max_calls": -5 },
        "admin": { "listen": "localhost:8080" }
    }"#;
    let found = problems(text);
    assert!(
        found
            .iter()
            .any(|p| p.starts_with("sip.max_forwards: has the wrong type")),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|p| p.starts_with("sip.timers.t1_ms: has the wrong type")),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|p| p.starts_with("history.max_calls: has the wrong type")),
        "{found:#?}"
    );
    assert!(
        found.iter().any(|p| p == "admin.listen: \"localhost:8080\" is not an IP address and port: \"localhost\" is not an IP address"),
        "{found:#?}"
    );
    assert_eq!(found.len(), 4, "{found:#?}");
}

#[test]
fn semantic_mistakes_name_the_rule() {
    let text = r#"{
        "version": 2,
        "sip": { "timers": { "t1_ms": 500, "t2_ms": 100 }, "max_forwards": 0, "listeners": [] },
        "routes": [
            { "match": { "user": { "regex": "(" } }, "destination": "127.0.0.1:5070", "lync": true },
            { "destination": "127.0.0.1:5070", "listener": "nowhere" }
        ],
        "lync_b2bua": { "session_refresh_interval_s": 400 },
        "turn_servers": [ { "address": "127.0.0.1" } ]
    }"#;
    let found = problems(text);
    let prefixes = [
        "version: 2 is not a version this TwoLeg reads",
        "sip.listeners: is empty",
        "sip.timers.t2_ms: 100 ms is below T1",
        "sip.max_forwards: 0 hops is out of range",
        "routes[0].match.user.regex: is not a valid regular expression",
        "routes[0].lync: the route goes through the Microsoft Lync B2BUA",
        "lync_b2bua.session_refresh_interval_s: 400 s is below the minimum",
        "turn_servers[0].username: is empty",
        "turn_servers[0].password: is empty",
    ];
    for prefix in prefixes {
        assert!(
            found.iter().any(|p| p.starts_with(prefix)),
            "missing {prefix:?} in {found:#?}"
        );
    }
}

#[test]
fn a_duplicate_turn_combination_is_reported() {
    let text = r#"{ "turn_servers": [
        { "address": "127.0.0.1", "port": 3478, "username": "u", "password": "p",
          "additional_addresses": [ { "address": "127.0.0.1", "port": 3479 } ] },
        { "address": "127.0.0.1", "port": 3479, "username": "u", "password": "p" }
    ] }"#;
    assert_eq!(
        problems(text),
        ["turn_servers[1]: 127.0.0.1:3479 duplicates turn_servers[0].additional_addresses[0]"]
    );
}

#[test]
fn text_that_is_not_json_is_one_problem_with_a_position() {
    let found = problems("{ \"version\": 1,, }");
    assert_eq!(found.len(), 1);
    assert!(
        found[0].starts_with("(file): is not valid JSON"),
        "{found:?}"
    );
    assert!(found[0].contains("line 1"), "{found:?}");
}

#[test]
fn json_round_trip_is_stable() {
    for text in [DEFAULT_CONFIG, EXAMPLE_CONFIG] {
        let first = ValidConfig::from_json(text).unwrap();
        let exported = first.config().to_json();
        let second = ValidConfig::from_json(&exported).unwrap();
        assert_eq!(first.config(), second.config());
        assert_eq!(exported, second.config().to_json());
    }
}

#[test]
fn passwords_are_exported_but_never_displayed() {
    let config = ValidConfig::from_json(EXAMPLE_CONFIG).unwrap();
    assert!(config.config().to_json().contains("\"secret\""));
    let redacted = config.config().redacted().to_json();
    assert!(!redacted.contains("secret\""), "{redacted}");
    assert!(redacted.contains("\"***\""));
    let debug = format!("{config:?}");
    assert!(!debug.contains("secret"), "Debug shows a password: {debug}");
    assert_eq!(format!("{:?}", Password::new("secret")), "***");
}

#[test]
fn the_schema_describes_the_file() {
    let schema = json_schema();
    let properties = schema["properties"].as_object().unwrap();
    for key in [
        "version",
        "sip",
        "routes",
        "lync_b2bua",
        "turn_servers",
        "admin",
        "history",
    ] {
        assert!(properties.contains_key(key), "schema lacks {key}");
    }
    let server = &schema["$defs"]["TurnServer"]["properties"];
    for key in ["address", "port", "description", "username", "password"] {
        assert!(server.get(key).is_some(), "TurnServer lacks {key}");
    }
    assert_eq!(server["port"]["default"], 3478);
}
