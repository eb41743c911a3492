//! Host names inside dialogs (RFC 3263 for in-dialog requests): a Contact or Record-Route whose
//! host is a name is resolved before TwoLeg's ACK, BYE or re-INVITE goes to it; the message
//! waits for the answer; a name with no address leaves the request to go where the leg's
//! INVITE came from or went to. Over TLS, the transmit names the certificate TwoLeg expects.
//! Failed lookups are not "no records". A failover stays in leg B's zone.

mod common;

use std::time::Duration;

use common::*;
use twoleg_core::config::ValidConfig;
use twoleg_core::dns::{DnsRecord, RecordData, RecordKind};
use twoleg_sim::DnsEntry;

fn entry(name: &str, kind: RecordKind, data: Vec<RecordData>) -> DnsEntry {
    DnsEntry {
        name: name.to_owned(),
        kind,
        records: data
            .into_iter()
            .map(|data| DnsRecord { ttl_s: 300, data })
            .collect(),
    }
}

fn a(ip: &str) -> RecordData {
    RecordData::Address(ip.parse().unwrap())
}

/// A call answered by the callee with `contact` as its Contact; returns the A-leg 200's To-tag
/// and the B-leg INVITE. Every message up to the callee's 200 is taken.
fn answered_with_contact(net: &mut Net, call_id: &str, contact: &str) -> (String, Msg) {
    net.send(CALLER, &invite(call_id, "z9hG4bKn1", 1, 70, "", SDP));
    let b_invite = net.expect_one(CALLEE, "INVITE");
    let ok = b_invite.reply(
        200,
        "OK",
        Some("bob-tag"),
        &format!("Contact: <{contact}>\r\n"),
        SDP_ANSWER,
    );
    net.send(CALLEE, &ok);
    let a_ok = net
        .sent
        .iter()
        .rev()
        .find(|m| m.to == addr(CALLER) && m.status() == Some(200))
        .expect("200 on leg A")
        .clone();
    (a_ok.to_tag().unwrap().to_owned(), b_invite)
}

#[test]
fn a_contact_host_name_is_resolved_before_the_ack_and_the_bye_go_to_it() {
    let mut net = Net::new(config());
    net.dns = vec![entry(
        "bob-phone.example",
        RecordKind::A,
        vec![a("127.0.0.9")],
    )];
    net.hold_dns = true;
    let (a_tag, b_invite) =
        answered_with_contact(&mut net, "names1", "sip:bob@bob-phone.example:5090");
    let sent = net.take();
    assert!(
        !sent.iter().any(|m| m.is("ACK")),
        "the ACK waits for the name: {sent:#?}"
    );
    let queries = net.queries();
    assert_eq!(
        queries,
        vec![("bob-phone.example", RecordKind::A)],
        "a name with a port is looked up as A records"
    );
    let query = net.dns_queries[0].clone();
    net.answer_dns(&query);
    let ack = net.expect_one("127.0.0.9:5090", "ACK");
    assert_eq!(ack.parsed.call_id, b_invite.parsed.call_id);

    // The callee's 200 again: the ACK again, to the same address (from the cache).
    let ok = b_invite.reply(
        200,
        "OK",
        Some("bob-tag"),
        "Contact: <sip:bob@bob-phone.example:5090>\r\n",
        SDP_ANSWER,
    );
    net.send(CALLEE, &ok);
    net.expect_one("127.0.0.9:5090", "ACK");

    // The caller hangs up: TwoLeg's BYE on leg B goes to the resolved address, asking nothing.
    net.send(CALLER, &caller_ack("names1", 1, &a_tag, ""));
    net.send(
        CALLER,
        &caller_request("BYE", "names1", "z9hG4bKbye1", 2, &a_tag, "", ""),
    );
    let bye = net.expect_one("127.0.0.9:5090", "BYE");
    assert_eq!(net.dns_queries.len(), 1, "cached");
    net.send("127.0.0.9:5090", &bye.reply(200, "OK", None, "", ""));
    assert_eq!(net.engine().call_count(), 0);
}

#[test]
fn a_record_route_host_name_is_resolved_by_srv_for_requests_to_the_caller() {
    let mut net = Net::new(config());
    net.dns = vec![
        entry(
            "_sip._udp.edge.example",
            RecordKind::Srv,
            vec![RecordData::Srv {
                priority: 1,
                weight: 1,
                port: 5099,
                target: "edge1.example.".to_owned(),
            }],
        ),
        entry("edge1.example", RecordKind::A, vec![a("127.0.0.8")]),
    ];
    let extra = "Record-Route: <sip:edge.example;lr>\r\n";
    net.send(CALLER, &invite("names2", "z9hG4bKn2", 1, 70, extra, SDP));
    let b_invite = net.expect_one(CALLEE, "INVITE");
    net.send(CALLEE, &b_invite.answer(Some("bob-tag"), SDP_ANSWER));
    let a_ok = net
        .take()
        .into_iter()
        .find(|m| m.status() == Some(200))
        .expect("200 on leg A");
    assert_eq!(
        a_ok.to,
        addr(CALLER),
        "responses follow the Via, not the route"
    );
    let a_tag = a_ok.to_tag().unwrap().to_owned();
    net.send(CALLER, &caller_ack("names2", 1, &a_tag, ""));
    // The callee hangs up: the BYE on leg A goes to the first route, resolved as RFC 3263 says.
    net.send(
        CALLEE,
        &callee_request("ACK", &b_invite, "bob-tag", "z9hG4bKa2", 1, "", ""),
    );
    net.send(
        CALLEE,
        &callee_request("BYE", &b_invite, "bob-tag", "z9hG4bKb2", 2, "", ""),
    );
    let bye = net.expect_one("127.0.0.8:5099", "BYE");
    assert_eq!(
        bye.header("Route"),
        Some("<sip:edge.example;lr>"),
        "the route set is kept as written"
    );
    let kinds = net.queries();
    assert_eq!(
        kinds,
        vec![
            ("edge.example", RecordKind::Naptr),
            ("_sip._udp.edge.example", RecordKind::Srv),
            ("edge1.example", RecordKind::A),
        ]
    );
}

#[test]
fn a_name_without_address_leaves_the_ack_to_go_where_the_invite_went() {
    let mut net = Net::new(config());
    answered_with_contact(&mut net, "names3", "sip:bob@unknown.example:5090");
    net.expect_one(CALLEE, "ACK");
    assert!(
        net.dns_queries
            .iter()
            .any(|q| q.name == "unknown.example" && q.kind == RecordKind::A),
        "the name was looked up"
    );
}

#[test]
fn a_request_waiting_for_a_name_goes_when_the_lookup_gives_up() {
    let mut net = Net::new(config());
    net.hold_dns = true;
    answered_with_contact(&mut net, "names4", "sip:bob@slow.example:5090");
    assert!(!net.take().iter().any(|m| m.is("ACK")));
    assert!(!net.engine().is_idle());
    net.advance(Duration::from_millis(4_900));
    assert!(!net.take().iter().any(|m| m.is("ACK")), "still waiting");
    net.advance(Duration::from_millis(200));
    net.expect_one(CALLEE, "ACK");
}

#[test]
fn tls_to_a_host_name_names_the_certificate_expected() {
    let text = format!(
        r#"{{ "version": 1,
             "sip": {{ "listeners": [
                {{ "name": "udp", "address": "{B2BUA}" }},
                {{ "name": "tls", "address": "127.0.0.1:5061", "transport": "tls",
                   "tls": {{ "certificate_chain": "c.pem", "private_key": "k.pem", "ca": "ca.pem" }} }} ] }},
             "routes": [
                {{ "name": "pool", "destination": "pbx.example", "listener": "tls", "match": {{ "user": {{ "exact": "pool" }} }} }},
                {{ "name": "named", "destination": "gw.example:5061", "listener": "tls",
                   "tls_server_name": "sip.gw.example" }} ] }}"#
    );
    let mut net = Net::new(ValidConfig::from_json(&text).unwrap());
    net.dns = vec![
        entry(
            "_sips._tcp.pbx.example",
            RecordKind::Srv,
            vec![RecordData::Srv {
                priority: 1,
                weight: 1,
                port: 5161,
                target: "node1.pbx.example".to_owned(),
            }],
        ),
        entry("node1.pbx.example", RecordKind::A, vec![a("127.0.0.7")]),
        entry("gw.example", RecordKind::A, vec![a("127.0.0.6")]),
    ];
    let pool_invite = invite("names5", "z9hG4bKn5", 1, 70, "", SDP).replacen(
        "sip:bob@example.com SIP/2.0",
        "sip:pool@example.com SIP/2.0",
        1,
    );
    net.send(CALLER, &pool_invite);
    net.send(CALLER, &invite("names6", "z9hG4bKn6", 1, 70, "", SDP));
    let transmits = net.tls_transmits();
    assert!(
        transmits.contains(&(addr("127.0.0.7:5161"), Some("pbx.example".to_owned()))),
        "the SRV target's certificate must carry the domain asked for (RFC 5922), {transmits:?}"
    );
    assert!(
        transmits.contains(&(addr("127.0.0.6:5061"), Some("sip.gw.example".to_owned()))),
        "the route's tls_server_name wins, {transmits:?}"
    );
}

#[test]
fn a_failed_srv_lookup_does_not_fall_back_to_a_records() {
    let text = format!(
        r#"{{ "version": 1,
             "sip": {{ "listeners": [ {{ "name": "udp", "address": "{B2BUA}" }} ] }},
             "routes": [ {{ "name": "pool", "destination": "pbx.example" }} ] }}"#
    );
    let mut net = Net::new(ValidConfig::from_json(&text).unwrap());
    net.dns = vec![entry("pbx.example", RecordKind::A, vec![a("127.0.0.2")])];
    net.fail_dns = vec![("_sip._udp.pbx.example".to_owned(), RecordKind::Srv)];
    net.send(CALLER, &invite("names7", "z9hG4bKn7", 1, 70, "", SDP));
    let sent = net.take();
    assert!(
        !sent.iter().any(|m| m.is("INVITE") && m.to != addr(CALLER)),
        "no guess at the A records: {sent:#?}"
    );
    assert!(
        sent.iter()
            .any(|m| m.to == addr(CALLER) && m.status() == Some(503))
    );
    assert!(
        !net.dns_queries.iter().any(|q| q.kind == RecordKind::A),
        "the A records are not asked for"
    );

    // With no SRV records at all (an answer, not a failure), the A records are used.
    net.fail_dns.clear();
    net.advance(Duration::from_secs(6));
    net.send(CALLER, &invite("names8", "z9hG4bKn8", 1, 70, "", SDP));
    net.expect_one("127.0.0.2:5060", "INVITE");
}

#[test]
fn responses_to_a_via_with_a_host_name_go_to_the_source_with_received_and_ask_no_dns() {
    let mut net = Net::new(config());
    let text = invite("names9", "z9hG4bKn9", 1, 70, "", SDP).replacen(
        &format!("Via: SIP/2.0/UDP {CALLER};branch=z9hG4bKn9;rport"),
        "Via: SIP/2.0/UDP caller.example:5080;branch=z9hG4bKn9",
        1,
    );
    assert!(text.contains("caller.example"));
    net.send(CALLER, &text);
    let trying = net.expect_one(CALLER, "100");
    assert!(
        trying
            .header("Via")
            .is_some_and(|via| via.contains("received=127.0.0.1")),
        "{}",
        trying.text
    );
    assert!(net.dns_queries.is_empty());
}
