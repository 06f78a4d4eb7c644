//! The thread-local lists that connect the serde impls of [`Buffer`] and
//! [`NdArray`](super::NdArray) with a message's `buffers`: a *sink* collects buffers while a
//! value is serialized, a *source* lends them while a value is deserialized.
//!
//! Serialization and deserialization through `serde_json::{to_value, from_value}` are
//! synchronous, so a thread-local set around one call covers exactly that value.

use std::cell::RefCell;

use super::Buffer;

thread_local! {
    static SINK: RefCell<Option<Vec<Buffer>>> = const { RefCell::new(None) };
    static SOURCE: RefCell<Option<Vec<Buffer>>> = const { RefCell::new(None) };
}

/// Puts back what a scope replaced, even when the scope panics.
struct Restore<'a> {
    cell: &'static std::thread::LocalKey<RefCell<Option<Vec<Buffer>>>>,
    previous: Option<Option<Vec<Buffer>>>,
    taken: &'a mut Option<Vec<Buffer>>,
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        let previous = self.previous.take().unwrap_or_default();
        *self.taken = self.cell.with(|cell| cell.replace(previous));
    }
}

fn scoped<R>(
    cell: &'static std::thread::LocalKey<RefCell<Option<Vec<Buffer>>>>,
    start: Vec<Buffer>,
    run: impl FnOnce() -> R,
) -> (R, Vec<Buffer>) {
    let mut taken = None;
    let result = {
        let _restore = Restore {
            cell,
            previous: Some(cell.with(|cell| cell.replace(Some(start)))),
            taken: &mut taken,
        };
        run()
    };
    (result, taken.unwrap_or_default())
}

/// Runs `serialize` with a sink: every buffer serialized meanwhile becomes a marker and is
/// returned, in marker order.
pub(crate) fn collect<R>(serialize: impl FnOnce() -> R) -> (R, Vec<Buffer>) {
    scoped(&SINK, Vec::new(), serialize)
}

/// Whether a sink is collecting on this thread.
pub(super) fn collecting() -> bool {
    SINK.with(|sink| sink.borrow().is_some())
}

/// Adds `buffer` to the sink and returns its index; `None` when no sink collects.
pub(super) fn push(buffer: &Buffer) -> Option<usize> {
    SINK.with(|sink| {
        let mut sink = sink.borrow_mut();
        let buffers = sink.as_mut()?;
        buffers.push(buffer.clone());
        Some(buffers.len() - 1)
    })
}

/// Runs `deserialize` with `buffers` as the source markers refer to; returns them after.
pub(crate) fn lend<R>(buffers: Vec<Buffer>, deserialize: impl FnOnce() -> R) -> (R, Vec<Buffer>) {
    scoped(&SOURCE, buffers, deserialize)
}

/// The buffer marker `index` refers to.
pub(super) fn lookup(index: u64) -> Result<Buffer, String> {
    SOURCE.with(|source| {
        let source = source.borrow();
        let count = source.as_ref().map_or(0, Vec::len);
        usize::try_from(index)
            .ok()
            .and_then(|index| source.as_ref()?.get(index).cloned())
            .ok_or_else(|| {
                format!("buffer marker {index} points past the {count} buffers of the message")
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sink_collects_only_inside_its_scope_and_nests() {
        assert_eq!(push(&Buffer::from(vec![1])), None);
        let ((inner, outer_index), outer) = collect(|| {
            let first = push(&Buffer::from(vec![1]));
            let ((), inner) = collect(|| {
                assert_eq!(push(&Buffer::from(vec![2])), Some(0));
            });
            (inner, first)
        });
        assert_eq!(outer_index, Some(0));
        assert_eq!(outer, vec![Buffer::from(vec![1])]);
        assert_eq!(inner, vec![Buffer::from(vec![2])]);
        assert!(!collecting());
    }

    #[test]
    fn a_source_lends_its_buffers_and_reports_a_bad_index() {
        let (found, back) = lend(vec![Buffer::from(vec![7])], || (lookup(0), lookup(1)));
        assert_eq!(found.0.unwrap(), Buffer::from(vec![7]));
        assert_eq!(
            found.1.unwrap_err(),
            "buffer marker 1 points past the 1 buffers of the message"
        );
        assert_eq!(back.len(), 1);
        assert!(lookup(0).is_err());
    }
}
