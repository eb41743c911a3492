//! The engine's transaction table: sending a request in a new client transaction, opening a
//! server transaction, responding through one, carrying out what the state machines ask, and
//! forgetting them.

use std::net::SocketAddr;

use crate::Transport;
use crate::hop::Hop;

use super::lingering::{AcceptedInvite, Answered, Kept, Linger};
use super::{B2bua, Owner, TimerKey};
use crate::sip::{HeaderName, Headers, Method, NameAddr, Parsed, Request, Response};
use crate::transaction::{
    Effect, MergeKey, Role, Timer, Transaction, TuNews, TxId, TxKey, TxState,
};

/// What a transaction tells its TU, with how the transaction talks to its peer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct News {
    pub(crate) news: TuNews,
    pub(crate) owner: Owner,
    pub(crate) hop: Hop,
}

/// A request larger than this goes over TCP rather than UDP when the destination takes both
/// (RFC 3261 §18.1.1: 200 bytes below a 1,500-byte path MTU, when the MTU is not known).
const LARGE_REQUEST: usize = 1_300;

/// One transaction and what the engine keeps beside it.
#[derive(Debug)]
pub(crate) struct TxEntry {
    pub(crate) tx: Transaction,
    pub(crate) owner: Owner,
    key: TxKey,
    /// Its entry in the merged-request index, for an INVITE server transaction.
    pub(crate) merge_key: Option<MergeKey>,
    /// For an INVITE client transaction until its final response: the ACK of a non-2xx final
    /// without its To (RFC 3261 §17.1.1.3), taken from the INVITE when it was sent.
    ack_without_to: Option<Box<Request>>,
    /// For a non-INVITE server transaction: its final response, if it can be written again
    /// from a retransmitted request.
    plain_final: Option<Kept>,
}

impl B2bua {
    /// Sends a request in a new client transaction.
    pub(crate) fn send_request(&mut self, owner: Owner, request: &Request, hop: Hop) -> TxId {
        let (role, ack_without_to) = if request.method == Method::INVITE {
            (Role::InviteClient, Some(Box::new(ack_without_to(request))))
        } else {
            (Role::NonInviteClient, None)
        };
        let branch = request
            .headers
            .get(&HeaderName::VIA)
            .and_then(|via| crate::sip::Via::parse(via).ok())
            .and_then(|via| via.branch().map(str::to_owned))
            .expect("TwoLeg's own requests carry a Via with a branch");
        let mut tx = Transaction::new(role, hop, self.timing);
        tx.last = request.to_bytes();
        tx.last.shrink_to_fit();
        let id = TxId(self.next_id());
        let key = TxKey::Client {
            branch,
            method: request.method.clone(),
        };
        let effects = tx.start();
        self.transmit(&hop, tx.last.clone());
        self.tx_index.insert(key.clone(), id);
        self.txs.insert(
            id,
            TxEntry {
                tx,
                owner,
                key,
                merge_key: None,
                ack_without_to,
                plain_final: None,
            },
        );
        self.apply(id, effects, false);
        id
    }

    /// Sends a request on a leg: over TCP instead of UDP when it is larger than 1,300 bytes and
    /// the leg's destination also takes TCP (RFC 3261 §18.1.1), with its top Via rewritten to
    /// say so. Returns the transaction and the hop the request took.
    pub(crate) fn send_fitting(
        &mut self,
        owner: Owner,
        request: &mut Request,
        hop: Hop,
        large_over: Option<SocketAddr>,
    ) -> (TxId, Hop) {
        let mut hop = hop;
        if hop.transport == Transport::Udp
            && let Some(tcp) = large_over
            && request.to_bytes().len() > LARGE_REQUEST
        {
            hop = Hop {
                transport: Transport::Tcp,
                local: tcp,
                peer: hop.peer,
                connection: None,
                awaiting: hop.awaiting,
            };
            let via = request
                .headers
                .get(&HeaderName::VIA)
                .and_then(|via| crate::sip::Via::parse(via).ok())
                .expect("TwoLeg's own requests carry a Via");
            let moved = crate::sip::Via {
                transport: "TCP".to_owned(),
                host: tcp.ip().to_string(),
                port: Some(tcp.port()),
                ..via
            };
            request.headers.set(HeaderName::VIA, moved.to_string());
        }
        (self.send_request(owner, request, hop), hop)
    }

    /// Opens a server transaction for a request that just arrived.
    pub(crate) fn open_server_tx(
        &mut self,
        owner: Owner,
        method: &Method,
        key: TxKey,
        hop: Hop,
    ) -> TxId {
        let role = if *method == Method::INVITE {
            Role::InviteServer
        } else {
            Role::NonInviteServer
        };
        let tx = Transaction::new(role, hop, self.timing);
        let id = TxId(self.next_id());
        self.tx_index.insert(key.clone(), id);
        self.txs.insert(
            id,
            TxEntry {
                tx,
                owner,
                key,
                merge_key: None,
                ack_without_to: None,
                plain_final: None,
            },
        );
        id
    }

    /// Sends a response through a server transaction.
    pub(crate) fn respond(&mut self, id: TxId, response: &Response) {
        let Some(entry) = self.txs.get_mut(&id) else {
            return;
        };
        if entry.tx.role == Role::NonInviteServer && response.status.is_final() {
            entry.plain_final = plain(response);
        }
        let effects = entry.tx.on_respond(response.status, response.to_bytes());
        self.apply(id, effects, false);
    }

    /// A response matched a client transaction: the state machine steps, a non-2xx final gets
    /// its ACK, and the TU hears the news.
    pub(crate) fn on_client_response(&mut self, id: TxId, parsed: &Parsed) {
        let crate::sip::Message::Response(response) = &parsed.message else {
            unreachable!("only responses reach client transactions");
        };
        let entry = self
            .txs
            .get_mut(&id)
            .expect("the index names live transactions only");
        let effects = entry.tx.on_response(response.status);
        // Any final response ends the need for the template; a non-2xx one gets its ACK.
        if response.status.is_final()
            && let Some(mut ack) = entry.ack_without_to.take()
            && !response.status.is_success()
        {
            ack.headers.set(HeaderName::TO, parsed.to.to_string());
            entry.tx.ack = ack.to_bytes();
        }
        let news = self.apply(id, effects, false);
        for news in news {
            self.on_tx_news(news, Some(parsed));
        }
    }

    /// The host could not deliver to `peer` over `transport` (a connect refused or reset):
    /// every client transaction waiting on that hop ends at once (RFC 3261 §17.1.4).
    pub(crate) fn on_undeliverable(&mut self, transport: Transport, peer: SocketAddr) {
        let hit: Vec<TxId> = self
            .txs
            .iter()
            .filter(|(_, entry)| entry.tx.hop.transport == transport && entry.tx.hop.peer == peer)
            .map(|(id, _)| *id)
            .collect();
        for id in hit {
            let Some(entry) = self.txs.get_mut(&id) else {
                continue;
            };
            let effects = entry.tx.on_transport_error();
            let news = self.apply(id, effects, false);
            for news in news {
                self.on_tx_news(news, None);
            }
        }
    }

    /// A timer of a transaction fired.
    pub(crate) fn on_tx_timer(&mut self, id: TxId, timer: Timer) {
        let Some(entry) = self.txs.get_mut(&id) else {
            return;
        };
        let effects = entry.tx.on_timer(timer);
        let news = self.apply(id, effects, true);
        for news in news {
            self.on_tx_news(news, None);
        }
    }

    pub(crate) fn set_owner(&mut self, id: TxId, owner: Owner) {
        if let Some(entry) = self.txs.get_mut(&id) {
            entry.owner = owner;
        }
    }

    pub(crate) fn tx_state(&self, id: TxId) -> Option<TxState> {
        self.txs.get(&id).map(|entry| entry.tx.state)
    }

    /// Carries out a transaction's effects; returns what its TU must hear, with the TU.
    pub(crate) fn apply(
        &mut self,
        id: TxId,
        effects: Vec<Effect>,
        retransmission: bool,
    ) -> Vec<News> {
        let mut news = Vec::new();
        for effect in effects {
            match effect {
                Effect::SendLast | Effect::SendAck => {
                    let Some(entry) = self.txs.get(&id) else {
                        continue;
                    };
                    let tx = &entry.tx;
                    let bytes = if effect == Effect::SendAck {
                        tx.ack.clone()
                    } else {
                        tx.last.clone()
                    };
                    let hop = tx.hop;
                    if retransmission && effect == Effect::SendLast {
                        self.retransmit(&hop, bytes);
                    } else {
                        self.transmit(&hop, bytes);
                    }
                }
                Effect::Arm(timer, after) => {
                    self.timers.set(TimerKey::Tx(id, timer), self.now + after)
                }
                Effect::Disarm(timer) => self.timers.cancel(TimerKey::Tx(id, timer)),
                Effect::Tell(tell) => {
                    if let Some(entry) = self.txs.get(&id) {
                        news.push(News {
                            news: tell,
                            owner: entry.owner,
                            hop: entry.tx.hop,
                        });
                    }
                }
                Effect::Terminate => self.forget_tx(id),
            }
        }
        if let Some(entry) = self.txs.get_mut(&id) {
            if let Some(duration) = entry.tx.lingers() {
                self.linger(id, duration);
            } else if !entry.tx.keeps_last() {
                entry.tx.last = Vec::new();
            }
        }
        news
    }

    /// Moves a transaction that only absorbs retransmissions now into its compact form.
    fn linger(&mut self, id: TxId, duration: std::time::Duration) {
        let entry = self.txs.remove(&id).expect("the caller looked it up");
        if self.tx_index.get(&entry.key) == Some(&id) {
            self.tx_index.remove(&entry.key);
        }
        for timer in Timer::ALL {
            self.timers.cancel(TimerKey::Tx(id, timer));
        }
        let tx = entry.tx;
        let linger = match tx.role {
            Role::InviteServer => Linger::AnsweredInvite {
                merge_key: entry.merge_key.map(Box::new),
            },
            Role::NonInviteServer => Linger::Answered(Box::new(Answered {
                hop: tx.hop,
                response: entry
                    .plain_final
                    .unwrap_or_else(|| Kept::Bytes(tx.last.into_boxed_slice())),
            })),
            Role::InviteClient => Linger::AcceptedInvite(Box::new(AcceptedInvite {
                owner: entry.owner,
                hop: tx.hop,
            })),
            Role::NonInviteClient => Linger::Absorbed,
        };
        let until = self.now + duration;
        self.lingering.push(entry.key, until, linger);
    }

    pub(crate) fn forget_tx(&mut self, id: TxId) {
        let Some(entry) = self.txs.remove(&id) else {
            return;
        };
        if self.tx_index.get(&entry.key) == Some(&id) {
            self.tx_index.remove(&entry.key);
        }
        if let Some(merge_key) = entry.merge_key {
            self.merge_index.remove(&merge_key);
        }
        for timer in Timer::ALL {
            self.timers.cancel(TimerKey::Tx(id, timer));
        }
    }
}

/// A response with nothing but what every response copies from its request (Via, From, To,
/// Call-ID, CSeq) and the standard reason phrase, kept as its status and To tag.
fn plain(response: &Response) -> Option<Kept> {
    let copied = [
        HeaderName::VIA,
        HeaderName::FROM,
        HeaderName::TO,
        HeaderName::CALL_ID,
        HeaderName::CSEQ,
    ];
    let plain = response.body.is_empty()
        && response.reason == response.status.reason()
        && response
            .headers
            .iter()
            .all(|(name, _)| copied.contains(name));
    if !plain {
        return None;
    }
    let to = response.headers.get(&HeaderName::TO)?;
    let to_tag = NameAddr::parse(to).ok()?.tag().map(Box::from);
    Some(Kept::Plain {
        status: response.status,
        to_tag,
    })
}

/// The ACK an INVITE client transaction sends for a non-2xx final (RFC 3261 §17.1.1.3), all but
/// its To (the response's): the INVITE's Request-URI, top Via, Route, From, Call-ID and CSeq
/// number.
fn ack_without_to(invite: &Request) -> Request {
    let mut headers = Headers::new();
    if let Some(via) = invite.headers.get(&HeaderName::VIA) {
        headers.push(HeaderName::VIA, via);
    }
    headers.push(HeaderName::MAX_FORWARDS, "70");
    for route in invite.headers.get_all(&HeaderName::ROUTE) {
        headers.push(HeaderName::ROUTE, route);
    }
    if let Some(from) = invite.headers.get(&HeaderName::FROM) {
        headers.push(HeaderName::FROM, from);
    }
    // The response's To takes this place.
    headers.push(HeaderName::TO, "");
    if let Some(call_id) = invite.headers.get(&HeaderName::CALL_ID) {
        headers.push(HeaderName::CALL_ID, call_id);
    }
    let number = invite
        .headers
        .get(&HeaderName::CSEQ)
        .and_then(|cseq| cseq.split_whitespace().next())
        .expect("TwoLeg's own INVITEs carry a CSeq");
    headers.push(HeaderName::CSEQ, format!("{number} ACK"));
    Request {
        method: Method::ACK,
        uri: invite.uri.clone(),
        headers,
        body: Vec::new(),
    }
}
