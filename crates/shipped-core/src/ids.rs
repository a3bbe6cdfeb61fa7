use std::fmt;

/// Identifier of one request: `req_` followed by 12 lowercase hex characters.
///
/// A client may send its own id in `X-Request-Id`; [`RequestId::parse`] keeps it when
/// it is well formed, so a caller's id survives into the logs.
///
/// ```
/// use shipped_core::RequestId;
///
/// let id = RequestId::generate();
/// assert_eq!(id.as_str().len(), 16);
/// assert!(RequestId::parse("checkout-42").is_ok());
/// assert!(RequestId::parse("bad id with spaces").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RequestId(String);

/// Error returned by [`RequestId::parse`] for an id that is empty, longer than
/// [`RequestId::MAX_LEN`], or has characters outside `A-Z a-z 0-9 - _ . :`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid request id: use 1 to 128 characters from A-Z, a-z, 0-9, '-', '_', '.', ':'")]
pub struct InvalidRequestId;

impl RequestId {
    /// Maximum length of a client-supplied id, in bytes.
    pub const MAX_LEN: usize = 128;

    /// Generates a fresh id from the operating system's random source.
    pub fn generate() -> Self {
        let bytes: [u8; 6] = random_bytes();
        let mut id = String::with_capacity(16);
        id.push_str("req_");
        for byte in bytes {
            id.push(HEX[usize::from(byte >> 4)] as char);
            id.push(HEX[usize::from(byte & 0x0f)] as char);
        }
        Self(id)
    }

    /// Accepts a client-supplied id when it is safe to log and echo.
    ///
    /// # Errors
    ///
    /// Returns [`InvalidRequestId`] for an empty or over-long id, or one with
    /// characters that could split a log line or a header.
    pub fn parse(value: &str) -> Result<Self, InvalidRequestId> {
        let well_formed = !value.is_empty()
            && value.len() <= Self::MAX_LEN
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
        if well_formed {
            Ok(Self(value.to_owned()))
        } else {
            Err(InvalidRequestId)
        }
    }

    /// Returns the id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({})", self.0)
    }
}

impl serde::Serialize for RequestId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// Identifier of a degraded answer or a failed stream, short enough to read over
/// the phone: `INC-` and two groups of four Crockford base32 characters, which
/// leave out the look-alikes I, L, O and U.
///
/// ```
/// use shipped_core::IncidentId;
///
/// let id = IncidentId::generate();
/// assert_eq!(id.as_str().len(), 13);
/// assert!(id.as_str().starts_with("INC-"));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IncidentId(String);

impl IncidentId {
    /// Generates a fresh incident id (40 random bits).
    pub fn generate() -> Self {
        let bytes: [u8; 5] = random_bytes();
        let bits = bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let mut id = String::with_capacity(13);
        id.push_str("INC-");
        for position in 0..8 {
            if position == 4 {
                id.push('-');
            }
            let shift = 35 - 5 * position;
            let index = usize::try_from((bits >> shift) & 0x1f).unwrap_or(0);
            id.push(CROCKFORD[index] as char);
        }
        Self(id)
    }

    /// Returns the id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IncidentId({})", self.0)
    }
}

impl serde::Serialize for IncidentId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    fill_random(&mut bytes);
    bytes
}

/// Fills `bytes` from the operating system's random source.
pub(crate) fn fill_random(bytes: &mut [u8]) {
    // NOTE: getrandom fails only when the OS has no entropy source at all; ids then
    // fall back to a clock-derived value, which stays unique enough for logs.
    if getrandom::fill(bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = (nanos >> (8 * (i % 16))) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_id_has_prefix_and_hex() {
        let id = RequestId::generate();
        let (prefix, hex) = id.as_str().split_at(4);
        assert_eq!(prefix, "req_");
        assert_eq!(hex.len(), 12);
        assert!(
            hex.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }

    #[test]
    fn request_ids_differ() {
        assert_ne!(RequestId::generate(), RequestId::generate());
    }

    #[test]
    fn parse_rejects_header_injection() {
        assert!(RequestId::parse("a\r\nx-evil: 1").is_err());
        assert!(RequestId::parse("").is_err());
        assert!(RequestId::parse(&"a".repeat(129)).is_err());
        assert!(RequestId::parse(&"a".repeat(128)).is_ok());
    }

    #[test]
    fn incident_id_avoids_lookalikes() {
        for _ in 0..100 {
            let id = IncidentId::generate();
            let body = &id.as_str()[4..];
            assert_eq!(&body[4..5], "-");
            assert!(!body.contains(['I', 'L', 'O', 'U']));
        }
    }
}
