//! Conversions between TwoLeg's messages and rsip's (feature `rsip`), for code that already
//! builds on rsip: both go through the wire form, so what one writes the other reads.
//!
//! rsip reads fewer messages than TwoLeg (it frames 7 of the 13 valid RFC 4475 messages), so
//! a conversion into rsip can fail where TwoLeg's own reading succeeds; the reverse fails only
//! for what TwoLeg refuses as malformed.

use super::{Message, Parsed, Rejected, parse};

impl TryFrom<&Message> for rsip::SipMessage {
    type Error = rsip::Error;

    fn try_from(message: &Message) -> Result<Self, Self::Error> {
        Self::try_from(message.to_bytes())
    }
}

impl TryFrom<&rsip::SipMessage> for Parsed {
    type Error = Rejected;

    fn try_from(message: &rsip::SipMessage) -> Result<Self, Self::Error> {
        let bytes: Vec<u8> = message.clone().into();
        parse(&bytes, usize::MAX)
    }
}
