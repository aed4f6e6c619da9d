//! State machines, their versions and aliases, and their tags: what
//! Create/Describe/Update/Delete/Publish act on. Kept in memory, and in
//! `state_dir` (rewritten atomically after each change) when one is set. The
//! machines of the configuration's pipelines are registered too, read-only.

use crate::arn::{MachineRef, Partition, Qualifier};
use crate::wire::{ApiError, ErrorKind};
use expressway_engine::{Program, WorkflowType};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use expressway_engine::MAX_DEFINITION_CHARS;
/// Tags per resource (AWS: 50).
pub const MAX_TAGS: usize = 50;
/// State machines this process keeps (AWS's default quota: 10,000).
pub const MAX_MACHINES: usize = 10_000;
/// Versions per state machine (AWS: 1,000) and aliases (AWS: 100).
pub const MAX_VERSIONS: usize = 1000;
pub const MAX_ALIASES: usize = 100;
/// Bytes taken per byte of definition text (text and compiled states:
/// 1 MB definitions kept through the API measured 11.6 (Parameters), 12.5
/// (a chain of Pass states), 14.3 (Assign) and 17–21 (nested Maps) bytes
/// of resident memory per byte; 4 let a 1 GiB budget hold 4.6 GB),
/// per JSONata node (measured: a 1 MB definition whose JSONata has
/// 315,000 nodes held 87 MB once compiled) and per regular expression (at
/// most 1 MiB compiled and 1 MiB of search cache).
const BYTES_PER_DEFINITION_BYTE: usize = 20;
const BYTES_PER_JSONATA_NODE: usize = 280;
const BYTES_PER_REGEX: usize = 2 << 20;

/// A definition of `definition_len` bytes compiled to `program`: what it
/// is taken to hold in memory (its JSONPaths as the compiler estimates
/// them: a 0.95 MB definition of `&&` filters held 88 MB, estimated 83 MB).
pub fn weight(definition_len: usize, program: &Program) -> usize {
    definition_len
        .saturating_mul(BYTES_PER_DEFINITION_BYTE)
        .saturating_add(program.jsonata_nodes.saturating_mul(BYTES_PER_JSONATA_NODE))
        .saturating_add(program.jsonata_regexes.saturating_mul(BYTES_PER_REGEX))
        .saturating_add(program.jsonpath_bytes)
}

pub struct Registry {
    pub partition: Partition,
    machines: BTreeMap<String, Machine>,
    state_dir: Option<PathBuf>,
    /// What its definitions may take, by [`weight`] (`api.definitions_kept_bytes`):
    /// 10,000 machines of 1 MB would take ~870 GB compiled.
    max_held_bytes: usize,
    /// What the machines hold now, by [`weight`]: kept as they change, so a
    /// change weighs its own machine's revisions, not every machine's (up
    /// to ~1 M under the write lock that StartExecution waits on).
    held: usize,
}

/// One definition as written, and compiled.
#[derive(Clone)]
pub struct Revision {
    pub definition: Arc<str>,
    pub program: Arc<Program>,
    pub revision_id: String,
    pub role_arn: String,
}

#[derive(Clone)]
pub struct Version {
    pub revision: Revision,
    pub description: Option<String>,
    pub created_ms: i64,
}

#[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
pub struct Route {
    pub version: u64,
    pub weight: u32,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct Alias {
    pub description: Option<String>,
    pub routes: Vec<Route>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

#[derive(Clone)]
pub struct Machine {
    pub name: String,
    pub express: bool,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub latest: Revision,
    pub description: Option<String>,
    pub logging: serde_json::Value,
    pub tracing: serde_json::Value,
    pub tags: BTreeMap<String, String>,
    pub versions: BTreeMap<u64, Version>,
    pub next_version: u64,
    pub aliases: BTreeMap<String, Alias>,
    /// A pipeline's machine from the configuration: not changed through the API.
    pub from_config: bool,
}

/// What the registry has room for ([`Registry::room`]).
#[derive(Debug, Clone, Copy)]
pub struct Room {
    left: usize,
    max: usize,
}

impl Room {
    /// The room left once `weight` is taken.
    pub fn after(self, weight: usize) -> Room {
        Room { left: self.left.saturating_sub(weight), max: self.max }
    }

    /// Refused when a definition of `weight` does not fit.
    pub fn fits(self, weight: usize) -> Result<(), ApiError> {
        if weight > self.left {
            return Err(ApiError::new(
                ErrorKind::ServiceQuotaExceededException,
                format!(
                    "The state machines' definitions would take more than this server's {} MiB \
                     (api.definitions_kept_bytes; this one ~{} MiB)",
                    self.max >> 20,
                    weight.div_ceil(1 << 20)
                ),
            ));
        }
        Ok(())
    }
}

impl Machine {
    /// What its revisions take, by [`weight`]: each compiled program once.
    pub fn held_bytes(&self) -> usize {
        self.weigh(true)
    }

    /// [`Machine::held_bytes`] of the revisions other than its latest: what
    /// it keeps when its latest is replaced.
    pub fn held_bytes_by_versions(&self) -> usize {
        self.weigh(false)
    }

    fn weigh(&self, with_latest: bool) -> usize {
        let mut counted: std::collections::HashSet<*const Program> = std::collections::HashSet::new();
        let latest = with_latest.then_some(&self.latest);
        let revisions = latest.into_iter().chain(self.versions.values().map(|v| &v.revision));
        let mut held = 0usize;
        for r in revisions {
            if counted.insert(Arc::as_ptr(&r.program)) {
                held = held.saturating_add(weight(r.definition.len(), &r.program));
            }
        }
        // A version that shares its program (published after a change of
        // role only) still holds its own record.
        self.versions.values().fold(held, |held, v| held.saturating_add(version_weight(v.description.as_deref())))
    }
}

/// What a version holds beside its program: its record (ids, role, dates,
/// a map entry) and its description.
pub fn version_weight(description: Option<&str>) -> usize {
    const BYTES_PER_VERSION: usize = 1024;
    BYTES_PER_VERSION.saturating_add(description.map_or(0, str::len))
}

/// What an execution runs: the machine and, when named, its version or alias.
#[derive(Clone)]
pub struct Resolved {
    pub name: String,
    pub express: bool,
    pub machine_arn: String,
    pub version_arn: Option<String>,
    pub alias_arn: Option<String>,
    pub revision: Revision,
    pub test_case: Option<String>,
}

pub fn compile(definition: &str, express: bool) -> Result<Program, ApiError> {
    let workflow = if express { WorkflowType::Express } else { WorkflowType::Standard };
    expressway_engine::compile_text(definition, workflow).map_err(|diags| {
        let listed: Vec<String> = diags
            .iter()
            .map(|d| format!("{}: {} at {}", aws_code(d), d.message, pointer_or_root(&d.pointer)))
            .collect();
        ApiError::new(
            ErrorKind::InvalidDefinition,
            format!("Invalid State Machine Definition: '{}'", listed.join(", ")),
        )
    })
}

/// The code AWS gives a problem of this kind: a missing transition target
/// and text that is not JSON have their own; every other problem is a
/// schema failure.
pub fn aws_code(d: &expressway_engine::Diagnostic) -> &'static str {
    use expressway_engine::validate::Code;
    match d.code {
        Code::MissingState => "MISSING_TRANSITION_TARGET",
        Code::BadValue if d.pointer.is_empty() && d.message.contains("not valid JSON") => "INVALID_JSON_DESCRIPTION",
        Code::DuplicateKey => "INVALID_JSON_DESCRIPTION",
        _ => "SCHEMA_VALIDATION_FAILED",
    }
}

/// AWS locates problems with a JSON Pointer; the root is `/`.
pub fn pointer_or_root(pointer: &str) -> &str {
    if pointer.is_empty() { "/" } else { pointer }
}

/// A revision id, unique within this process and across its restarts.
pub fn revision_id() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let now = expressway_runtime::clock::wall_ms() as u64;
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    expressway_engine::intrinsics::uuid_v4(now ^ (n << 40), n.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

impl Registry {
    pub fn new(partition: Partition, state_dir: Option<PathBuf>, max_held_bytes: usize) -> Registry {
        Registry { partition, machines: BTreeMap::new(), state_dir, max_held_bytes, held: 0 }
    }

    /// What one more definition may weigh now.
    pub fn room(&self) -> Room {
        Room { left: self.max_held_bytes.saturating_sub(self.held_bytes()), max: self.max_held_bytes }
    }

    /// What `name`'s latest definition may weigh when replaced: the room
    /// now and what its latest takes that no version keeps.
    pub fn room_replacing(&self, name: &str) -> Room {
        let mut room = self.room();
        if let Some(m) = self.machines.get(name) {
            room.left = room.left.saturating_add(m.held_bytes().saturating_sub(m.held_bytes_by_versions()));
        }
        room
    }

    pub fn get(&self, name: &str) -> Option<&Machine> {
        self.machines.get(name)
    }

    pub fn machines(&self) -> impl Iterator<Item = &Machine> {
        self.machines.values()
    }

    pub fn len(&self) -> usize {
        self.machines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.machines.is_empty()
    }

    /// What every definition kept takes, by [`weight`]: each compiled
    /// program once per machine, however many revisions share it.
    pub fn held_bytes(&self) -> usize {
        self.held
    }

    pub fn insert(&mut self, machine: Machine) {
        self.held = self.held.saturating_add(machine.held_bytes());
        if let Some(old) = self.machines.insert(machine.name.clone(), machine) {
            self.held = self.held.saturating_sub(old.held_bytes());
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<Machine> {
        let removed = self.machines.remove(name);
        if let Some(m) = &removed {
            self.held = self.held.saturating_sub(m.held_bytes());
        }
        removed
    }

    /// A machine to change in place: only inside [`Registry::change`],
    /// which saves the change and weighs it.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Machine> {
        self.machines.get_mut(name)
    }

    pub fn does_not_exist(&self, arn: &str) -> ApiError {
        ApiError::new(ErrorKind::StateMachineDoesNotExist, format!("State Machine Does Not Exist: '{arn}'"))
    }

    /// Whether a machine of that name is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.machines.contains_key(name)
    }

    /// The machine, version or alias an ARN names, ready to run. An alias
    /// picks one of its versions by weight with `pick` in 0..100.
    pub fn resolve(&self, arn: &str, pick: u32) -> Result<Resolved, ApiError> {
        let MachineRef { name, qualifier, test_case } = self.partition.parse_machine(arn)?;
        let bare = arn.split('#').next().unwrap_or(arn);
        let m = self.machines.get(&name).ok_or_else(|| self.does_not_exist(bare))?;
        let machine_arn = self.partition.machine(&name);
        let (revision, version_arn, alias_arn) = match qualifier {
            Qualifier::Latest => (m.latest.clone(), None, None),
            Qualifier::Version(v) => {
                let version = m.versions.get(&v).ok_or_else(|| self.does_not_exist(bare))?;
                (version.revision.clone(), Some(self.partition.version(&name, v)), None)
            }
            Qualifier::Alias(a) => {
                let alias = m.aliases.get(&a).ok_or_else(|| ApiError::resource_not_found(bare))?;
                let mut left = pick % 100;
                let route = alias
                    .routes
                    .iter()
                    .find(|r| {
                        let hit = left < r.weight;
                        left = left.saturating_sub(r.weight);
                        hit
                    })
                    .or(alias.routes.first())
                    .ok_or_else(|| self.does_not_exist(bare))?;
                let version = m.versions.get(&route.version).ok_or_else(|| self.does_not_exist(bare))?;
                (
                    version.revision.clone(),
                    Some(self.partition.version(&name, route.version)),
                    Some(self.partition.alias(&name, &a)),
                )
            }
        };
        Ok(Resolved { name, express: m.express, machine_arn, version_arn, alias_arn, revision, test_case })
    }

    /// Make one change to machine `name` (create, edit or remove it, through
    /// `edit`), all or nothing: kept and saved to `state_dir` when `edit`
    /// succeeds and its save does; otherwise the machine is put back as it
    /// was. A refused request that had changed part of the machine first
    /// (an update whose version cannot be published), or a full disk, would
    /// else leave a change that clients see but a restart loses.
    pub fn change<T>(
        &mut self,
        name: &str,
        edit: impl FnOnce(&mut Registry) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let before = self.machines.get(name).cloned();
        let held_before = self.held;
        let result = edit(self).and_then(|out| self.save(name).map(|()| out));
        if result.is_err() {
            match before {
                Some(m) => {
                    self.machines.insert(name.to_string(), m);
                }
                None => {
                    self.machines.remove(name);
                }
            }
            self.held = held_before;
        } else {
            let weighed = |m: Option<&Machine>| m.map_or(0, Machine::held_bytes);
            self.held = held_before.saturating_sub(weighed(before.as_ref())).saturating_add(weighed(self.get(name)));
        }
        result
    }

    /// Write machine `name` to `state_dir` as it is now, atomically (a
    /// temporary file renamed over the old one), or remove its file when it
    /// is gone. One file per machine: a change writes what that machine
    /// holds, not every machine's definitions (one file for all had a
    /// change under the registry's lock rewrite up to the whole budget).
    fn save(&self, name: &str) -> Result<(), ApiError> {
        let Some(dir) = &self.state_dir else { return Ok(()) };
        let dir = dir.join(MACHINES_DIR);
        let path = dir.join(file_name(name));
        match self.machines.get(name).filter(|m| !m.from_config) {
            Some(m) => write_atomically(&dir, &path, &serde_json::to_vec_pretty(&Saved::from(m)).map_err(internal)?),
            None => match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(internal(e)),
                _ => Ok(()),
            },
        }
    }

    /// Read back what [`Registry::save`] wrote; a machine whose definition no
    /// longer compiles is reported and skipped. A `state_dir` of one file for
    /// all machines (written before 2026-12-03) is moved into per-machine
    /// files first.
    pub fn load(&mut self) -> Result<usize, String> {
        let Some(dir) = self.state_dir.clone() else { return Ok(0) };
        let legacy = dir.join(LEGACY_FILE);
        match std::fs::read(&legacy) {
            Ok(text) => {
                let saved: Vec<Saved> = serde_json::from_slice(&text)
                    .map_err(|e| format!("{} is not what Expressway wrote: {e}", legacy.display()))?;
                let machines = dir.join(MACHINES_DIR);
                for s in saved {
                    let text = serde_json::to_vec_pretty(&s).map_err(|e| e.to_string())?;
                    write_atomically(&machines, &machines.join(file_name(&s.name)), &text).map_err(|e| e.message)?;
                }
                // The new files are durable before the old one goes: a crash
                // in between moves it again on the next start.
                sync_dir(&machines).map_err(|e| e.message)?;
                std::fs::remove_file(&legacy).map_err(|e| format!("removing {}: {e}", legacy.display()))?;
                // And its removal: else a crash could bring it back over newer files.
                sync_dir(&dir).map_err(|e| e.message)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("reading {}: {e}", legacy.display())),
        }
        let machines_dir = dir.join(MACHINES_DIR);
        let entries = match std::fs::read_dir(&machines_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(format!("reading {}: {e}", dir.join(MACHINES_DIR).display())),
        };
        // Listed before any is renamed, so that none is read twice.
        let paths = entries.map(|e| e.map(|e| e.path())).collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?;
        let mut n = 0;
        for path in paths {
            // A temporary file is a write that never finished: its machine's
            // previous file (if any) is what was saved.
            if path.extension().is_some_and(|e| e == "tmp") {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let text = std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
            let s: Saved = serde_json::from_slice(&text)
                .map_err(|e| format!("{} is not what Expressway wrote: {e}", path.display()))?;
            let name = s.name.clone();
            // Only a machine's own file: one copied or renamed by hand would
            // bring back a machine under a file its deletion never removes.
            let own = machines_dir.join(file_name(&name));
            // A file named by the name's hex (as written on main for an hour,
            // 2026-12-03) takes the hashed name.
            if path.file_name() == Some(std::ffi::OsStr::new(&hex_file_name(&name))) && !own.exists() {
                std::fs::rename(&path, &own).map_err(|e| format!("renaming {}: {e}", path.display()))?;
                sync_dir(&machines_dir).map_err(|e| e.message)?;
            } else if path != own {
                tracing::error!(file = %path.display(), state_machine = %name, "a file not named for its state machine; skipped");
                continue;
            }
            match s.into_machine() {
                Ok(m) => {
                    self.insert(m);
                    n += 1;
                }
                Err(e) => {
                    tracing::error!(state_machine = %name, error = %e.message, "a saved state machine no longer compiles; skipped")
                }
            }
        }
        Ok(n)
    }
}

/// Under `state_dir`: one file per machine made through the API.
const MACHINES_DIR: &str = "state-machines";
/// Under `state_dir`: every machine in one file, as written before.
const LEGACY_FILE: &str = "state-machines.json";

/// A machine's file: a hash of its name (names may hold any character but
/// whitespace and a few symbols; 80 of them in hex, up to 640 bytes, passed
/// the 255 a file name may have), the name itself kept inside.
fn file_name(machine: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(machine.as_bytes());
    let mut name: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    name.push_str(".json");
    name
}

/// A machine's file as one build of 2026-12-03 named it: its name in hex.
fn hex_file_name(machine: &str) -> String {
    let mut name: String = machine.bytes().map(|b| format!("{b:02x}")).collect();
    name.push_str(".json");
    name
}

fn sync_dir(dir: &std::path::Path) -> Result<(), ApiError> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(internal)
}

fn write_atomically(dir: &std::path::Path, path: &std::path::Path, text: &[u8]) -> Result<(), ApiError> {
    use std::io::Write;
    std::fs::create_dir_all(dir).map_err(internal)?;
    let tmp = path.with_extension("json.tmp");
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(text).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        // The machine's previous file stays what was saved.
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(internal)
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorKind::InternalFailure, format!("saving the state machines: {e}"))
}

#[derive(Serialize, Deserialize)]
struct SavedRevision {
    /// The text, written once per machine file: a later revision with the
    /// same text names the first instead (`same_definition_as`), so 1,000
    /// versions of a 1 MB definition are not 1 GB written per change, nor
    /// 1,000 programs compiled on a restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    definition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    same_definition_as: Option<String>,
    revision_id: String,
    role_arn: String,
}

#[derive(Serialize, Deserialize)]
struct SavedVersion {
    number: u64,
    revision: SavedRevision,
    description: Option<String>,
    created_ms: i64,
}

#[derive(Serialize, Deserialize)]
struct Saved {
    name: String,
    express: bool,
    created_ms: i64,
    updated_ms: i64,
    latest: SavedRevision,
    description: Option<String>,
    logging: serde_json::Value,
    tracing: serde_json::Value,
    tags: BTreeMap<String, String>,
    versions: Vec<SavedVersion>,
    next_version: u64,
    aliases: BTreeMap<String, Alias>,
}

impl SavedRevision {
    /// `r` saved, its text only if no revision saved before it in `written`
    /// (text address → revision id) shares it.
    fn of(r: &Revision, written: &mut HashMap<*const u8, String>) -> SavedRevision {
        let (definition, same_definition_as) = match written.get(&r.definition.as_ptr()) {
            Some(first) => (None, Some(first.clone())),
            None => {
                written.insert(r.definition.as_ptr(), r.revision_id.clone());
                (Some(r.definition.to_string()), None)
            }
        };
        SavedRevision {
            definition,
            same_definition_as,
            revision_id: r.revision_id.clone(),
            role_arn: r.role_arn.clone(),
        }
    }

    /// The revision, its text and program shared with any revision read
    /// before it in `read` that has the same text (compiled once).
    fn revision(self, express: bool, read: &mut ReadRevisions) -> Result<Revision, ApiError> {
        let (definition, program) = match (self.definition, self.same_definition_as) {
            (Some(text), _) => match read.by_text.get(text.as_str()) {
                Some(shared) => shared.clone(),
                None => {
                    let program = Arc::new(compile(&text, express)?);
                    let definition: Arc<str> = text.into();
                    read.by_text.insert(definition.clone(), (definition.clone(), program.clone()));
                    (definition, program)
                }
            },
            (None, Some(first)) => read.by_revision.get(&first).cloned().ok_or_else(|| {
                ApiError::new(
                    ErrorKind::InternalFailure,
                    format!("revision {first}'s definition is not saved before it"),
                )
            })?,
            (None, None) => {
                return Err(ApiError::new(ErrorKind::InternalFailure, "a saved revision has no definition"));
            }
        };
        read.by_revision.insert(self.revision_id.clone(), (definition.clone(), program.clone()));
        Ok(Revision { definition, program, revision_id: self.revision_id, role_arn: self.role_arn })
    }
}

/// A machine's revisions read so far: by text and by revision id.
#[derive(Default)]
struct ReadRevisions {
    by_text: HashMap<Arc<str>, (Arc<str>, Arc<Program>)>,
    by_revision: HashMap<String, (Arc<str>, Arc<Program>)>,
}

impl From<&Machine> for Saved {
    fn from(m: &Machine) -> Saved {
        let mut written = HashMap::new();
        Saved {
            name: m.name.clone(),
            express: m.express,
            created_ms: m.created_ms,
            updated_ms: m.updated_ms,
            latest: SavedRevision::of(&m.latest, &mut written),
            description: m.description.clone(),
            logging: m.logging.clone(),
            tracing: m.tracing.clone(),
            tags: m.tags.clone(),
            versions: m
                .versions
                .iter()
                .map(|(n, v)| SavedVersion {
                    number: *n,
                    revision: SavedRevision::of(&v.revision, &mut written),
                    description: v.description.clone(),
                    created_ms: v.created_ms,
                })
                .collect(),
            next_version: m.next_version,
            aliases: m.aliases.clone(),
        }
    }
}

impl Saved {
    fn into_machine(self) -> Result<Machine, ApiError> {
        let express = self.express;
        let mut read = ReadRevisions::default();
        let latest = self.latest.revision(express, &mut read)?;
        let mut versions = BTreeMap::new();
        for v in self.versions {
            versions.insert(
                v.number,
                Version {
                    revision: v.revision.revision(express, &mut read)?,
                    description: v.description,
                    created_ms: v.created_ms,
                },
            );
        }
        Ok(Machine {
            name: self.name,
            express,
            created_ms: self.created_ms,
            updated_ms: self.updated_ms,
            latest,
            description: self.description,
            logging: self.logging,
            tracing: self.tracing,
            tags: self.tags,
            versions,
            next_version: self.next_version,
            aliases: self.aliases,
            from_config: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFINITION: &str = r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#;

    /// A machine whose latest revision was published three times, each after
    /// a change of role only: four revisions, one definition.
    fn republished() -> Machine {
        let latest = Revision {
            definition: DEFINITION.into(),
            program: Arc::new(compile(DEFINITION, true).expect("valid")),
            revision_id: "r0".into(),
            role_arn: "arn:aws:iam::1:role/a".into(),
        };
        let mut versions = BTreeMap::new();
        for n in 1..=3u64 {
            let revision = Revision {
                revision_id: format!("r{n}"),
                role_arn: format!("arn:aws:iam::1:role/{n}"),
                ..latest.clone()
            };
            versions.insert(n, Version { revision, description: Some("d".repeat(100)), created_ms: 0 });
        }
        Machine {
            name: "m".into(),
            express: true,
            created_ms: 0,
            updated_ms: 0,
            latest,
            description: None,
            logging: serde_json::Value::Null,
            tracing: serde_json::Value::Null,
            tags: BTreeMap::new(),
            versions,
            next_version: 4,
            aliases: BTreeMap::new(),
            from_config: false,
        }
    }

    /// Versions sharing a definition are saved with its text once and read
    /// back sharing one compiled program, as they were before the restart
    /// (each had been written whole and compiled again: 1,000 versions of a
    /// 1 MB definition were 1 GB written per change and 1,000 programs).
    #[test]
    fn a_shared_definition_is_saved_once_and_compiled_once_when_read_back() {
        let text = serde_json::to_string(&Saved::from(&republished())).expect("json");
        assert_eq!(text.matches("StartAt").count(), 1, "{text}");
        let back: Saved = serde_json::from_str(&text).expect("read");
        let m = back.into_machine().expect("compiles");
        assert_eq!(m.versions.len(), 3);
        for v in m.versions.values() {
            assert!(Arc::ptr_eq(&v.revision.program, &m.latest.program), "one program for one text");
            assert!(Arc::ptr_eq(&v.revision.definition, &m.latest.definition));
        }
        assert_eq!(m.versions[&2].revision.role_arn, "arn:aws:iam::1:role/2");

        // A file written before, with the text in every revision, reads the same.
        let mut old: serde_json::Value = serde_json::from_str(&text).expect("json");
        for v in old["versions"].as_array_mut().expect("versions") {
            let revision = v["revision"].as_object_mut().expect("a revision");
            revision.remove("same_definition_as");
            revision.insert("definition".into(), DEFINITION.into());
        }
        let m = serde_json::from_value::<Saved>(old).expect("read").into_machine().expect("compiles");
        assert!(m.versions.values().all(|v| Arc::ptr_eq(&v.revision.program, &m.latest.program)));
    }

    /// A registry saving to a fresh directory of its own, named for `tag`.
    fn saving_registry(tag: &str) -> (std::path::PathBuf, Partition, Registry) {
        let dir = std::env::temp_dir().join(format!("expressway-registry-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let partition = Partition { region: "us-east-1".into(), account: "123456789012".into() };
        let registry = Registry::new(partition.clone(), Some(dir.clone()), 1 << 30);
        (dir, partition, registry)
    }

    /// Create `m` through [`Registry::change`], as the API does.
    fn create(registry: &mut Registry, m: Machine) -> Result<(), ApiError> {
        let name = m.name.clone();
        registry.change(&name, |r| {
            r.insert(m);
            Ok(())
        })
    }

    /// A machine's file is named for a hash of its name: 80 characters of
    /// three bytes each (640 in hex) fit a file name; a file not named for
    /// the machine inside it, and a write that never finished, are not read.
    #[test]
    fn machines_with_long_names_are_saved_and_stray_files_skipped() {
        let (dir, partition, mut registry) = saving_registry("names");
        let name = "€".repeat(80);
        create(&mut registry, Machine { name: name.clone(), ..republished() }).expect("saved under a hashed name");
        let saved = dir.join(MACHINES_DIR).join(file_name(&name));
        std::fs::copy(&saved, dir.join(MACHINES_DIR).join("copied-by-hand.json")).expect("copy");
        // A file as one build named it (the name in hex) takes the hashed name.
        create(&mut registry, Machine { name: "hexed".into(), ..republished() }).expect("saved");
        std::fs::rename(
            dir.join(MACHINES_DIR).join(file_name("hexed")),
            dir.join(MACHINES_DIR).join(hex_file_name("hexed")),
        )
        .expect("renamed as that build named it");
        std::fs::write(dir.join(MACHINES_DIR).join("torn.json.tmp"), "{").expect("a torn write");
        let mut back = Registry::new(partition, Some(dir.clone()), 1 << 30);
        assert_eq!(back.load(), Ok(2), "each machine once, from its own file");
        assert!(back.contains(&name) && back.contains("hexed"));
        assert!(dir.join(MACHINES_DIR).join(file_name("hexed")).exists(), "renamed to its hashed name");
        assert!(!dir.join(MACHINES_DIR).join("torn.json.tmp").exists(), "a torn write is cleared");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// What the registry holds, as kept through its changes, against a
    /// weighing of every machine.
    fn held_as_weighed(r: &Registry) -> usize {
        r.machines().map(Machine::held_bytes).sum()
    }

    /// A change is all or nothing: one whose edit fails part-way, or whose
    /// save fails (here a directory sits where its file's temporary copy
    /// goes, which even root cannot write over), leaves the machine as it
    /// was in memory and on disk; a machine whose creation cannot be saved
    /// is not created. What the registry holds follows every change.
    #[test]
    fn a_change_that_fails_part_way_or_cannot_be_saved_is_undone() {
        let (dir, partition, mut registry) = saving_registry("undo");
        create(&mut registry, republished()).expect("saved");
        registry
            .change("m", |r| {
                let m = r.get_mut("m").expect("m");
                let latest = m.latest.clone();
                m.versions.insert(9, Version { revision: latest, description: Some("x".repeat(500)), created_ms: 0 });
                Ok(())
            })
            .expect("saved");
        assert_eq!(registry.held_bytes(), held_as_weighed(&registry));
        let tag = |r: &mut Registry| {
            r.get_mut("m").expect("m").tags.insert("k".into(), "v".into());
        };
        let refused = registry.change("m", |r| {
            tag(r);
            Err::<(), _>(ApiError::new(ErrorKind::ValidationException, "refused after a change"))
        });
        assert_eq!(refused.map_err(|e| e.kind), Err(ErrorKind::ValidationException));
        assert!(registry.get("m").expect("m").tags.is_empty(), "the part made before the refusal is undone");
        assert_eq!(registry.held_bytes(), held_as_weighed(&registry));

        let blocker = |name: &str| dir.join(MACHINES_DIR).join(file_name(name)).with_extension("json.tmp");
        std::fs::create_dir(blocker("m")).expect("a directory in the way");
        let unsaved = registry.change("m", |r| {
            tag(r);
            Ok(())
        });
        assert_eq!(unsaved.map_err(|e| e.kind), Err(ErrorKind::InternalFailure));
        assert!(registry.get("m").expect("m").tags.is_empty(), "what could not be saved is not kept");
        std::fs::create_dir(blocker("n")).expect("a directory in the way");
        let created = create(&mut registry, Machine { name: "n".into(), ..republished() });
        assert!(created.is_err() && !registry.contains("n"), "a creation that cannot be saved creates nothing");
        assert_eq!(registry.held_bytes(), held_as_weighed(&registry));

        std::fs::remove_dir(blocker("m")).expect("cleared");
        std::fs::remove_dir(blocker("n")).expect("cleared");
        let mut back = Registry::new(partition, Some(dir.clone()), 1 << 30);
        assert_eq!(back.load(), Ok(1));
        assert!(back.get("m").expect("m").tags.is_empty(), "disk and memory agree");
        assert_eq!(back.held_bytes(), registry.held_bytes());
        registry.change("m", |r| Ok(r.remove("m"))).expect("removed");
        assert_eq!(registry.held_bytes(), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A version is weighed even when it shares its program: publishing
    /// after changes of role only cannot hold versions for nothing.
    #[test]
    fn every_version_is_weighed_even_one_sharing_its_program() {
        let m = republished();
        let program_only = weight(DEFINITION.len(), &m.latest.program);
        assert_eq!(m.held_bytes(), program_only + 3 * version_weight(Some(&"d".repeat(100))));
        let room = Room { left: m.held_bytes(), max: 1 << 30 };
        assert!(room.after(m.held_bytes()).fits(version_weight(None)).is_err(), "no room for one more version");
    }
}
