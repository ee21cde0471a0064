//! The journal that keeps the undo file ([`UndoRecord`]) on disk while writes are in flight.
//!
//! An entry is made durable (written, fsynced, renamed into place) *before* its write is sent,
//! and removed only when the server certainly refused the write, so after any interruption the
//! file covers every write that may have happened. Several writes may be in flight at once:
//! their entries are committed in groups (one file write for every entry recorded while the
//! previous write of the file was going on), so a run of 500 concurrent writes costs a few dozen
//! file writes, not 500.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::Value;

use super::record::{UndoEntry, UndoRecord, now};

/// `appmesh2istio-undo-<UTC timestamp>.yaml`.
pub fn default_undo_file_name() -> String {
    format!(
        "appmesh2istio-undo-{}.yaml",
        now().strftime("%Y%m%dT%H%M%SZ")
    )
}

/// Problems with the undo file itself.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot write the undo file {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the undo file {} already exists; choose another --undo-file (an undo file is never overwritten)", path.display())]
    Exists { path: PathBuf },
    #[error("cannot read the undo file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("cannot serialise the undo record: {0}")]
    Serialise(String),
}

/// An entry of a [`Journal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryId(usize);

struct State {
    entries: Vec<Option<UndoEntry>>,
    /// Bumped by every change of `entries`.
    version: u64,
}

/// The undo file while a command writes: created once (never overwriting an existing file),
/// then rewritten atomically (temporary file, fsync, rename, fsync of the directory).
pub struct Journal {
    path: PathBuf,
    header: UndoRecord,
    state: Mutex<State>,
    /// The version last made durable; holding it is holding the right to write the file.
    durable: tokio::sync::Mutex<u64>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// Create the file: `path`, or [`default_undo_file_name`] in the current directory (with a
    /// `-2`, `-3`… suffix if a run in the same second left one).
    pub fn create(path: Option<&Path>, header: UndoRecord) -> Result<Journal, JournalError> {
        let candidates: Vec<PathBuf> = match path {
            Some(p) => vec![p.to_owned()],
            None => {
                let base = default_undo_file_name();
                let stem = base.trim_end_matches(".yaml").to_owned();
                std::iter::once(PathBuf::from(&base))
                    .chain((2..100).map(|n| PathBuf::from(format!("{stem}-{n}.yaml"))))
                    .collect()
            }
        };
        let mut last = None;
        for candidate in candidates {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&candidate)
            {
                Ok(_) => {
                    let header = header.with_entries(std::iter::empty());
                    write_file(&candidate, &header.to_yaml()?)?;
                    return Ok(Journal {
                        path: candidate,
                        header,
                        state: Mutex::new(State {
                            entries: Vec::new(),
                            version: 0,
                        }),
                        durable: tokio::sync::Mutex::new(0),
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(candidate),
                Err(source) => {
                    return Err(JournalError::Write {
                        path: candidate,
                        source,
                    });
                }
            }
        }
        Err(JournalError::Exists {
            path: last.unwrap_or_default(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Add `entry` and return once it is on disk.
    pub async fn record(&self, entry: UndoEntry) -> Result<EntryId, JournalError> {
        let (id, version) = {
            let mut state = self.state();
            state.entries.push(Some(entry));
            state.version += 1;
            (EntryId(state.entries.len() - 1), state.version)
        };
        self.sync(version).await?;
        Ok(id)
    }

    /// Replace entry `id` (nothing of its write happened) with `entry`; return once on disk.
    pub async fn replace(&self, id: EntryId, entry: UndoEntry) -> Result<(), JournalError> {
        let version = {
            let mut state = self.state();
            if let Some(slot) = state.entries.get_mut(id.0) {
                *slot = Some(entry);
            }
            state.version += 1;
            state.version
        };
        self.sync(version).await
    }

    /// The write of entry `id` succeeded with `stored` (written to disk with the next sync).
    pub fn confirm(&self, id: EntryId, stored: &Value) {
        let mut state = self.state();
        if let Some(Some(entry)) = state.entries.get_mut(id.0) {
            entry.confirm(stored);
        }
        state.version += 1;
    }

    /// The server certainly refused the write of entry `id`: nothing to undo for it (written
    /// to disk with the next sync; until then the file still lists it, which undo handles).
    pub fn forget(&self, id: EntryId) {
        let mut state = self.state();
        if let Some(slot) = state.entries.get_mut(id.0) {
            *slot = None;
        }
        state.version += 1;
    }

    /// Write every change made so far.
    pub async fn flush(&self) -> Result<(), JournalError> {
        let version = self.state().version;
        self.sync(version).await
    }

    /// The record as it is now.
    pub fn record_now(&self) -> UndoRecord {
        let state = self.state();
        self.header.with_entries(state.entries.iter().flatten())
    }

    /// Group commit: whoever holds `durable` writes everything recorded so far, so the writers
    /// waiting behind it usually find their entry already on disk.
    async fn sync(&self, wanted: u64) -> Result<(), JournalError> {
        let mut durable = self.durable.lock().await;
        if *durable >= wanted {
            return Ok(());
        }
        let (text, version) = {
            let state = self.state();
            let record = self.header.with_entries(state.entries.iter().flatten());
            (record.to_yaml()?, state.version)
        };
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || write_file(&path, &text))
            .await
            .map_err(|e| JournalError::Write {
                path: self.path.clone(),
                source: std::io::Error::other(e.to_string()),
            })??;
        *durable = version;
        Ok(())
    }

    /// Finish: write the last changes; remove the file when it records nothing (nothing was
    /// changed) and return its path otherwise.
    pub async fn finish(self) -> Result<Option<PathBuf>, JournalError> {
        self.flush().await?;
        if self.record_now().is_empty() {
            std::fs::remove_file(&self.path).map_err(|source| JournalError::Write {
                path: self.path.clone(),
                source,
            })?;
            Ok(None)
        } else {
            Ok(Some(self.path))
        }
    }
}

/// Replace `path` by `text` atomically and durably.
fn write_file(path: &Path, text: &str) -> Result<(), JournalError> {
    let tmp = path.with_extension("yaml.tmp");
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // The rename itself is durable once the directory is.
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        std::fs::File::open(dir)?.sync_all()
    };
    write().map_err(|source| JournalError::Write {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::change::object::ObjectKey;
    use crate::change::record::tests::{header, vs};
    use crate::change::record::{CreatedObject, KeyChanges};
    use serde_json::json;

    #[tokio::test]
    async fn entries_are_on_disk_before_the_write_and_refused_ones_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("undo.yaml");
        let journal = Journal::create(Some(&path), header()).unwrap();
        let created = journal
            .record(UndoEntry::Created(CreatedObject::new(&vs())))
            .await
            .unwrap();
        let on_disk = UndoRecord::read(&path).unwrap();
        assert_eq!(on_disk.created.len(), 1, "durable before the write is sent");
        assert_eq!(on_disk.created[0].uid, None);
        journal.confirm(created, &json!({"metadata": {"uid": "u-1"}}));
        let ns = ObjectKey::new("v1", "Namespace", None, "shop");
        let live = json!({"metadata": {"uid": "n-1", "labels": {"a": "1"}}});
        let labelled = journal
            .record(UndoEntry::Metadata(KeyChanges::new(
                &ns,
                &live,
                "/metadata",
                ["a", "b"],
                [],
            )))
            .await
            .unwrap();
        let on_disk = UndoRecord::read(&path).unwrap();
        assert_eq!(on_disk.created[0].uid.as_deref(), Some("u-1"));
        assert_eq!(
            on_disk.metadata_changes[0].labels,
            BTreeMap::from([
                ("a".to_owned(), Some("1".to_owned())),
                ("b".to_owned(), None)
            ])
        );
        journal.forget(labelled);
        let path = journal.finish().await.unwrap().unwrap();
        let on_disk = UndoRecord::read(&path).unwrap();
        assert!(on_disk.metadata_changes.is_empty());
        assert_eq!(on_disk.command, "label");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("# Written by `kubectl appmesh2istio label`")
                && text.contains("# Revert with: kubectl appmesh2istio label --undo <this file>"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn concurrent_records_are_all_durable_and_grouped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("undo.yaml");
        let journal = std::sync::Arc::new(Journal::create(Some(&path), header()).unwrap());
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let journal = journal.clone();
                tokio::spawn(async move {
                    let key = ObjectKey::new("v1", "Namespace", None, &format!("ns-{i}"));
                    journal
                        .record(UndoEntry::Metadata(KeyChanges::new(
                            &key,
                            &json!({}),
                            "/metadata",
                            ["istio-injection"],
                            [],
                        )))
                        .await
                        .unwrap();
                    // Once `record` returned, the entry is in the file.
                    let on_disk = UndoRecord::read(&journal.path).unwrap();
                    assert!(
                        on_disk
                            .metadata_changes
                            .iter()
                            .any(|m| m.name == format!("ns-{i}"))
                    );
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(UndoRecord::read(&path).unwrap().metadata_changes.len(), 200);
    }

    #[test]
    fn an_existing_file_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("undo.yaml");
        std::fs::write(&path, "precious").unwrap();
        let err = Journal::create(Some(&path), header()).unwrap_err();
        assert!(matches!(err, JournalError::Exists { .. }), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
    }
}
