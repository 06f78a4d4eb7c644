//! Embeds the Python bridge (`python/src/snakepit_bridge`) and the Node bridge (`node/`: its
//! `package.json` and `src/`) in the library, so a pool of a bundled adapter runs from any
//! directory with only `python3` (or `node`) on the machine, and compiles the gRPC schema
//! (`proto/snakepit_bridge.proto`) with protox, a pure-Rust protobuf compiler, so building
//! the crate never needs `protoc`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let bridge = manifest.join("../../python/src/snakepit_bridge");
    let bridge = bridge.canonicalize().unwrap_or_else(|err| {
        panic!(
            "the Python bridge sources must be at {}: {err}",
            bridge.display()
        )
    });
    println!("cargo:rerun-if-changed={}", bridge.display());
    let mut files = Vec::new();
    collect(&bridge, &bridge, &mut files);
    files.sort();
    let mut source = String::from(
        "/// The bridge's files: path relative to the package's parent, and contents.\npub(crate) static FILES: &[(&str, &[u8])] = &[\n",
    );
    for (relative, absolute) in &files {
        println!("cargo:rerun-if-changed={}", absolute.display());
        writeln!(
            source,
            "    (\"snakepit_bridge/{relative}\", include_bytes!({absolute:?})),"
        )
        .expect("writing to a String cannot fail");
    }
    source.push_str("];\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("bridge_files.rs"), source).expect("OUT_DIR is writable");
    compile_grpc_schema(&manifest);
    embed_node(&manifest, &out);
}

/// Generates the message types and the `BridgeService` client and server into `OUT_DIR`.
fn compile_grpc_schema(manifest: &Path) {
    let proto_dir = manifest.join("../../proto");
    let proto = proto_dir.join("snakepit_bridge.proto");
    println!("cargo:rerun-if-changed={}", proto.display());
    let descriptors = protox::compile([&proto], [&proto_dir])
        .unwrap_or_else(|err| panic!("{} does not compile: {err}", proto.display()));
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .emit_rerun_if_changed(false)
        .compile_fds(descriptors)
        .unwrap_or_else(|err| panic!("could not generate the gRPC code: {err}"));
}

/// Writes `node_bridge_files.rs`: the Node bridge's `package.json` and `src/**/*.js`.
fn embed_node(manifest: &Path, out: &Path) {
    let root = manifest.join("../../node");
    let root = root.canonicalize().unwrap_or_else(|err| {
        panic!(
            "the Node bridge sources must be at {}: {err}",
            root.display()
        )
    });
    let mut files = vec![("package.json".to_owned(), root.join("package.json"))];
    println!("cargo:rerun-if-changed={}", root.join("src").display());
    collect_node(&root, &root.join("src"), &mut files);
    files.sort();
    let mut source = String::from(
        "/// The Node bridge's files: path relative to the package root, and contents.\npub(crate) static NODE_FILES: &[(&str, &[u8])] = &[\n",
    );
    for (relative, absolute) in &files {
        println!("cargo:rerun-if-changed={}", absolute.display());
        writeln!(
            source,
            "    (\"{relative}\", include_bytes!({absolute:?})),"
        )
        .expect("writing to a String cannot fail");
    }
    source.push_str("];\n");
    std::fs::write(out.join("node_bridge_files.rs"), source).expect("OUT_DIR is writable");
}

fn collect_node(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|err| panic!("cannot read {}: {err}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entries are readable").path();
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            collect_node(root, &path, files);
        } else if path.extension().is_some_and(|ext| ext == "js") {
            let relative = path
                .strip_prefix(root)
                .expect("collected paths are under the root")
                .to_string_lossy()
                .replace('\\', "/");
            files.push((relative, path));
        }
    }
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|err| panic!("cannot read {}: {err}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entries are readable").path();
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_default()
            .to_owned();
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            if name != "__pycache__" {
                collect(root, &path, files);
            }
        } else if name.ends_with(".py") || name == "py.typed" {
            let relative = path
                .strip_prefix(root)
                .expect("collected paths are under the root")
                .to_string_lossy()
                .replace('\\', "/");
            files.push((relative, path));
        }
    }
}
