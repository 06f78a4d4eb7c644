//! [`Buffer`]: immutable bytes, cheap to clone, that travel out of band.

use std::fmt;
use std::ops::Deref;

use bytes::Bytes;
use serde::de::{Deserialize, Deserializer};
use serde::ser::{Serialize, SerializeMap, Serializer};

use super::marker;

/// Raw bytes in a call's arguments or result: a MessagePack `bin` on the wire, a
/// `bytes`/`memoryview` (or numpy array) in Python.
///
/// A `Buffer` is immutable and cheap to clone (a reference-counted [`Bytes`] inside; a
/// backing other than a heap allocation, such as a shared-memory mapping, plugs in through
/// [`Buffer::from_owner`]). Bytes that arrive from a worker are stored 8-byte aligned, so an
/// [`NdArray`](super::NdArray) viewing them needs no copy.
///
/// In serde: inside [`Call::args`](crate::Call::args) a `Buffer` becomes a buffer marker
/// (`{"__snakepit_buffer__": k}`) and its bytes go in the call's `buffers`; elsewhere it
/// becomes the tagged form `{"__snakepit_buffer__": {"base64": ".."}}` (or a plain `bin` in
/// a non-human-readable format). It deserializes from either form, and from raw bytes.
#[derive(Clone, Default)]
pub struct Buffer {
    bytes: Bytes,
    /// The sealed memfd the bytes live in, when they are in shared memory: such a buffer
    /// goes to a worker as that memfd, without a copy.
    shared: Option<crate::shm::SharedBuffer>,
}

impl PartialEq for Buffer {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for Buffer {}

impl std::hash::Hash for Buffer {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bytes.hash(state);
    }
}

impl From<crate::shm::SharedBuffer> for Buffer {
    /// A buffer over shared memory (no copy); sent to a worker as the same memfd.
    fn from(shared: crate::shm::SharedBuffer) -> Self {
        Self {
            bytes: shared.bytes(),
            shared: Some(shared),
        }
    }
}

impl Buffer {
    /// A buffer holding `bytes` (no copy).
    pub fn new(bytes: Bytes) -> Self {
        Self {
            bytes,
            shared: None,
        }
    }

    /// The shared memory the bytes live in, if they do.
    pub(crate) fn shared(&self) -> Option<&crate::shm::SharedBuffer> {
        self.shared.as_ref()
    }

    /// Whether the bytes live in shared memory (a sealed memfd): received from a worker
    /// above the pool's threshold, or made with [`Pool::alloc_shared`](crate::Pool::alloc_shared).
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// A buffer over memory owned by `owner` (no copy); the owner is dropped with the last
    /// clone. This is how a mapping (shared memory, a file) becomes a buffer.
    pub fn from_owner<T>(owner: T) -> Self
    where
        T: AsRef<[u8]> + Send + 'static,
    {
        Self::new(Bytes::from_owner(owner))
    }

    /// A copy of `data` in memory aligned to 8 bytes, so that any dtype can view it.
    pub fn copy_aligned(data: &[u8]) -> Self {
        if data.is_empty() {
            return Self::default();
        }
        let mut words = vec![0_u64; data.len().div_ceil(8)];
        bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..data.len()].copy_from_slice(data);
        Self::from_owner(Aligned {
            words,
            len: data.len(),
        })
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The bytes as [`Bytes`] (a cheap clone).
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The bytes as [`Bytes`].
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// How many bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Heap memory aligned to 8 bytes holding `len` bytes.
struct Aligned {
    words: Vec<u64>,
    len: usize,
}

impl AsRef<[u8]> for Aligned {
    fn as_ref(&self) -> &[u8] {
        &bytemuck::cast_slice::<u64, u8>(&self.words)[..self.len]
    }
}

impl Deref for Buffer {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl AsRef<[u8]> for Buffer {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Debug for Buffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Buffer({} bytes)", self.bytes.len())
    }
}

impl From<Bytes> for Buffer {
    fn from(bytes: Bytes) -> Self {
        Self::new(bytes)
    }
}

impl From<Vec<u8>> for Buffer {
    fn from(bytes: Vec<u8>) -> Self {
        Self::new(Bytes::from(bytes))
    }
}

impl From<&'static [u8]> for Buffer {
    fn from(bytes: &'static [u8]) -> Self {
        Self::new(Bytes::from_static(bytes))
    }
}

impl From<Buffer> for Bytes {
    fn from(buffer: Buffer) -> Self {
        buffer.bytes
    }
}

impl From<Buffer> for Vec<u8> {
    fn from(buffer: Buffer) -> Self {
        buffer.bytes.into()
    }
}

impl Serialize for Buffer {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if !serializer.is_human_readable() && !super::sink::collecting() {
            return serializer.serialize_bytes(&self.bytes);
        }
        let mut map = serializer.serialize_map(Some(1))?;
        marker::serialize_target(&mut map, self)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for Buffer {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = marker::RawMarker::deserialize(deserializer)?;
        raw.into_buffer().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_aligned_copy_is_aligned_and_equal() {
        let data: Vec<u8> = (0..=255).collect();
        let buffer = Buffer::copy_aligned(&data[1..]);
        assert_eq!(buffer.as_ptr().align_offset(8), 0);
        assert_eq!(&buffer[..], &data[1..]);
        assert!(Buffer::copy_aligned(&[]).is_empty());
    }

    #[test]
    fn outside_a_call_a_buffer_is_the_tagged_base64_form() {
        let buffer = Buffer::from(vec![0_u8, 1, 2, 255]);
        let value = serde_json::to_value(&buffer).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"__snakepit_buffer__": {"base64": "AAEC/w=="}})
        );
        let back: Buffer = serde_json::from_value(value).unwrap();
        assert_eq!(back, buffer);
    }
}
