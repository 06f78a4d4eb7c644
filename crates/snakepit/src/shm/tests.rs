//! Unit tests of the shared-memory module: the seal checks a hostile worker would probe, the
//! fd channel's counting, and that nothing leaks.

use std::fs::File;
use std::io::{IoSlice, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use nix::fcntl::{FcntlArg, SealFlag, fcntl};
use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};

use super::channel::{MAX_FDS_PER_FRAME, receive_from};
use super::*;
use crate::error::Error;

fn memfd(data: &[u8], seals: SealFlag) -> OwnedFd {
    let fd = memfd_create(c"test", MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING).unwrap();
    let mut file = File::from(fd);
    file.write_all(data).unwrap();
    let fd = OwnedFd::from(file);
    if !seals.is_empty() {
        fcntl(&fd, FcntlArg::F_ADD_SEALS(seals)).unwrap();
    }
    fd
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn send_raw(socket: &OwnedFd, fds: &[RawFd]) {
    let count = u32::try_from(fds.len()).unwrap().to_le_bytes();
    sendmsg::<()>(
        socket.as_raw_fd(),
        &[IoSlice::new(&count)],
        &[ControlMessage::ScmRights(fds)],
        MsgFlags::empty(),
        None,
    )
    .unwrap();
}

fn protocol_error(err: &Error) -> &str {
    match err {
        Error::Protocol(detail) => detail,
        other => panic!("expected a protocol error, got {other}"),
    }
}

#[test]
fn a_sealed_memfd_of_the_declared_size_maps_and_reads_back() {
    let budget = Budget::new(1 << 20);
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let fd = memfd(&data, SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW);
    let buffer = SharedBuffer::receive(fd, data.len(), &budget, None).unwrap();
    assert_eq!(&buffer[..], &data[..]);
    assert_eq!(budget.used(), data.len());
    let bytes = buffer.bytes();
    drop(buffer);
    // The Bytes view keeps the mapping (and the lease) alive.
    assert_eq!(&bytes[..], &data[..]);
    assert_eq!(budget.used(), data.len());
    drop(bytes);
    assert_eq!(budget.used(), 0);
}

#[test]
fn an_unsealed_or_half_sealed_memfd_is_refused() {
    let budget = Budget::new(1 << 20);
    for seals in [
        SealFlag::empty(),
        SealFlag::F_SEAL_GROW,
        SealFlag::F_SEAL_SHRINK,
    ] {
        let fd = memfd(&[7; 4096], seals);
        let err = SharedBuffer::receive(fd, 4096, &budget, None).unwrap_err();
        assert!(protocol_error(&err).contains("not sealed"), "{err}");
    }
    assert_eq!(budget.used(), 0);
}

#[test]
fn a_memfd_of_another_size_than_declared_is_refused() {
    let budget = Budget::new(1 << 20);
    let fd = memfd(&[7; 4096], SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW);
    let err = SharedBuffer::receive(fd, 8192, &budget, None).unwrap_err();
    assert!(
        protocol_error(&err).contains("declared 8192 bytes"),
        "{err}"
    );
}

#[test]
fn a_descriptor_that_is_not_a_memfd_is_refused() {
    let budget = Budget::new(1 << 20);
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(&[1; 4096]).unwrap();
    let err = SharedBuffer::receive(OwnedFd::from(file), 4096, &budget, None).unwrap_err();
    assert!(protocol_error(&err).contains("not a memfd"), "{err}");
    let (read, _write) = nix::unistd::pipe().unwrap();
    let err = SharedBuffer::receive(read, 4096, &budget, None).unwrap_err();
    assert!(protocol_error(&err).contains("not a memfd"), "{err}");
}

#[test]
fn a_buffer_over_the_cap_is_refused_before_it_is_mapped() {
    let budget = Budget::new(1000);
    let fd = memfd(&[7; 4096], SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW);
    let err = SharedBuffer::receive(fd, 4096, &budget, None).unwrap_err();
    assert!(
        matches!(
            err,
            Error::SharedMemoryCap {
                requested: 4096,
                cap: 1000,
                ..
            }
        ),
        "{err}"
    );
    let err = SharedBufferMut::new(4096, &budget).unwrap_err();
    assert!(matches!(err, Error::SharedMemoryCap { .. }), "{err}");
}

#[test]
fn a_frozen_buffer_cannot_be_written_through_its_descriptor() {
    let budget = Budget::new(1 << 20);
    let mut buffer = SharedBufferMut::new(8192, &budget).unwrap();
    buffer[..4].copy_from_slice(b"abcd");
    let frozen = buffer.freeze().unwrap();
    assert_eq!(&frozen[..4], b"abcd");
    let seals = fcntl(frozen.fd(), FcntlArg::F_GET_SEALS).unwrap();
    let seals = SealFlag::from_bits_truncate(seals);
    assert!(seals.contains(
        SealFlag::F_SEAL_SHRINK
            | SealFlag::F_SEAL_GROW
            | SealFlag::F_SEAL_FUTURE_WRITE
            | SealFlag::F_SEAL_SEAL
    ));
    let written = nix::sys::uio::pwrite(frozen.fd(), b"x", 0);
    assert_eq!(written, Err(nix::errno::Errno::EPERM));
    // A copy made for sending is sealed the same way, and a receiver accepts it.
    let copy = SharedBuffer::copy_from(b"hello", &budget).unwrap();
    let dup = copy.fd().try_clone_to_owned().unwrap();
    let received = SharedBuffer::receive(dup, 5, &budget, None).unwrap();
    assert_eq!(&received[..], b"hello");
}

#[test]
fn the_fd_channel_counts_descriptors_and_closes_the_ones_it_refuses() {
    let (host, worker) = pair().unwrap();
    let before = open_fds();
    // Missing packet.
    let err = receive_from(host.as_fd(), 1).unwrap_err();
    assert!(
        protocol_error(&err).contains("no descriptors came"),
        "{err}"
    );
    // Fewer than named.
    let one = memfd(b"x", SealFlag::empty());
    send_raw(&worker, &[one.as_raw_fd()]);
    let err = receive_from(host.as_fd(), 2).unwrap_err();
    assert!(protocol_error(&err).contains("1 descriptors came"), "{err}");
    // More than one frame may carry: the kernel drops what does not fit, we close the rest.
    let many: Vec<OwnedFd> = (0..MAX_FDS_PER_FRAME + 5)
        .map(|_| memfd(b"x", SealFlag::empty()))
        .collect();
    let raws: Vec<RawFd> = many.iter().map(AsRawFd::as_raw_fd).collect();
    send_raw(&worker, &raws);
    let err = receive_from(host.as_fd(), 1).unwrap_err();
    assert!(protocol_error(&err).contains("more than"), "{err}");
    drop(many);
    drop(one);
    assert_eq!(open_fds(), before, "refused descriptors leaked");
    // The right number.
    let a = memfd(b"a", SealFlag::empty());
    let b = memfd(b"b", SealFlag::empty());
    send_raw(&worker, &[a.as_raw_fd(), b.as_raw_fd()]);
    let fds = receive_from(host.as_fd(), 2).unwrap();
    assert_eq!(fds.len(), 2);
}

#[tokio::test]
async fn the_host_end_sends_descriptors_a_receiver_can_map() {
    let (host, worker) = pair().unwrap();
    let channel = FdChannel::new(host).unwrap();
    let budget = Budget::new(1 << 20);
    let buffer = SharedBuffer::copy_from(&[9; 70_000], &budget).unwrap();
    channel.send(&[buffer.fd(), buffer.fd()]).await.unwrap();
    let fds = receive_from(worker.as_fd(), 2).unwrap();
    for fd in fds {
        let received = SharedBuffer::receive(fd, 70_000, &budget, None).unwrap();
        assert!(received.iter().all(|byte| *byte == 9));
    }
    let too_many = vec![buffer.fd(); MAX_FDS_PER_FRAME + 1];
    assert!(channel.send(&too_many).await.is_err());
}
