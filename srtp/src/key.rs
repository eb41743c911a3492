//! Master keys: what an `a=crypto` line carries, and what the runner draws from the OS.

use std::fmt;

use zeroize::Zeroizing;

use crate::Suite;

/// An SRTP master key and salt for one suite, with an optional MKI and lifetime. Its `Debug`
/// shows the suite and MKI only; the bytes are wiped when it is dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey {
    suite: Suite,
    /// Key then salt.
    material: Zeroizing<Vec<u8>>,
    mki: Option<Vec<u8>>,
    lifetime: Option<u64>,
}

/// Key material of the wrong length for its suite.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{suite} needs {expected} bytes of key and salt, not {actual}")]
pub struct WrongKeyLength {
    /// The suite.
    pub suite: Suite,
    /// The length it needs.
    pub expected: usize,
    /// The length given.
    pub actual: usize,
}

impl MasterKey {
    /// A key from `material` (master key then master salt: 30 bytes for the AES-CM suites, 28
    /// for AES-GCM) and an optional MKI (1 to 128 bytes) written into every packet.
    pub fn new(
        suite: Suite,
        material: Vec<u8>,
        mki: Option<Vec<u8>>,
    ) -> Result<Self, WrongKeyLength> {
        let material = Zeroizing::new(material);
        let expected = suite.key_len() + suite.salt_len();
        if material.len() != expected {
            return Err(WrongKeyLength {
                suite,
                expected,
                actual: material.len(),
            });
        }
        Ok(Self {
            suite,
            material,
            mki,
            lifetime: None,
        })
    }

    /// The same key, good for at most `packets` packets per direction and kind.
    pub fn with_lifetime(mut self, packets: u64) -> Self {
        self.lifetime = Some(packets);
        self
    }

    /// Its suite.
    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// The master key then the master salt.
    pub fn material(&self) -> &[u8] {
        &self.material
    }

    /// Its MKI, if packets carry one.
    pub fn mki(&self) -> Option<&[u8]> {
        self.mki.as_deref()
    }

    /// Its lifetime in packets, if one was given.
    pub fn lifetime(&self) -> Option<u64> {
        self.lifetime
    }

    pub(crate) fn key(&self) -> &[u8] {
        &self.material[..self.suite.key_len()]
    }

    pub(crate) fn salt(&self) -> &[u8] {
        &self.material[self.suite.key_len()..]
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("suite", &self.suite)
            .field("material", &"***")
            .field("mki", &self.mki)
            .field("lifetime", &self.lifetime)
            .finish()
    }
}
