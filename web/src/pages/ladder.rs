//! The SIP ladder diagram of one call: every message on both legs in time order with the
//! transport it took (UDP, or TCP/TLS and its connection), and the TURN exchanges of its Lync
//! leg (Allocate, Refresh, CreatePermission) in their own column; the media packets of anchored
//! calls, as RTP or SRTP per leg; losses and retransmissions marked, the full text (each leg's
//! SDP as TwoLeg wrote it) a click away.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use twoleg_core::status::{MediaStatus, TurnDecision};
use yew::prelude::*;

use crate::app::Ctx;

#[derive(Clone, PartialEq, Properties)]
pub(crate) struct LadderProps {
    pub(crate) tag: AttrValue,
}

#[component(LadderPage)]
pub(crate) fn ladder(props: &LadderProps) -> Html {
    let ctx = use_context::<Ctx>().expect("the app provides the context");
    let open = use_state(|| None::<u64>);
    let view = &ctx.view;
    let call = view
        .calls
        .iter()
        .find(|c| c.tag == props.tag.as_str())
        .map(|c| (c.legs.clone(), c.turn.clone(), c.media.clone()))
        .or_else(|| {
            view.history
                .iter()
                .find(|r| r.tag == props.tag.as_str())
                .map(|r| (r.legs.clone(), r.turn.clone(), r.media.clone()))
        });
    let Some(([a, b], turn, anchored)) = call else {
        return html! { <p>{ "No such call (only calls still in view have a ladder)." }</p> };
    };
    let call_ids = [a.call_id.clone(), b.call_id.clone()];
    let (turn_servers, media) = turn_addresses(&turn);
    // Columns: the caller, TwoLeg, the callee, and the TURN servers when relays were sought.
    let columns: [SocketAddr; 3] = [a.peer, a.local, b.peer];
    let width = if turn_servers.is_empty() { 3 } else { 4 };
    let [a_media, b_media] = media_addresses(anchored.as_ref());
    let column = |address: SocketAddr| {
        if turn_servers.contains(&address) {
            return 3;
        }
        if a_media.contains(&address) {
            return 0;
        }
        if b_media.contains(&address) {
            return 2;
        }
        columns.iter().position(|c| *c == address).unwrap_or(1)
    };
    let is_media = |d: &twoleg_sim::Datagram| {
        d.media.is_some()
            && [d.from, d.to]
                .iter()
                .any(|address| a_media.contains(address) || b_media.contains(address))
    };
    let is_turn = |d: &twoleg_sim::Datagram| {
        media.contains(&d.from) && turn_servers.contains(&d.to)
            || media.contains(&d.to) && turn_servers.contains(&d.from)
    };
    let mut seen = BTreeSet::new();
    let rows = view
        .ladder
        .iter()
        .filter(|d| {
            d.header("Call-ID")
                .is_some_and(|id| call_ids.iter().any(|c| c == id))
                || is_turn(d)
                || is_media(d)
        })
        .map(|d| {
            let retransmission = !seen.insert((d.from, d.contents.clone()));
            let (from, to) = (column(d.from), column(d.to));
            let rightwards = to > from;
            let leg = match from.max(to) {
                3 => "TURN",
                2 => "B",
                _ => "A",
            };
            let onclick = {
                let open = open.clone();
                let id = d.id;
                Callback::from(move |_: MouseEvent| {
                    open.set(if *open == Some(id) { None } else { Some(id) })
                })
            };
            let mut classes = classes!("ladder-row", format!("leg-{leg}"));
            if d.media.is_some() {
                classes.push("media");
            }
            if d.delivered_at.is_none() {
                classes.push("lost");
            }
            if retransmission {
                classes.push("retransmission");
            }
            let summary = d.summary();
            let transport = match d.connection {
                Some(connection) => format!("{} #{}", d.transport, connection.0),
                None => d.transport.to_string(),
            };
            let text = match (&d.media, twoleg_core::turn::describe(&d.contents)) {
                (Some(what), _) => format!("{what}: {} bytes\n{}", d.contents.len(), hex(&d.contents)),
                (None, Some(what)) => format!("{what} ({} bytes of binary STUN)", d.contents.len()),
                (None, None) => String::from_utf8_lossy(&d.contents).into_owned(),
            };
            let cells = (0..width).map(|c| {
                let inside = c >= from.min(to) && c < from.max(to);
                let arrow = if inside && (c == from.min(to)) {
                    format!(
                        "{}{}{}",
                        if rightwards { "" } else { "◀" },
                        summary,
                        if rightwards { " ▶" } else { "" }
                    )
                } else {
                    String::new()
                };
                html! { <td class={classes!(inside.then_some("arrow"))}>{ arrow }</td> }
            });
            html! {
                <>
                    <tr class={classes} {onclick}>
                        <td class="time">{ format!("{}", d.sent_at) }</td>
                        <td class="leg">{ leg }</td>
                        <td class="transport">{ transport }</td>
                        { for cells }
                        <td class="marks">
                            { if d.delivered_at.is_none() { "✗ lost " } else { "" } }
                            { if retransmission { "↻ retransmission" } else { "" } }
                        </td>
                    </tr>
                    if *open == Some(d.id) {
                        <tr class="message-text"><td colspan="8"><pre>{ text.clone() }</pre></td></tr>
                    }
                </>
            }
        })
        .collect::<Vec<_>>();
    html! {
        <section>
            <h1>{ format!("Ladder diagram: {}", props.tag) }</h1>
            <p class="hint">{ format!("Leg A Call-ID {} · leg B Call-ID {}", a.call_id, b.call_id) }</p>
            if rows.is_empty() {
                <p>{ "No datagrams kept for this call (batches of more than 50 calls keep none)." }</p>
            }
            <table id="ladder">
                <thead><tr><th>{ "Time" }</th><th>{ "Leg" }</th><th>{ "Transport" }</th><th>{ format!("Caller {}", columns[0]) }</th><th>{ format!("TwoLeg {}", columns[1]) }</th><th>{ format!("Callee {}", columns[2]) }</th>
                    if width == 4 { <th>{ "TURN server" }</th> }
                    <th></th></tr></thead>
                <tbody>{ for rows }</tbody>
            </table>
        </section>
    }
}

/// The TURN servers a call's Lync leg tried and TwoLeg's media ports it tried them from.
fn turn_addresses(turn: &TurnDecision) -> (Vec<SocketAddr>, Vec<SocketAddr>) {
    let TurnDecision::Offered {
        address,
        media,
        failed_over,
        redirected_to,
        ..
    } = turn
    else {
        return (Vec::new(), Vec::new());
    };
    let mut servers = vec![*address];
    servers.extend(redirected_to);
    let mut ports = Vec::new();
    let attempts = failed_over.iter().map(|a| (a.address, a.media));
    for (server, rtp) in attempts.chain([(*address, *media)]) {
        servers.push(server);
        if let Some(rtp) = rtp {
            ports.push(rtp);
            ports.push(SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1)));
        }
    }
    (servers, ports)
}

/// The peers' media addresses of an anchored call per leg (RTP and RTCP), as TwoLeg's media
/// streams know them: packets from and to them belong to the call.
fn media_addresses(media: Option<&MediaStatus>) -> [Vec<SocketAddr>; 2] {
    let mut sides = [Vec::new(), Vec::new()];
    for stream in media.map(|m| m.streams.as_slice()).unwrap_or_default() {
        for (side, leg) in stream.legs.iter().enumerate() {
            for address in leg.remote.into_iter() {
                sides[side].push(address);
                sides[side].push(SocketAddr::new(
                    address.ip(),
                    address.port().wrapping_add(1),
                ));
            }
        }
    }
    sides
}

/// Bytes as hex, 16 to a line.
fn hex(bytes: &[u8]) -> String {
    bytes
        .chunks(16)
        .map(|line| {
            line.iter()
                .map(|byte| format!("{byte:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}
