//! TwoLeg behaviour and end-to-end tests live in `tests/tests/`, one file per behaviour. This
//! library holds what they share beyond their harness: the rsip oracle.

pub mod oracle {
    //! rsip as an interoperability oracle: every message TwoLeg writes in the tests is read by
    //! TwoLeg's own codec and by rsip 0.4, and what a peer acts on (method or status, Call-ID,
    //! CSeq, From and To tags, top Via branch, body length) must read the same in both.
    //!
    //! TwoLeg's codec stays its own (`core/src/sip/mod.rs` says why: rsip frames 7 of the 13
    //! valid RFC 4475 messages and draws ids from the OS); rsip's role is to catch a message
    //! TwoLeg writes that another widely used Rust stack would read differently.

    use rsip::headers::{ToTypedHeader, UntypedHeader};
    use rsip::message::HeadersExt;
    use twoleg_core::sip::{Message, parse};

    /// What a peer acts on in a message, as one reader sees it.
    #[derive(Debug, PartialEq, Eq)]
    pub struct Reading {
        /// The method of a request, or the status code of a response.
        pub start: String,
        /// Call-ID.
        pub call_id: String,
        /// CSeq number and method.
        pub cseq: (u32, String),
        /// From tag.
        pub from_tag: Option<String>,
        /// To tag.
        pub to_tag: Option<String>,
        /// The top Via's branch.
        pub branch: Option<String>,
        /// Body length.
        pub body_len: usize,
    }

    /// TwoLeg's reading of `bytes`.
    pub fn twoleg(bytes: &[u8]) -> Result<Reading, String> {
        let parsed = parse(bytes, usize::MAX).map_err(|rejected| rejected.error.to_string())?;
        Ok(Reading {
            start: match &parsed.message {
                Message::Request(request) => request.method.to_string(),
                Message::Response(response) => response.status.code().to_string(),
            },
            call_id: parsed.call_id.clone(),
            cseq: (parsed.cseq.number, parsed.cseq.method.to_string()),
            from_tag: parsed.from.tag().map(str::to_owned),
            to_tag: parsed.to.tag().map(str::to_owned),
            branch: parsed.vias[0].branch().map(str::to_owned),
            body_len: parsed.message.body().len(),
        })
    }

    /// rsip's reading of `bytes`.
    pub fn rsip(bytes: &[u8]) -> Result<Reading, String> {
        let message = rsip::SipMessage::try_from(bytes).map_err(|e| e.to_string())?;
        let start = match &message {
            rsip::SipMessage::Request(request) => request.method.to_string(),
            rsip::SipMessage::Response(response) => response.status_code.code().to_string(),
        };
        let text = |e: rsip::Error| e.to_string();
        let cseq = message.cseq_header().map_err(text)?.typed().map_err(text)?;
        Ok(Reading {
            start,
            call_id: message.call_id_header().map_err(text)?.value().to_owned(),
            cseq: (cseq.seq, cseq.method.to_string()),
            from_tag: message
                .from_header()
                .map_err(text)?
                .tag()
                .map_err(text)?
                .map(|tag| tag.to_string()),
            to_tag: message
                .to_header()
                .map_err(text)?
                .tag()
                .map_err(text)?
                .map(|tag| tag.to_string()),
            branch: message
                .via_header()
                .map_err(text)?
                .typed()
                .map_err(text)?
                .branch()
                .map(|branch| branch.to_string()),
            body_len: message.body().len(),
        })
    }

    /// How the two readings of a message compare.
    #[derive(Debug, PartialEq, Eq)]
    pub enum Verdict {
        /// Both read it, the same.
        Agree,
        /// rsip could not read it at all (TwoLeg could).
        RsipCannotRead,
    }

    /// Compares TwoLeg's and rsip's readings of a message TwoLeg wrote. Panics, with both
    /// readings, when they differ, and when rsip cannot read it unless `peer_text_rsip_refuses`
    /// (the message echoes text from a peer's message that rsip itself cannot read, as a
    /// response must echo From, To, Call-ID and Via verbatim: RFC 3261 §8.2.6.2).
    pub fn check(bytes: &[u8], peer_text_rsip_refuses: bool) -> Verdict {
        let ours = twoleg(bytes);
        let theirs = rsip(bytes);
        match (&ours, &theirs) {
            (Ok(_), Err(_)) if peer_text_rsip_refuses => Verdict::RsipCannotRead,
            _ if ours == theirs => Verdict::Agree,
            _ => panic!(
                "rsip reads a message TwoLeg wrote differently:\nTwoLeg: {ours:#?}\nrsip:   {theirs:#?}\nmessage:\n{}",
                String::from_utf8_lossy(bytes)
            ),
        }
    }

    /// Whether rsip reads a message at all (for the peer messages a test hands in).
    pub fn rsip_reads(bytes: &[u8]) -> bool {
        rsip::SipMessage::try_from(bytes).is_ok()
    }
}
