//! Binary values: raw bytes ([`Buffer`]) and n-dimensional arrays ([`NdArray`]) that travel
//! beside a call's JSON value instead of inside it.
//!
//! A message that carries binary data lists the data in a top-level `buffers` field (a
//! MessagePack `bin` each, or `{"base64": ..}` in JSON), and the value holds a **buffer
//! marker** where the data belongs: `{"__snakepit_buffer__": k}` for bytes,
//! `{"__snakepit_buffer__": k, "dtype": "float64", "shape": [2, 3]}` for an array
//! (`docs/PROTOCOL.md`, "Buffers"; `docs/design/binary-values.md` says why).
//!
//! On the Rust side the marker is written by the serde impls of [`Buffer`] and [`NdArray`]
//! while [`Call::args`](crate::Call::args) (or a typed host tool's result) collects
//! buffers, and read back by [`Call::send_as`](crate::Call::send_as). Outside those, the
//! same types serialize to the self-contained *tagged* form
//! `{"__snakepit_buffer__": {"base64": ".."}, ..}`, which is also what the dynamic
//! [`Call::send`](crate::Call::send) turns markers into, so nothing is lost.
//!
//! ```
//! use snakepit::value::{Buffer, NdArray};
//!
//! let array = NdArray::from_vec(vec![1.0_f64, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
//! assert_eq!(array.as_slice::<f64>().unwrap(), &[1.0, 2.0, 3.0, 4.0]);
//! let bytes = Buffer::from(vec![1_u8, 2, 3]);
//! assert_eq!(&bytes[..], &[1, 2, 3]);
//! ```

mod array;
#[cfg(feature = "arrow")]
mod arrow;
mod buffer;
mod element;
mod marker;
#[cfg(feature = "ndarray")]
mod ndarray_conv;
mod payload;
mod sink;
pub(crate) mod wire;

pub use crate::session::Dtype;
pub use array::NdArray;
#[cfg(feature = "arrow")]
pub use arrow::{ARROW_KEY, ArrowBatch};
pub use buffer::Buffer;
pub use element::Element;
pub use marker::MARKER_KEY;
pub use payload::Payload;
