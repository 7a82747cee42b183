//! The one digest of the format and how it is written as text: SHA-256 hashes, and every byte
//! array the JSON frames carry as lowercase hex.

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// Parses 64 lowercase or uppercase hex digits.
pub fn parse_hash(s: &str) -> Result<Hash, hex::FromHexError> {
    let mut h = [0u8; 32];
    hex::decode_to_slice(s, &mut h)?;
    Ok(h)
}

/// Serde helper: a [`Hash`] as 64 lowercase hex digits.
pub mod hex_hash {
    use super::Hash;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(h: &Hash, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(h))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Hash, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        super::parse_hash(&s).map_err(serde::de::Error::custom)
    }
}

/// Serde helper: a byte array as lowercase hex.
pub mod hex_array {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer, const N: usize>(b: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(b))
    }
    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let mut out = [0u8; N];
        hex::decode_to_slice(s.as_bytes(), &mut out).map_err(serde::de::Error::custom)?;
        Ok(out)
    }
}
