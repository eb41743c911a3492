//! How a message finds what it belongs to: its transaction (RFC 3261 §17.1.3, §17.2.3), the
//! INVITE it merges with (§8.2.2.2) or its dialog (§12).

use crate::sip::{Method, Parsed};

/// How a transaction is found again.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum TxKey {
    /// §17.1.3: a response matches a client transaction by its top Via branch and CSeq method.
    Client {
        /// The branch TwoLeg put in its Via.
        branch: String,
        /// The request's method.
        method: Method,
    },
    /// §17.2.3: a request with a magic-cookie branch matches a server transaction by branch,
    /// sent-by and method (an ACK looks up its INVITE with [`Method::INVITE`]).
    Server {
        /// The top Via's branch.
        branch: String,
        /// The top Via's sent-by.
        sent_by: String,
        /// The request's method.
        method: Method,
    },
    /// §17.2.3 for an RFC 2543 peer, whose branch (if any) carries no magic cookie: Call-ID,
    /// From tag, CSeq number and the top Via identify the transaction.
    Rfc2543(Box<Rfc2543Key>),
}

/// The server transaction key of a request from an RFC 2543 peer.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Rfc2543Key {
    call_id: String,
    from_tag: Option<String>,
    cseq: u32,
    branch: Option<String>,
    sent_by: String,
    method: Method,
}

impl TxKey {
    /// The key of the client transaction a response answers.
    pub(crate) fn of_response(parsed: &Parsed) -> Self {
        Self::Client {
            branch: parsed.vias[0].branch().unwrap_or_default().to_owned(),
            method: parsed.cseq.method.clone(),
        }
    }

    /// The key of the server transaction a request belongs to, as if its method were `method`
    /// (an ACK and a CANCEL look up their INVITE).
    pub(crate) fn of_request(parsed: &Parsed, method: Method) -> Self {
        let top = &parsed.vias[0];
        if top.has_rfc3261_branch() {
            return Self::Server {
                branch: top.branch().unwrap_or_default().to_owned(),
                sent_by: top.sent_by(),
                method,
            };
        }
        Self::Rfc2543(Box::new(Rfc2543Key {
            call_id: parsed.call_id.clone(),
            from_tag: parsed.from.tag().map(str::to_owned),
            cseq: parsed.cseq.number,
            branch: top.branch().map(str::to_owned),
            sent_by: top.sent_by(),
            method,
        }))
    }
}

/// Identifies an INVITE by what a merged copy of it shares (§8.2.2.2): Call-ID, From tag and
/// CSeq number.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct MergeKey {
    call_id: String,
    from_tag: Option<String>,
    cseq: u32,
}

impl MergeKey {
    pub(crate) fn of(parsed: &Parsed) -> Self {
        Self {
            call_id: parsed.call_id.clone(),
            from_tag: parsed.from.tag().map(str::to_owned),
            cseq: parsed.cseq.number,
        }
    }
}

/// Identifies one leg's dialog on TwoLeg's side: its Call-ID and TwoLeg's tag on it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct DialogKey {
    call_id: String,
    local_tag: String,
}

impl DialogKey {
    pub(crate) fn new(call_id: &str, local_tag: &str) -> Self {
        Self {
            call_id: call_id.to_owned(),
            local_tag: local_tag.to_owned(),
        }
    }
}
