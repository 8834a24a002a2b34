//! Heartbeat keys: the stored digest and what an HTTP heartbeat presented.

use std::fmt;

/// The SHA-256 digest of a project's heartbeat key (the key itself is shown once, when
/// it is made, and never kept). `Debug` prints no byte of it, and it is not
/// serializable; [`Self::matches`] compares in constant time.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatKeyDigest([u8; 32]);

impl HeartbeatKeyDigest {
    /// The digest from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        HeartbeatKeyDigest(bytes)
    }

    /// The digest from a stored value; `None` unless it is 32 bytes long.
    pub fn from_slice(raw: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(raw).ok().map(HeartbeatKeyDigest)
    }

    /// Its bytes, to store.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Whether `presented` (the digest of a presented key) is this one, in time that
    /// does not depend on where they differ.
    pub fn matches(&self, presented: &HeartbeatKeyDigest) -> bool {
        use subtle::ConstantTimeEq as _;
        self.0.ct_eq(&presented.0).into()
    }
}

impl fmt::Debug for HeartbeatKeyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HeartbeatKeyDigest(<redacted>)")
    }
}

/// What an HTTP heartbeat presented, as the API judged it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeartbeatCredential {
    /// No key.
    None,
    /// A configured write key.
    WriteKey,
    /// Some other key (a read key, a heartbeat key, anything): its SHA-256 digest.
    Key(HeartbeatKeyDigest),
}
