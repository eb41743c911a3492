//! SIP status codes: a newtype with the codes TwoLeg sends, their classes and reason phrases.

use std::fmt;

/// A SIP response status code, 100 to 699.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatusCode(u16);

/// The class of a status code (RFC 3261 §21).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeKind {
    /// 1xx.
    Provisional,
    /// 2xx.
    Success,
    /// 3xx.
    Redirection,
    /// 4xx.
    RequestFailure,
    /// 5xx.
    ServerFailure,
    /// 6xx.
    GlobalFailure,
}

macro_rules! codes {
    ($($name:ident = $code:literal, $reason:literal;)*) => {
        impl StatusCode {
            $(
                #[doc = concat!($code, " ", $reason, ".")]
                pub const $name: Self = Self($code);
            )*

            /// The standard reason phrase, or a generic one for the class.
            pub fn reason(self) -> &'static str {
                match self.0 {
                    $($code => $reason,)*
                    100..=199 => "Session Progress",
                    200..=299 => "OK",
                    300..=399 => "Redirection",
                    400..=499 => "Request Failure",
                    500..=599 => "Server Failure",
                    _ => "Global Failure",
                }
            }
        }
    };
}

codes! {
    TRYING = 100, "Trying";
    RINGING = 180, "Ringing";
    SESSION_PROGRESS = 183, "Session Progress";
    OK = 200, "OK";
    BAD_REQUEST = 400, "Bad Request";
    FORBIDDEN = 403, "Forbidden";
    PROXY_AUTHENTICATION_REQUIRED = 407, "Proxy Authentication Required";
    NOT_FOUND = 404, "Not Found";
    METHOD_NOT_ALLOWED = 405, "Method Not Allowed";
    REQUEST_TIMEOUT = 408, "Request Timeout";
    UNSUPPORTED_MEDIA_TYPE = 415, "Unsupported Media Type";
    UNSUPPORTED_URI_SCHEME = 416, "Unsupported URI Scheme";
    BAD_EXTENSION = 420, "Bad Extension";
    SESSION_INTERVAL_TOO_SMALL = 422, "Session Interval Too Small";
    TEMPORARILY_UNAVAILABLE = 480, "Temporarily Unavailable";
    CALL_DOES_NOT_EXIST = 481, "Call/Transaction Does Not Exist";
    LOOP_DETECTED = 482, "Loop Detected";
    TOO_MANY_HOPS = 483, "Too Many Hops";
    BUSY_HERE = 486, "Busy Here";
    REQUEST_TERMINATED = 487, "Request Terminated";
    NOT_ACCEPTABLE_HERE = 488, "Not Acceptable Here";
    REQUEST_PENDING = 491, "Request Pending";
    SERVER_INTERNAL_ERROR = 500, "Server Internal Error";
    SERVICE_UNAVAILABLE = 503, "Service Unavailable";
    VERSION_NOT_SUPPORTED = 505, "Version Not Supported";
    MESSAGE_TOO_LARGE = 513, "Message Too Large";
    DECLINE = 603, "Decline";
}

impl StatusCode {
    /// The code for a number from 100 to 699.
    pub fn new(code: u16) -> Option<Self> {
        (100..=699).contains(&code).then_some(Self(code))
    }

    /// The number.
    pub fn code(self) -> u16 {
        self.0
    }

    /// Its class.
    pub fn kind(self) -> CodeKind {
        match self.0 {
            100..=199 => CodeKind::Provisional,
            200..=299 => CodeKind::Success,
            300..=399 => CodeKind::Redirection,
            400..=499 => CodeKind::RequestFailure,
            500..=599 => CodeKind::ServerFailure,
            _ => CodeKind::GlobalFailure,
        }
    }

    /// Whether it is 1xx.
    pub fn is_provisional(self) -> bool {
        self.kind() == CodeKind::Provisional
    }

    /// Whether it is 2xx.
    pub fn is_success(self) -> bool {
        self.kind() == CodeKind::Success
    }

    /// Whether it ends a transaction (200 to 699).
    pub fn is_final(self) -> bool {
        self.0 >= 200
    }
}

impl serde::Serialize for StatusCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u16(self.0)
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
