//! The compiled-artifact cache: modules compiled once are kept on disk as
//! precompiled artifacts (`.cwasm`), so activating a bundle seen before
//! skips compiling (milliseconds instead of ~0.4 s).
//!
//! A cached artifact is native code that [`crate::PolicyModule::load_verified_artifact`]
//! runs without validating it, so the cache is guarded:
//!
//! - its folder is private: created `0700`; an existing folder whose mode
//!   grants the group or others anything, or that belongs to another user,
//!   is refused ([`ArtifactCache::open`]), and checked again at each read;
//! - each file is named after the SHA-256 of its content
//!   (`<key>.<content sha256>.cwasm`), written `0600` through a temporary
//!   file and a rename (a reader never sees half a file), and hashed again
//!   right before [`ArtifactCache::get`] returns it: a file that does not
//!   match its name (or is not a private regular file of ours) is deleted
//!   and reported as a miss.
//!
//! Unix only (modes and owners); the owner check reads the process's
//! effective user id from `/proc/self/status` (Linux).

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::module::ModuleDigest;

/// The largest artifact [`ArtifactCache`] stores or returns by default
/// (the default module's artifact is a few MB).
pub const DEFAULT_MAX_ENTRY_BYTES: u64 = 64 << 20;

/// Failures to open or write the artifact cache. A failed read is a miss,
/// never an error.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactCacheError {
    /// The folder could not be created or inspected.
    #[error("cannot use the artifact cache folder {dir}: {source}")]
    Folder {
        /// The folder.
        dir: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The path exists and is not a folder (or is a symbolic link).
    #[error(
        "the artifact cache path {dir} is not a folder (a symbolic link is refused too); point the cache at a private folder of its own"
    )]
    NotAFolder {
        /// The path.
        dir: String,
    },
    /// The folder's mode grants the group or others access: cached
    /// artifacts are native code this process runs.
    #[error(
        "the artifact cache folder {dir} has mode {mode:o}, which lets other users read or plant native code this process would run; `chmod 700 {dir}` or use another folder"
    )]
    Insecure {
        /// The folder.
        dir: String,
        /// Its permission bits.
        mode: u32,
    },
    /// The folder belongs to another user.
    #[error(
        "the artifact cache folder {dir} belongs to user {owner}, not to this process's user {uid}; use a folder this user owns"
    )]
    NotOwned {
        /// The folder.
        dir: String,
        /// Its owner.
        owner: u32,
        /// This process's effective user id.
        uid: u32,
    },
    /// This process's user id could not be read.
    #[error(
        "cannot tell this process's user id (from /proc/self/status: {0}), so the artifact cache folder's owner cannot be checked"
    )]
    UserId(String),
    /// A key with characters other than lowercase hex digits and `-`.
    #[error(
        "invalid artifact cache key {0:?}: keys are lowercase hex digits and '-' (ArtifactCache::key)"
    )]
    InvalidKey(String),
    /// The artifact is larger than the cache's per-entry cap.
    #[error("the artifact is {size} bytes, over the artifact cache's cap of {max} bytes per entry")]
    TooLarge {
        /// The artifact's size.
        size: u64,
        /// The cap.
        max: u64,
    },
    /// Writing an entry failed.
    #[error("cannot write to the artifact cache {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A private on-disk cache of precompiled artifacts, by key (see the
/// [module docs](self) for the guarantees).
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
    uid: u32,
    max_entry_bytes: u64,
}

/// Distinguishes temporary files written by one process.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl ArtifactCache {
    /// Open the cache in `dir`, creating it (and missing parents) with mode
    /// `0700`. An existing folder must be a real folder (not a symbolic
    /// link) owned by this process's user with no group or other
    /// permission bits.
    pub fn open(dir: &Path) -> Result<ArtifactCache, ArtifactCacheError> {
        let folder_error = |source| ArtifactCacheError::Folder {
            dir: dir.display().to_string(),
            source,
        };
        let uid = effective_uid()?;
        if std::fs::symlink_metadata(dir).is_err() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(folder_error)?;
        }
        let cache = ArtifactCache {
            dir: dir.to_path_buf(),
            uid,
            max_entry_bytes: DEFAULT_MAX_ENTRY_BYTES,
        };
        cache.check_folder()?;
        Ok(cache)
    }

    /// The same cache with another per-entry size cap (bytes): larger
    /// artifacts are neither stored nor returned.
    pub fn with_max_entry_bytes(mut self, max: u64) -> Self {
        self.max_entry_bytes = max;
        self
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The key of the artifact compiled from the module whose `.wasm` has
    /// digest `wasm` for the engine `fingerprint`
    /// ([`crate::module::engine_fingerprint`], or any string naming the
    /// engine and CPU the artifact was made for):
    /// `<wasm sha256>-<first 16 hex digits of sha256(fingerprint)>`.
    pub fn key(wasm: &ModuleDigest, fingerprint: &str) -> String {
        let engine = ModuleDigest::of(fingerprint.as_bytes());
        let short: String = engine
            .as_bytes()
            .iter()
            .take(8)
            .map(|byte| format!("{byte:02x}"))
            .collect();
        format!("{wasm}-{short}")
    }

    /// The artifact stored under `key`, hashed again right before it is
    /// returned; `None` when there is none that checks out. A file that
    /// does not match the digest in its name, is too large, is not a
    /// regular file, is not ours or is readable by others is deleted (and
    /// logged). When the folder itself stopped being private, nothing is
    /// returned.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        valid_key(key).ok()?;
        if let Err(e) = self.check_folder() {
            tracing::warn!(error = %e, "artifact cache folder no longer private; not reading it");
            return None;
        }
        let prefix = format!("{key}.");
        for (path, name) in self.entries() {
            let Some(content_digest) = name
                .strip_prefix(&prefix)
                .and_then(|rest| rest.strip_suffix(".cwasm"))
            else {
                continue;
            };
            match self.read_checked(&path, content_digest) {
                Ok(bytes) => return Some(bytes),
                Err(why) => {
                    tracing::warn!(file = %path.display(), why, "deleting an artifact cache entry that does not check out");
                    if let Err(e) = std::fs::remove_file(&path) {
                        tracing::warn!(file = %path.display(), error = %e, "cannot delete the artifact cache entry");
                    }
                }
            }
        }
        None
    }

    /// Store `bytes` under `key`: written `0600` to a temporary file, synced
    /// and renamed to `<key>.<sha256 of bytes>.cwasm`; other entries of the
    /// same key are removed. Returns the entry's path.
    pub fn put(&self, key: &str, bytes: &[u8]) -> Result<PathBuf, ArtifactCacheError> {
        valid_key(key)?;
        let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if size > self.max_entry_bytes {
            return Err(ArtifactCacheError::TooLarge {
                size,
                max: self.max_entry_bytes,
            });
        }
        self.check_folder()?;
        let name = format!("{key}.{}.cwasm", ModuleDigest::of(bytes));
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!(
            ".tmp-{key}-{}-{}",
            std::process::id(),
            TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let write_error = |source| ArtifactCacheError::Write {
            path: tmp.display().to_string(),
            source,
        };
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut file| {
                file.write_all(bytes)?;
                file.sync_all()
            });
        if let Err(source) = written.and_then(|()| std::fs::rename(&tmp, &path)) {
            let _ = std::fs::remove_file(&tmp);
            return Err(write_error(source));
        }
        let prefix = format!("{key}.");
        for (other, other_name) in self.entries() {
            if other_name != name && other_name.starts_with(&prefix) {
                let _ = std::fs::remove_file(other);
            }
        }
        Ok(path)
    }

    /// Keep the `keep` most recently written entries and delete the others
    /// (and temporary files left by interrupted writes). Returns how many
    /// files were deleted.
    pub fn prune(&self, keep: usize) -> Result<usize, ArtifactCacheError> {
        self.check_folder()?;
        let mut entries: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
        let mut removed = 0;
        for (path, name) in self.entries() {
            if name.starts_with(".tmp-") {
                if std::fs::remove_file(&path).is_ok() {
                    removed += 1;
                }
                continue;
            }
            if !name.ends_with(".cwasm") {
                continue;
            }
            let modified = std::fs::symlink_metadata(&path)
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            entries.push((modified, path));
        }
        entries.sort_by_key(|entry| std::cmp::Reverse(entry.0));
        for (_, path) in entries.into_iter().skip(keep) {
            if std::fs::remove_file(&path).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// The folder's files as (path, name), names that are not UTF-8 left out.
    fn entries(&self) -> Vec<(PathBuf, String)> {
        let Ok(read) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        read.filter_map(Result::ok)
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                Some((entry.path(), name))
            })
            .collect()
    }

    /// Read `path` if it is a private regular file of ours within the size
    /// cap whose SHA-256 is `expected` (lowercase hex); else why not.
    fn read_checked(&self, path: &Path, expected: &str) -> Result<Vec<u8>, &'static str> {
        let meta = std::fs::symlink_metadata(path).map_err(|_| "cannot inspect the file")?;
        if !meta.file_type().is_file() {
            return Err("not a regular file");
        }
        if meta.uid() != self.uid || meta.permissions().mode() & 0o077 != 0 {
            return Err("not a private file of this user");
        }
        if meta.len() > self.max_entry_bytes {
            return Err("over the size cap");
        }
        let bytes = std::fs::read(path).map_err(|_| "cannot read the file")?;
        if ModuleDigest::of(&bytes).to_string() != expected {
            return Err("content does not match the digest in its name");
        }
        Ok(bytes)
    }

    /// The folder is a real folder, ours, with no group or other bits.
    fn check_folder(&self) -> Result<(), ArtifactCacheError> {
        let dir = self.dir.display().to_string();
        let meta =
            std::fs::symlink_metadata(&self.dir).map_err(|source| ArtifactCacheError::Folder {
                dir: dir.clone(),
                source,
            })?;
        if !meta.file_type().is_dir() {
            return Err(ArtifactCacheError::NotAFolder { dir });
        }
        if meta.uid() != self.uid {
            return Err(ArtifactCacheError::NotOwned {
                dir,
                owner: meta.uid(),
                uid: self.uid,
            });
        }
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(ArtifactCacheError::Insecure { dir, mode });
        }
        Ok(())
    }
}

/// Keys name files: lowercase hex digits and `-` only, 1 to 200 characters.
fn valid_key(key: &str) -> Result<(), ArtifactCacheError> {
    let ok = !key.is_empty()
        && key.len() <= 200
        && key
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b) || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ArtifactCacheError::InvalidKey(key.to_string()))
    }
}

/// This process's effective user id, from the `Uid:` line of
/// `/proc/self/status` (real, effective, saved, filesystem).
fn effective_uid() -> Result<u32, ArtifactCacheError> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| ArtifactCacheError::UserId(e.to_string()))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| ArtifactCacheError::UserId("no Uid line".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder path under the system's temporary folder (not created).
    fn scratch(name: &str) -> PathBuf {
        static N: AtomicU64 = AtomicU64::new(0);
        std::env::temp_dir().join(format!(
            "tollgate-artifact-cache-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ))
    }

    fn key() -> String {
        ArtifactCache::key(&ModuleDigest::of(b"module"), "engine-a")
    }

    #[test]
    fn round_trip_in_a_private_folder() {
        let dir = scratch("round-trip").join("nested");
        let cache = ArtifactCache::open(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert_eq!(cache.get(&key()), None);
        let path = cache.put(&key(), b"native code").unwrap();
        let file_mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(file_mode, 0o600);
        assert_eq!(cache.get(&key()).as_deref(), Some(&b"native code"[..]));
        // A second put of the same key replaces the entry.
        cache.put(&key(), b"native code 2").unwrap();
        assert_eq!(cache.get(&key()).as_deref(), Some(&b"native code 2"[..]));
        assert_eq!(cache.entries().len(), 1);
        // Reopening finds it.
        let again = ArtifactCache::open(&dir).unwrap();
        assert_eq!(again.get(&key()).as_deref(), Some(&b"native code 2"[..]));
        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }

    #[test]
    fn a_tampered_entry_is_deleted_not_returned() {
        let dir = scratch("tampered");
        let cache = ArtifactCache::open(&dir).unwrap();
        let path = cache.put(&key(), b"native code").unwrap();
        std::fs::write(&path, b"planted code").unwrap();
        assert_eq!(cache.get(&key()), None);
        assert!(!path.exists(), "the mismatching file is deleted");
        // A file planted under a name whose digest matches, but readable by others.
        let bytes = b"planted code";
        let planted = dir.join(format!("{}.{}.cwasm", key(), ModuleDigest::of(bytes)));
        std::fs::write(&planted, bytes).unwrap();
        std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(cache.get(&key()), None);
        assert!(!planted.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_insecure_or_foreign_folder_is_refused() {
        let dir = scratch("insecure");
        std::fs::create_dir_all(&dir).unwrap();
        for mode in [0o755, 0o770, 0o701, 0o777] {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
            match ArtifactCache::open(&dir) {
                Err(e @ ArtifactCacheError::Insecure { .. }) => {
                    assert!(e.to_string().contains("chmod 700"), "{e}");
                }
                other => panic!("{mode:o}: {other:?}"),
            }
        }
        // Opened while private, then opened up: reads stop.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let cache = ArtifactCache::open(&dir).unwrap();
        cache.put(&key(), b"native code").unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(cache.get(&key()), None);
        assert!(cache.put(&key(), b"x").is_err());
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        // A symbolic link to a private folder is refused too.
        let link = scratch("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        assert!(matches!(
            ArtifactCache::open(&link),
            Err(ArtifactCacheError::NotAFolder { .. })
        ));
        std::fs::remove_file(&link).unwrap();
        // Another owner (only when running as root can the test make one).
        if effective_uid().unwrap() == 0 {
            let foreign = scratch("foreign");
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&foreign)
                .unwrap();
            std::os::unix::fs::chown(&foreign, Some(65534), None).unwrap();
            assert!(matches!(
                ArtifactCache::open(&foreign),
                Err(ArtifactCacheError::NotOwned { owner: 65534, .. })
            ));
            std::fs::remove_dir_all(&foreign).unwrap();
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn keys_name_module_and_engine() {
        let dir = scratch("keys");
        let cache = ArtifactCache::open(&dir).unwrap();
        let a = ArtifactCache::key(&ModuleDigest::of(b"module"), "engine-a");
        let b = ArtifactCache::key(&ModuleDigest::of(b"module"), "engine-b");
        let c = ArtifactCache::key(&ModuleDigest::of(b"other"), "engine-a");
        assert_eq!(a.len(), 64 + 1 + 16);
        assert!(a.starts_with(&ModuleDigest::of(b"module").to_string()));
        cache.put(&a, b"for a").unwrap();
        assert_eq!(cache.get(&b), None, "another engine misses");
        assert_eq!(cache.get(&c), None, "another module misses");
        assert_eq!(cache.get(&a).as_deref(), Some(&b"for a"[..]));
        for bad in ["", "../etc", "ABC", "a/b", "a.b"] {
            assert!(matches!(
                cache.put(bad, b"x"),
                Err(ArtifactCacheError::InvalidKey(_))
            ));
            assert_eq!(cache.get(bad), None);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn size_cap_and_prune() {
        let dir = scratch("prune");
        let cache = ArtifactCache::open(&dir).unwrap().with_max_entry_bytes(8);
        assert!(matches!(
            cache.put(&key(), b"123456789"),
            Err(ArtifactCacheError::TooLarge { size: 9, max: 8 })
        ));
        let keys: Vec<String> = (0..4)
            .map(|i| ArtifactCache::key(&ModuleDigest::of(&[i]), "engine"))
            .collect();
        for (i, key) in keys.iter().enumerate() {
            cache.put(key, format!("art {i}").as_bytes()).unwrap();
            // Distinct modification times, oldest first.
            let path = dir.join(format!(
                "{key}.{}.cwasm",
                ModuleDigest::of(format!("art {i}").as_bytes())
            ));
            let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000 + i as u64);
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(when)
                .unwrap();
        }
        std::fs::write(dir.join(".tmp-left-over"), b"x").unwrap();
        assert_eq!(cache.prune(2).unwrap(), 3);
        assert_eq!(cache.get(&keys[0]), None);
        assert_eq!(cache.get(&keys[1]), None);
        assert!(cache.get(&keys[2]).is_some());
        assert!(cache.get(&keys[3]).is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
