//! The SIP codec on the RFC 4475 torture messages: every valid message reads, every invalid one
//! is rejected (a request with enough left to answer it), and none panics.

mod common;

use std::path::PathBuf;

use twoleg_core::sip::{Message, ParseError, parse};

struct Case {
    file: String,
    class: String,
    bytes: Vec<u8>,
}

fn corpus() -> Vec<Case> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/rfc4475");
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv"))
        .unwrap_or_else(|e| panic!("the RFC 4475 corpus at {}: {e}", dir.display()));
    manifest
        .lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            Case {
                file: fields[0].to_owned(),
                class: fields[2].to_owned(),
                bytes: std::fs::read(dir.join(fields[0])).unwrap(),
            }
        })
        .collect()
}

#[test]
fn the_corpus_has_49_messages() {
    assert_eq!(corpus().len(), 49);
}

#[test]
fn valid_messages_read() {
    for case in corpus().iter().filter(|c| c.class == "valid") {
        if let Err(rejected) = parse(&case.bytes, 65_535) {
            panic!("{}: rejected: {}", case.file, rejected.error);
        }
    }
}

#[test]
fn invalid_messages_are_rejected() {
    for case in corpus().iter().filter(|c| c.class == "invalid") {
        match parse(&case.bytes, 65_535) {
            Ok(parsed) => panic!("{}: accepted: {:?}", case.file, parsed.message.headers()),
            Err(rejected) => {
                let is_response = case.bytes.starts_with(b"SIP/");
                assert_eq!(
                    rejected.salvage.is_some(),
                    !is_response && !["badinv01.dat", "badvers.dat"].contains(&case.file.as_str()),
                    "{}: {} (a request can be answered unless its Via is unreadable: badinv01, badvers)",
                    case.file,
                    rejected.error
                );
            }
        }
    }
}

#[test]
fn semantic_messages_read_except_where_the_rfc_says_400() {
    for case in corpus().iter().filter(|c| c.class == "semantic") {
        let result = parse(&case.bytes, 65_535);
        match case.file.as_str() {
            "insuf.dat" => assert!(matches!(
                result.unwrap_err().error,
                ParseError::MissingHeader(_)
            )),
            "multi01.dat" | "mcl01.dat" => {
                assert!(matches!(
                    result.unwrap_err().error,
                    ParseError::RepeatedHeader(_)
                ))
            }
            _ => {
                let parsed = result.unwrap_or_else(|r| panic!("{}: {}", case.file, r.error));
                assert_eq!(
                    matches!(parsed.message, Message::Response(_)),
                    case.file == "bcast.dat"
                );
            }
        }
    }
}

#[test]
fn specific_readings() {
    let cases = corpus();
    let get = |name: &str| {
        let case = cases.iter().find(|c| c.file == name).unwrap();
        parse(&case.bytes, 65_535).unwrap()
    };
    let wsinv = get("wsinv.dat");
    assert_eq!(wsinv.max_forwards, Some(68));
    assert_eq!(wsinv.cseq.number, 9);
    assert_eq!(wsinv.vias.len(), 3);
    assert_eq!(wsinv.to.tag(), Some("1918181833n"));
    assert_eq!(wsinv.from.tag(), Some("98asjd8"));
    let dblreq = get("dblreq.dat");
    // Content-Length 0 frames the first request; the second one in the datagram is not a body.
    assert!(dblreq.message.body().is_empty());
    let unkscm = get("unkscm.dat");
    assert_eq!(unkscm.request_uri.unwrap().scheme, "nobodyknowsthisscheme");
}

/// The `rsip` feature's conversions: a message TwoLeg writes becomes rsip's, and back, with the
/// same reading (through the wire form both ways).
#[test]
fn messages_convert_to_rsip_and_back() {
    let text = common::invite("conv-1", "z9hG4bKconv", 1, 70, "", common::SDP);
    let parsed = parse(text.as_bytes(), 65_535).unwrap();
    let theirs = rsip::SipMessage::try_from(&parsed.message).unwrap();
    assert!(theirs.is_request());
    let back = twoleg_core::sip::Parsed::try_from(&theirs).unwrap();
    assert_eq!(back.call_id, "conv-1");
    assert_eq!(back.cseq, parsed.cseq);
    assert_eq!(back.message.body(), parsed.message.body());
}
