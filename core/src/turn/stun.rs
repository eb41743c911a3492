//! STUN messages (RFC 8489) with the TURN methods and attributes TwoLeg uses (RFC 8656):
//! encoding with MESSAGE-INTEGRITY (long-term credentials) and FINGERPRINT, decoding with checks.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha1::Sha1;

/// The magic cookie of every STUN message.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;

/// The longest attribute value a STUN message can carry (its length field is 16 bits, and the
/// whole message's too).
pub const MAX_ATTRIBUTE_LEN: usize = 0xFFFF - 20 - 4;

/// A STUN method (RFC 8489 §18.2, RFC 8656 §17).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Method(pub u16);

impl Method {
    /// Binding (RFC 8489): the health probes.
    pub const BINDING: Self = Self(0x001);
    /// Allocate (RFC 8656 §7).
    pub const ALLOCATE: Self = Self(0x003);
    /// Refresh (RFC 8656 §8); lifetime 0 deletes the allocation.
    pub const REFRESH: Self = Self(0x004);
    /// Send (RFC 8656 §11.4): an indication carrying data to a peer through the relay.
    pub const SEND: Self = Self(0x006);
    /// Data (RFC 8656 §11.6): an indication carrying data from a peer through the relay.
    pub const DATA: Self = Self(0x007);
    /// CreatePermission (RFC 8656 §9).
    pub const CREATE_PERMISSION: Self = Self(0x008);
}

/// A STUN attribute type (RFC 8489 §18.3, RFC 8656 §18).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AttrType(pub u16);

impl AttrType {
    /// USERNAME.
    pub const USERNAME: Self = Self(0x0006);
    /// MESSAGE-INTEGRITY (HMAC-SHA1).
    pub const MESSAGE_INTEGRITY: Self = Self(0x0008);
    /// ERROR-CODE.
    pub const ERROR_CODE: Self = Self(0x0009);
    /// LIFETIME, in seconds.
    pub const LIFETIME: Self = Self(0x000D);
    /// XOR-PEER-ADDRESS.
    pub const XOR_PEER_ADDRESS: Self = Self(0x0012);
    /// DATA: what a Send or Data indication carries.
    pub const DATA: Self = Self(0x0013);
    /// REALM.
    pub const REALM: Self = Self(0x0014);
    /// NONCE.
    pub const NONCE: Self = Self(0x0015);
    /// XOR-RELAYED-ADDRESS.
    pub const XOR_RELAYED_ADDRESS: Self = Self(0x0016);
    /// REQUESTED-TRANSPORT.
    pub const REQUESTED_TRANSPORT: Self = Self(0x0019);
    /// XOR-MAPPED-ADDRESS.
    pub const XOR_MAPPED_ADDRESS: Self = Self(0x0020);
    /// ALTERNATE-SERVER.
    pub const ALTERNATE_SERVER: Self = Self(0x8023);
    /// FINGERPRINT.
    pub const FINGERPRINT: Self = Self(0x8028);
}

/// A STUN transaction id: 96 bits from the engine's seeded RNG.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TransactionId(pub [u8; 12]);

/// A message class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// A request.
    Request,
    /// An indication (no answer).
    Indication,
    /// A success response.
    Success,
    /// An error response.
    Error,
}

/// One STUN message: its type, transaction id and attributes in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Request, indication or response.
    pub class: Class,
    /// The method.
    pub method: Method,
    /// The transaction id.
    pub transaction: TransactionId,
    /// Attributes in order, values without padding.
    pub attributes: Vec<(AttrType, Vec<u8>)>,
}

/// Why bytes are not a STUN message TwoLeg accepts.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StunError {
    /// Shorter than a STUN header.
    #[error("shorter than a STUN header")]
    TooShort,
    /// The first bits or the magic cookie are wrong.
    #[error("not a STUN message")]
    NotStun,
    /// The length field disagrees with the bytes, or an attribute runs past the end.
    #[error("bad STUN length")]
    BadLength,
    /// The FINGERPRINT does not match.
    #[error("bad STUN fingerprint")]
    BadFingerprint,
}

/// Whether a datagram is a STUN message (RFC 7983 demultiplexing: the first two bits are zero
/// and the magic cookie is in place); SIP text never starts with a byte below 0x40.
pub fn looks_like_stun(bytes: &[u8]) -> bool {
    bytes.len() >= 20 && bytes[0] < 0x40 && bytes[4..8] == MAGIC_COOKIE.to_be_bytes()
}

/// A one-line description of a STUN message for ladder diagrams and logs ("Allocate request",
/// "Allocate error 401", ...), or `None` when the bytes are not STUN.
pub fn describe(bytes: &[u8]) -> Option<String> {
    if !looks_like_stun(bytes) {
        return None;
    }
    let Ok(message) = Message::decode(bytes) else {
        return Some("STUN (malformed)".to_owned());
    };
    let method = match message.method {
        Method::BINDING => "Binding".to_owned(),
        Method::ALLOCATE => "Allocate".to_owned(),
        Method::REFRESH => match message.lifetime() {
            Some(0) => "Refresh (delete)".to_owned(),
            _ => "Refresh".to_owned(),
        },
        Method::CREATE_PERMISSION => "CreatePermission".to_owned(),
        Method::SEND => "Send".to_owned(),
        Method::DATA => "Data".to_owned(),
        Method(other) => format!("STUN method {other:#05x}"),
    };
    Some(match message.class {
        Class::Request => format!("{method} request"),
        Class::Indication => format!("{method} indication"),
        Class::Success => format!("{method} success"),
        Class::Error => format!("{method} error {}", message.error_code().unwrap_or(0)),
    })
}

/// The long-term credential key: MD5(username ":" realm ":" password) (RFC 8489 §9.2.2).
pub fn long_term_key(username: &str, realm: &str, password: &str) -> [u8; 16] {
    let mut hash = Md5::new();
    hash.update(format!("{username}:{realm}:{password}").as_bytes());
    hash.finalize().into()
}

impl Message {
    /// A request with no attributes yet.
    pub fn request(method: Method, transaction: TransactionId) -> Self {
        Self {
            class: Class::Request,
            method,
            transaction,
            attributes: Vec::new(),
        }
    }

    /// A response to `request` with no attributes yet.
    pub fn response(request: &Self, class: Class) -> Self {
        Self {
            class,
            method: request.method,
            transaction: request.transaction,
            attributes: Vec::new(),
        }
    }

    /// The value of the first attribute of this type.
    pub fn attribute(&self, kind: AttrType) -> Option<&[u8]> {
        self.attributes
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, v)| v.as_slice())
    }

    /// Appends an attribute. A value longer than [`MAX_ATTRIBUTE_LEN`] is a caller's bug
    /// (credentials are bounded by config validation): it is cut to the limit.
    pub fn push(&mut self, kind: AttrType, value: impl Into<Vec<u8>>) {
        let mut value = value.into();
        debug_assert!(value.len() <= MAX_ATTRIBUTE_LEN, "STUN attribute too long");
        value.truncate(MAX_ATTRIBUTE_LEN);
        self.attributes.push((kind, value));
    }

    /// The error code of an error response.
    pub fn error_code(&self) -> Option<u16> {
        let value = self.attribute(AttrType::ERROR_CODE)?;
        (value.len() >= 4).then(|| u16::from(value[2] & 0x07) * 100 + u16::from(value[3]))
    }

    /// A text attribute (REALM, NONCE, USERNAME).
    pub fn text(&self, kind: AttrType) -> Option<String> {
        self.attribute(kind)
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::to_owned)
    }

    /// An XOR-encoded address attribute.
    pub fn xor_address(&self, kind: AttrType) -> Option<SocketAddr> {
        decode_xor_address(self.attribute(kind)?, &self.transaction)
    }

    /// A plain address attribute (ALTERNATE-SERVER).
    pub fn address(&self, kind: AttrType) -> Option<SocketAddr> {
        let value = self.attribute(kind)?;
        let port = u16::from_be_bytes([*value.get(2)?, *value.get(3)?]);
        let ip = match value.get(1)? {
            0x01 => {
                let octets = value.get(4..8)?;
                IpAddr::V4(Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3]))
            }
            0x02 => IpAddr::V6(Ipv6Addr::from(
                <[u8; 16]>::try_from(value.get(4..20)?).ok()?,
            )),
            _ => return None,
        };
        Some(SocketAddr::new(ip, port))
    }

    /// LIFETIME in seconds.
    pub fn lifetime(&self) -> Option<u32> {
        let value = self.attribute(AttrType::LIFETIME)?;
        Some(u32::from_be_bytes(value.get(..4)?.try_into().ok()?))
    }

    /// The wire form, with MESSAGE-INTEGRITY (HMAC-SHA1 with `key`) and FINGERPRINT appended
    /// when asked.
    pub fn encode(&self, key: Option<&[u8; 16]>, fingerprint: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(&message_type(self.class, self.method).to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        out.extend_from_slice(&self.transaction.0);
        for (kind, value) in &self.attributes {
            put_attribute(&mut out, *kind, value);
        }
        if let Some(key) = key {
            set_length(&mut out, 24);
            let mut mac =
                <Hmac<Sha1> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
            mac.update(&out);
            let digest = mac.finalize().into_bytes();
            put_attribute(&mut out, AttrType::MESSAGE_INTEGRITY, &digest);
        }
        if fingerprint {
            set_length(&mut out, 8);
            let crc = crc32fast::hash(&out) ^ 0x5354_554E;
            put_attribute(&mut out, AttrType::FINGERPRINT, &crc.to_be_bytes());
        }
        set_length(&mut out, 0);
        out
    }

    /// Reads a message; a FINGERPRINT, when present, must match.
    pub fn decode(bytes: &[u8]) -> Result<Self, StunError> {
        if bytes.len() < 20 {
            return Err(StunError::TooShort);
        }
        let kind = u16::from_be_bytes([bytes[0], bytes[1]]);
        let length = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
        if kind & 0xC000 != 0 || bytes[4..8] != MAGIC_COOKIE.to_be_bytes() {
            return Err(StunError::NotStun);
        }
        if length % 4 != 0 || 20 + length != bytes.len() {
            return Err(StunError::BadLength);
        }
        let mut transaction = [0; 12];
        transaction.copy_from_slice(&bytes[8..20]);
        let mut attributes = Vec::new();
        for span in spans(bytes) {
            let (kind, at, end) = span?;
            if kind == AttrType::FINGERPRINT {
                let want = crc32fast::hash(&bytes[..at]) ^ 0x5354_554E;
                if bytes[at + 4..end] != want.to_be_bytes() {
                    return Err(StunError::BadFingerprint);
                }
            }
            attributes.push((kind, bytes[at + 4..end].to_vec()));
        }
        let (class, method) = split_type(kind);
        Ok(Self {
            class,
            method,
            transaction: TransactionId(transaction),
            attributes,
        })
    }
}

/// What a TURN server relayed from a peer (RFC 8656 §11.6): the peer's address and the data of
/// a Data indication; `None` when the bytes are anything else.
pub fn unwrap_data(bytes: &[u8]) -> Option<(SocketAddr, Vec<u8>)> {
    if !looks_like_stun(bytes) {
        return None;
    }
    let message = Message::decode(bytes).ok()?;
    if message.class != Class::Indication || message.method != Method::DATA {
        return None;
    }
    let peer = message.xor_address(AttrType::XOR_PEER_ADDRESS)?;
    let data = message.attribute(AttrType::DATA)?.to_vec();
    Some((peer, data))
}

/// A Send indication (RFC 8656 §11.4) asking the TURN server to relay `data` to `peer` from
/// the allocation of the port it is sent from (`transaction`: random, RFC 8489 §6).
pub fn wrap_send(peer: SocketAddr, data: &[u8], transaction: TransactionId) -> Vec<u8> {
    let mut message = Message {
        class: Class::Indication,
        method: Method::SEND,
        transaction,
        attributes: Vec::new(),
    };
    message.push(
        AttrType::XOR_PEER_ADDRESS,
        encode_xor_address(peer, &transaction),
    );
    message.push(AttrType::DATA, data);
    message.encode(None, false)
}

/// Whether the MESSAGE-INTEGRITY of `bytes` (a whole message) was made with `key`.
pub fn integrity_matches(bytes: &[u8], key: &[u8; 16]) -> bool {
    for span in spans(bytes) {
        let Ok((kind, at, end)) = span else {
            return false;
        };
        if kind == AttrType::MESSAGE_INTEGRITY {
            let mut head = bytes[..at].to_vec();
            let length = (end - 20) as u16;
            head[2..4].copy_from_slice(&length.to_be_bytes());
            let mut mac =
                <Hmac<Sha1> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
            mac.update(&head);
            return mac.verify_slice(&bytes[at + 4..end]).is_ok();
        }
    }
    false
}

/// The attributes of a whole message, in order: each one's type, where it starts and where its
/// value ends; an error (and nothing after it) where one runs past the end.
fn spans(bytes: &[u8]) -> impl Iterator<Item = Result<(AttrType, usize, usize), StunError>> + '_ {
    let mut at = 20;
    std::iter::from_fn(move || {
        if at + 4 > bytes.len() {
            return None;
        }
        let kind = AttrType(u16::from_be_bytes([bytes[at], bytes[at + 1]]));
        let len = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        let start = at;
        let end = at + 4 + len;
        if end > bytes.len() {
            at = bytes.len();
            return Some(Err(StunError::BadLength));
        }
        at = end + (4 - len % 4) % 4;
        Some(Ok((kind, start, end)))
    })
}

/// An ERROR-CODE value (RFC 8489 §14.8).
pub fn error_code_value(code: u16, reason: &str) -> Vec<u8> {
    let mut value = vec![0, 0, (code / 100) as u8, (code % 100) as u8];
    value.extend_from_slice(reason.as_bytes());
    value
}

/// An XOR-PEER-ADDRESS value (the port is ignored by permissions).
pub fn encode_xor_address(address: SocketAddr, transaction: &TransactionId) -> Vec<u8> {
    let cookie = MAGIC_COOKIE.to_be_bytes();
    let port = address.port() ^ (MAGIC_COOKIE >> 16) as u16;
    let mut out = vec![0, 0];
    out.extend_from_slice(&port.to_be_bytes());
    match address.ip() {
        IpAddr::V4(ip) => {
            out[1] = 0x01;
            out.extend(ip.octets().iter().zip(cookie).map(|(a, b)| a ^ b));
        }
        IpAddr::V6(ip) => {
            out[1] = 0x02;
            let mask: Vec<u8> = cookie.iter().chain(&transaction.0).copied().collect();
            out.extend(ip.octets().iter().zip(mask).map(|(a, b)| a ^ b));
        }
    }
    out
}

fn decode_xor_address(value: &[u8], transaction: &TransactionId) -> Option<SocketAddr> {
    let cookie = MAGIC_COOKIE.to_be_bytes();
    let port = u16::from_be_bytes([*value.get(2)?, *value.get(3)?]) ^ (MAGIC_COOKIE >> 16) as u16;
    let ip = match value.get(1)? {
        0x01 => {
            let raw = value.get(4..8)?;
            IpAddr::V4(Ipv4Addr::new(
                raw[0] ^ cookie[0],
                raw[1] ^ cookie[1],
                raw[2] ^ cookie[2],
                raw[3] ^ cookie[3],
            ))
        }
        0x02 => {
            let raw = value.get(4..20)?;
            let mask: Vec<u8> = cookie.iter().chain(&transaction.0).copied().collect();
            let octets: Vec<u8> = raw.iter().zip(mask).map(|(a, b)| a ^ b).collect();
            IpAddr::V6(Ipv6Addr::from(
                <[u8; 16]>::try_from(octets.as_slice()).ok()?,
            ))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

fn message_type(class: Class, Method(method): Method) -> u16 {
    let class_bits = match class {
        Class::Request => 0b00,
        Class::Indication => 0b01,
        Class::Success => 0b10,
        Class::Error => 0b11,
    };
    (method & 0x000F)
        | ((method & 0x0070) << 1)
        | ((method & 0x0F80) << 2)
        | ((class_bits & 0b01) << 4)
        | ((class_bits & 0b10) << 7)
}

fn split_type(kind: u16) -> (Class, Method) {
    let method = (kind & 0x000F) | ((kind >> 1) & 0x0070) | ((kind >> 2) & 0x0F80);
    let class = match ((kind >> 4) & 0b01) | ((kind >> 7) & 0b10) {
        0b00 => Class::Request,
        0b01 => Class::Indication,
        0b10 => Class::Success,
        _ => Class::Error,
    };
    (class, Method(method))
}

fn put_attribute(out: &mut Vec<u8>, AttrType(kind): AttrType, value: &[u8]) {
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value);
    out.resize(out.len() + (4 - value.len() % 4) % 4, 0);
}

/// Writes the header's length: the attributes so far plus `extra` bytes still to come.
fn set_length(out: &mut [u8], extra: usize) {
    let length = (out.len() - 20 + extra) as u16;
    out[2..4].copy_from_slice(&length.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_round_trip_and_match_rfc_values() {
        assert_eq!(message_type(Class::Request, Method::ALLOCATE), 0x0003);
        assert_eq!(message_type(Class::Success, Method::ALLOCATE), 0x0103);
        assert_eq!(message_type(Class::Error, Method::ALLOCATE), 0x0113);
        assert_eq!(message_type(Class::Request, Method(0x001)), 0x0001);
        assert_eq!(split_type(0x0113), (Class::Error, Method::ALLOCATE));
        assert_eq!(
            split_type(0x0108),
            (Class::Success, Method::CREATE_PERMISSION)
        );
    }

    #[test]
    fn encode_decode_with_integrity_and_fingerprint() {
        let mut message = Message::request(Method::ALLOCATE, TransactionId([7; 12]));
        message.push(AttrType::REQUESTED_TRANSPORT, [17, 0, 0, 0]);
        message.push(AttrType::USERNAME, "alice");
        let key = long_term_key("alice", "example.test", "secret");
        let bytes = message.encode(Some(&key), true);
        let back = Message::decode(&bytes).unwrap();
        assert_eq!(back.method, Method::ALLOCATE);
        assert_eq!(back.text(AttrType::USERNAME).as_deref(), Some("alice"));
        assert!(back.attribute(AttrType::MESSAGE_INTEGRITY).is_some());
        let mut corrupted = bytes.clone();
        corrupted[25] ^= 1;
        assert_eq!(Message::decode(&corrupted), Err(StunError::BadFingerprint));
    }

    #[test]
    fn integrity_is_checked_and_messages_are_described() {
        let mut message = Message::request(Method::ALLOCATE, TransactionId([9; 12]));
        message.push(AttrType::USERNAME, "alice");
        let key = long_term_key("alice", "example.test", "secret");
        let bytes = message.encode(Some(&key), true);
        assert!(integrity_matches(&bytes, &key));
        let wrong = long_term_key("alice", "example.test", "wrong");
        assert!(!integrity_matches(&bytes, &wrong));
        assert_eq!(describe(&bytes).as_deref(), Some("Allocate request"));
        let mut error = Message::response(&message, Class::Error);
        error.push(AttrType::ERROR_CODE, error_code_value(401, "Unauthorized"));
        assert_eq!(
            describe(&error.encode(None, false)).as_deref(),
            Some("Allocate error 401")
        );
        assert_eq!(describe(b"INVITE sip:bob@example.com SIP/2.0\r\n"), None);
    }

    #[test]
    fn short_address_attributes_are_refused_not_panicked_on() {
        for len in 0..8 {
            let mut message = Message::request(Method::ALLOCATE, TransactionId([1; 12]));
            message.push(
                AttrType::ALTERNATE_SERVER,
                vec![0, 1, 0x0d, 0x96, 10, 0, 0][..len.min(7)].to_vec(),
            );
            let back = Message::decode(&message.encode(None, false)).unwrap();
            assert_eq!(
                back.address(AttrType::ALTERNATE_SERVER),
                None,
                "{len} bytes"
            );
            assert_eq!(
                back.xor_address(AttrType::ALTERNATE_SERVER),
                None,
                "{len} bytes"
            );
        }
    }

    #[test]
    fn xor_addresses_round_trip() {
        let transaction = TransactionId([3; 12]);
        for address in ["127.0.0.1:49162", "[2001:db8::1]:3478"] {
            let address: SocketAddr = address.parse().unwrap();
            let value = encode_xor_address(address, &transaction);
            assert_eq!(decode_xor_address(&value, &transaction), Some(address));
        }
    }

    #[test]
    fn data_indications_unwrap_and_send_indications_carry_the_peer_and_data() {
        let peer: SocketAddr = "198.51.100.7:9000".parse().unwrap();
        let transaction = TransactionId([5; 12]);
        let mut data = Message {
            class: Class::Indication,
            method: Method::DATA,
            transaction,
            attributes: Vec::new(),
        };
        data.push(
            AttrType::XOR_PEER_ADDRESS,
            encode_xor_address(peer, &transaction),
        );
        data.push(AttrType::DATA, vec![0x80, 0, 0, 1, 9, 9, 9]);
        let wire = data.encode(None, true);
        assert_eq!(
            unwrap_data(&wire),
            Some((peer, vec![0x80, 0, 0, 1, 9, 9, 9]))
        );
        // A Send indication is what TwoLeg writes, never what it unwraps; RTP is not STUN.
        let send = wrap_send(peer, &[1, 2, 3], transaction);
        assert_eq!(unwrap_data(&send), None);
        assert_eq!(unwrap_data(&[0x80; 40]), None);
        let send = Message::decode(&send).unwrap();
        assert_eq!((send.class, send.method), (Class::Indication, Method::SEND));
        assert_eq!(send.xor_address(AttrType::XOR_PEER_ADDRESS), Some(peer));
        assert_eq!(send.attribute(AttrType::DATA), Some(&[1, 2, 3][..]));
        assert_eq!(
            describe(&wire).as_deref().map(|d| d.starts_with("Data")),
            Some(true)
        );
    }
}
