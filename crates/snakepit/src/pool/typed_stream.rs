//! [`TypedStream`]: a [`CallStream`] whose chunks and result convert through serde, binary
//! values straight from the frames' buffers.

use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_util::Stream;
use serde::de::DeserializeOwned;

use super::stream::{CallStream, StreamItem};
use crate::error::{Error, Result};

/// The chunks (as `C`) and the result (as `R`) of a streaming call. Made by
/// [`CallStream::typed`].
///
/// A chunk or result that does not convert ends the stream with [`Error::Convert`] (the
/// call is cancelled on the worker when the stream is dropped).
#[derive(Debug)]
#[must_use = "a stream does nothing until polled"]
pub struct TypedStream<C, R> {
    inner: CallStream,
    /// Set after an item that did not convert: the stream has ended.
    failed: bool,
    types: PhantomData<fn() -> (C, R)>,
}

impl CallStream {
    /// This stream with its chunks converted to `C` and its result to `R` through serde;
    /// [`Buffer`](crate::value::Buffer)s and [`NdArray`](crate::value::NdArray)s in them
    /// come without the base64 step of the JSON items.
    pub fn typed<C: DeserializeOwned, R: DeserializeOwned>(self) -> TypedStream<C, R> {
        TypedStream {
            inner: self,
            failed: false,
            types: PhantomData,
        }
    }
}

impl<C: DeserializeOwned, R: DeserializeOwned> Stream for TypedStream<C, R> {
    type Item = Result<StreamItem<C, R>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(None);
        }
        let item = ready!(this.inner.poll_payload(cx));
        let item = item.map(|item| {
            Ok(match item? {
                StreamItem::Chunk(chunk) => {
                    StreamItem::Chunk(chunk.decode().map_err(|source| Error::Convert {
                        what: "a stream chunk",
                        source,
                    })?)
                }
                StreamItem::Done(result) => {
                    StreamItem::Done(result.decode().map_err(|source| Error::Convert {
                        what: "the result",
                        source,
                    })?)
                }
            })
        });
        if matches!(item, Some(Err(Error::Convert { .. }))) {
            this.failed = true;
        }
        Poll::Ready(item)
    }
}
