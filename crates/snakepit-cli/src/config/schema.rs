//! The shape of `snakepit.toml`, as serde types: a `[python]` table and one `[pools.NAME]`
//! table per pool, with its adapter and the nested `retry`, `circuit`, `health`, `recycle`
//! and `sessions` tables. Every key is optional except where an adapter needs one; an absent
//! key takes the library's default ([`super::library`]). Unknown keys are refused
//! (`deny_unknown_fields`).
//!
//! The same types print the resolved file (`snakepit config check`): what they print reads
//! back to the same settings.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::SerializeMap as _;
use serde::{Deserialize, Serialize, Serializer};
use toml::Spanned;

use super::value::{
    Bytes, ClassPath, Count, Dur, Fraction, NonZeroDur, OptBytes, OptCount, OptDur,
};

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileTable {
    /// Settings every Python pool shares.
    #[serde(default)]
    pub(crate) python: PythonTable,
    /// The named pools, in the order the file lists them.
    #[serde(default)]
    pub(crate) pools: PoolTables,
}

/// `[python]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PythonTable {
    /// The interpreter of every Python pool that does not name its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) interpreter: Option<PathBuf>,
}

/// The `[pools.NAME]` tables, in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct PoolTables(pub(crate) Vec<(Spanned<PoolName>, PoolTable)>);

/// A pool's name: letters, digits, `_` and `-`, so that it fits in a URL and, upper-cased
/// with `-` as `_`, in an environment variable's name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct PoolName(pub(crate) String);

/// `[pools.NAME]`: the library's `PoolConfig`, field for field, plus the adapter and the
/// session store.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct PoolTable {
    pub(crate) size: Count,
    pub(crate) startup_timeout: NonZeroDur,
    pub(crate) max_queue: usize,
    pub(crate) queue_timeout: Dur,
    pub(crate) call_timeout: NonZeroDur,
    pub(crate) cancel_grace: Dur,
    pub(crate) drain_timeout: Dur,
    pub(crate) stop_grace: Dur,
    #[serde(deserialize_with = "frame_size")]
    pub(crate) max_frame: Bytes,
    pub(crate) registry: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) state_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) instance_name: Option<String>,
    pub(crate) affinity: AffinityName,
    /// `process` (one call at a time per worker) or `concurrent` (with `capacity`).
    pub(crate) profile: Spanned<ProfileName>,
    /// Calls at once per worker of the `concurrent` profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) capacity: Option<Spanned<Count>>,
    pub(crate) serial_sessions: bool,
    pub(crate) adapter: AdapterTable,
    pub(crate) retry: RetryTable,
    pub(crate) circuit: CircuitTable,
    pub(crate) health: HealthTable,
    pub(crate) recycle: RecycleTable,
    pub(crate) sessions: SessionsTable,
}

/// `[pools.NAME.adapter]`. One flat table for every adapter type, so that each key keeps
/// its place in the file for error messages; [`super::resolve`] refuses the keys that do
/// not belong to the chosen `type`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdapterTable {
    /// `python` (the default), `node`, `generic` or `grpc`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub(crate) kind: Option<Spanned<AdapterKind>>,
    /// Python: the adapter class. Default: the bundled showcase adapter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) class: Option<Spanned<ClassPath>>,
    /// Python: the interpreter, ahead of `[python].interpreter` and the lookup order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) python: Option<Spanned<PathBuf>>,
    /// Python: directories put on `PYTHONPATH`. Default: the file's directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) paths: Option<Spanned<Vec<PathBuf>>>,
    /// Python: where the bridge is imported from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) bridge: Option<Spanned<BridgeName>>,
    /// Python: modules a zygote imports once, forking every worker from it
    /// (`PythonAdapter::preload`). Absent: workers are spawned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) preload: Option<Spanned<Vec<String>>>,
    /// Python and generic (native): what the link is made of, `socket` (the default) or
    /// `pipes` (`LinkTransport`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) transport: Option<Spanned<TransportName>>,
    /// Node: the adapter, `./file.mjs:Export` (relative to `cwd`). Default: the bundled Node
    /// showcase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) module: Option<Spanned<String>>,
    /// Node: the `node` executable. Default: `$SNAKEPIT_NODE`, else `node` from `PATH`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) node: Option<Spanned<PathBuf>>,
    /// Generic: the program and its arguments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) command: Option<Spanned<Vec<String>>>,
    /// Generic: the protocol the program speaks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) protocol: Option<Spanned<ProtocolName>>,
    /// gRPC: the original's worker tree, the directory holding `grpc_server.py`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tree: Option<Spanned<PathBuf>>,
    /// gRPC: the adapter class, `package.module.Class`. Default: their ShowcaseAdapter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) grpc_adapter: Option<Spanned<String>>,
    /// The workers' working directory. Default: the file's directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cwd: Option<PathBuf>,
    /// Extra environment variables of the workers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) env: BTreeMap<String, String>,
}

/// `[pools.NAME.retry]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RetryTable {
    pub(crate) policy: PolicyName,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) per_command: BTreeMap<String, PolicyName>,
    pub(crate) max_retries: u32,
    pub(crate) backoff: Dur,
}

/// `[pools.NAME.circuit]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct CircuitTable {
    pub(crate) enabled: bool,
    pub(crate) failure_threshold: u32,
    pub(crate) reset_after: Dur,
}

/// `[pools.NAME.health]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct HealthTable {
    pub(crate) heartbeat_interval: OptDur,
    pub(crate) heartbeat_timeout: NonZeroDur,
    pub(crate) restart_backoff: Dur,
    pub(crate) restart_backoff_max: Dur,
    pub(crate) crash_window: Dur,
    pub(crate) taint_after: u32,
    pub(crate) taint_duration: Dur,
}

/// `[pools.NAME.recycle]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RecycleTable {
    pub(crate) max_requests: OptCount,
    pub(crate) max_age: OptDur,
    pub(crate) max_memory_bytes: OptBytes,
    pub(crate) jitter: Fraction,
    pub(crate) check_interval: NonZeroDur,
}

/// `[pools.NAME.sessions]`: the pool's session store.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct SessionsTable {
    pub(crate) default_ttl: NonZeroDur,
    pub(crate) max_sessions: usize,
    pub(crate) sweep_interval: Dur,
}

/// `affinity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AffinityName {
    Hint,
    StrictQueue,
    StrictFailFast,
}

/// `profile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ProfileName {
    Process,
    Concurrent,
}

/// `retry.policy` and the values of `retry.per_command`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PolicyName {
    Never,
    Idempotent,
    Always,
}

/// `adapter.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AdapterKind {
    Python,
    Node,
    Generic,
    Grpc,
}

/// `adapter.bridge`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum BridgeName {
    Embedded,
    Installed,
}

/// `adapter.transport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum TransportName {
    Socket,
    Pipes,
}

impl TransportName {
    /// The library's value.
    pub(crate) fn transport(self) -> snakepit::LinkTransport {
        match self {
            Self::Socket => snakepit::LinkTransport::Socket,
            Self::Pipes => snakepit::LinkTransport::Pipes,
        }
    }
}

/// `adapter.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ProtocolName {
    Native,
    Classic,
}

/// `max_frame`: 64 bytes to 4 GiB, as the library checks.
fn frame_size<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Bytes, D::Error> {
    let bytes = Bytes::deserialize(deserializer)?;
    if bytes.0 < 64 || bytes.0 > u64::from(u32::MAX) {
        return Err(de::Error::custom(format!(
            "{bytes} is out of range: max_frame is 64 bytes to 4GiB"
        )));
    }
    Ok(bytes)
}

impl AdapterKind {
    /// The name the file uses.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Python => "python",
            Self::Node => "node",
            Self::Generic => "generic",
            Self::Grpc => "grpc",
        }
    }
}

impl AdapterTable {
    /// The adapter's type: `type`, else python.
    pub(crate) fn kind(&self) -> AdapterKind {
        self.kind
            .as_ref()
            .map_or(AdapterKind::Python, |kind| *kind.get_ref())
    }
}

impl PoolName {
    /// The name as it appears in environment variables: upper case, `-` as `_`.
    pub(crate) fn env_name(&self) -> String {
        self.0.to_ascii_uppercase().replace('-', "_")
    }
}

impl fmt::Display for PoolName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PoolName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(de::Error::custom(format!(
                "`{name}` is not a usable pool name: use letters, digits, `_` and `-`"
            )));
        }
        Ok(Self(name))
    }
}

impl<'de> Deserialize<'de> for PoolTables {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Ordered;
        impl<'de> Visitor<'de> for Ordered {
            type Value = PoolTables;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of pools, `[pools.NAME]`")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PoolTables, A::Error> {
                let mut pools = Vec::new();
                while let Some((name, table)) = map.next_entry()? {
                    pools.push((name, table));
                }
                Ok(PoolTables(pools))
            }
        }
        deserializer.deserialize_map(Ordered)
    }
}

impl Serialize for PoolTables {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, table) in &self.0 {
            map.serialize_entry(&name.get_ref().0, table)?;
        }
        map.end()
    }
}
