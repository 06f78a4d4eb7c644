//! Tests against the shared protocol example frames (`protocol/examples/`), which the
//! Python bridge's tests check too.

use std::path::PathBuf;

use super::{DEFAULT_MAX_FRAME, Encoding, Kind, decode, decode_value, encode_value, frame_codec};
use futures_util::StreamExt;
use tokio_util::codec::FramedRead;

fn examples(kind: &str) -> Vec<PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join("protocol/examples")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no examples in {}", dir.display());
    files
}

fn kind_named_by(file: &str) -> Kind {
    let kinds = [
        ("host_call", Kind::HostCall),
        ("host_result", Kind::HostResult),
        ("session_drop", Kind::SessionDrop),
        ("hello", Kind::Hello),
        ("welcome", Kind::Welcome),
        ("call", Kind::Call),
        ("result", Kind::Result),
        ("chunk", Kind::Chunk),
        ("cancel", Kind::Cancel),
        ("ping", Kind::Ping),
        ("pong", Kind::Pong),
        ("event", Kind::Event),
        ("shutdown", Kind::Shutdown),
    ];
    kinds
        .iter()
        .find(|(prefix, _)| file.starts_with(prefix))
        .map(|(_, kind)| *kind)
        .unwrap_or_else(|| panic!("example {file} names no kind"))
}

#[test]
fn every_valid_example_decodes_as_its_kind_and_round_trips_in_both_encodings() {
    for path in examples("valid") {
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let text = std::fs::read(&path).unwrap();
        let message = decode(&text).unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(message.kind(), kind_named_by(&name), "{name}");
        let value = decode_value(&text).unwrap();
        for encoding in [Encoding::Json, Encoding::MsgPack] {
            let encoded = encode_value(&value, encoding).unwrap();
            assert_eq!(Encoding::detect(&encoded).unwrap(), encoding);
            assert_eq!(
                decode_value(&encoded).unwrap(),
                value,
                "{name} through {encoding}"
            );
            assert_eq!(
                decode(&encoded).unwrap(),
                message,
                "{name} through {encoding}"
            );
        }
    }
}

#[tokio::test]
async fn every_invalid_example_is_an_error_without_waiting() {
    for path in examples("invalid") {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let hex = std::fs::read_to_string(&path).unwrap();
        let bytes: Vec<u8> = (0..hex.trim().len())
            .step_by(2)
            .map(|at| u8::from_str_radix(&hex.trim()[at..at + 2], 16).unwrap())
            .collect();
        let mut frames = FramedRead::new(&bytes[..], frame_codec(DEFAULT_MAX_FRAME));
        let outcome = tokio::time::timeout(std::time::Duration::from_secs(1), frames.next())
            .await
            .unwrap_or_else(|_| panic!("{name}: the reader waited for more input"));
        match outcome {
            Some(Ok(payload)) => assert!(decode(&payload).is_err(), "{name} decoded"),
            Some(Err(_)) => {}
            None => panic!("{name}: no frame and no error"),
        }
    }
}
