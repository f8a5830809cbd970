//! A bundle in a local file, watched with `notify`.

use std::ffi::OsString;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant, SystemTime};

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use super::{Fetched, Poll, SourceError, SourceSettings, WATCH_DEBOUNCE};

/// The longest a wake-up is held back while events keep coming.
const WATCH_MAX_DELAY: Duration = Duration::from_millis(150);

/// What identifies the file's current contents without reading them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
    device: u64,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        let (inode, device) = {
            use std::os::unix::fs::MetadataExt;
            (meta.ino(), meta.dev())
        };
        #[cfg(not(unix))]
        let (inode, device) = (0, 0);
        Self {
            len: meta.len(),
            modified: meta.modified().ok(),
            inode,
            device,
        }
    }

    fn version(&self) -> String {
        let nanos = self
            .modified
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        format!("inode {} len {} mtime {nanos}", self.inode, self.len)
    }
}

#[derive(Debug)]
pub(super) struct FileSource {
    path: PathBuf,
    max_bytes: u64,
    last: Option<Stamp>,
    watcher: Option<RecommendedWatcher>,
    watch_taken: bool,
}

impl FileSource {
    pub(super) fn new(path: PathBuf, settings: &SourceSettings) -> Self {
        Self {
            path,
            max_bytes: settings.max_bytes,
            last: None,
            watcher: None,
            watch_taken: false,
        }
    }

    pub(super) async fn poll(&mut self) -> Result<Poll, SourceError> {
        let read_error = |source: std::io::Error| {
            if source.kind() == ErrorKind::NotFound {
                SourceError::FileMissing {
                    path: self.path.clone(),
                }
            } else {
                SourceError::FileRead {
                    path: self.path.clone(),
                    source,
                }
            }
        };
        // Open, then stat the open file: the stamp and the bytes belong to
        // the same inode even when a publisher renames a new file over it
        // meanwhile (that rename is then seen by the next poll).
        // A FIFO or a device would block the open: refused before it.
        let kind = tokio::fs::metadata(&self.path).await.map_err(read_error)?;
        if !kind.is_file() {
            return Err(SourceError::NotAFile {
                path: self.path.clone(),
            });
        }
        let mut file = tokio::fs::File::open(&self.path)
            .await
            .map_err(read_error)?;
        let meta = file.metadata().await.map_err(read_error)?;
        if !meta.is_file() {
            return Err(SourceError::NotAFile {
                path: self.path.clone(),
            });
        }
        let stamp = Stamp::of(&meta);
        if self.last.as_ref() == Some(&stamp) {
            return Ok(Poll::Unchanged);
        }
        if stamp.len > self.max_bytes {
            return Err(self.too_large(stamp.len, false));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(stamp.len).unwrap_or(0));
        (&mut file)
            .take(self.max_bytes.saturating_add(1))
            .read_to_end(&mut bytes)
            .await
            .map_err(read_error)?;
        let read = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if read > self.max_bytes {
            // Grown while being read.
            return Err(self.too_large(read, true));
        }
        let version = stamp.version();
        self.last = Some(stamp);
        Ok(Poll::Changed(Fetched {
            bytes,
            version: Some(version),
        }))
    }

    fn too_large(&self, size: u64, at_least: bool) -> SourceError {
        SourceError::TooLarge {
            source_name: self.path.display().to_string(),
            size,
            at_least,
            max_bytes: self.max_bytes,
        }
    }

    pub(super) fn wakeups(&mut self) -> Option<mpsc::Receiver<()>> {
        if self.watch_taken {
            return None;
        }
        self.watch_taken = true;
        match watch(&self.path) {
            Ok((watcher, receiver)) => {
                self.watcher = Some(watcher);
                Some(receiver)
            }
            Err(why) => {
                tracing::warn!(
                    path = %self.path.display(),
                    "cannot watch the bundle file ({why}); changes are seen at the next poll"
                );
                None
            }
        }
    }
}

/// Watches the folder of `path` (a publisher renames a new file over the
/// old one, which a watch on the file itself would not see) and forwards
/// the events that concern the file, debounced, to the returned channel.
fn watch(path: &Path) -> Result<(RecommendedWatcher, mpsc::Receiver<()>), String> {
    let name: OsString = path
        .file_name()
        .ok_or_else(|| format!("{} names no file", path.display()))?
        .to_owned();
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (raw_tx, raw_rx) = std_mpsc::channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
        let concerns_file = match &event {
            Ok(event) => {
                relevant(&event.kind)
                    && event
                        .paths
                        .iter()
                        .any(|p| p.file_name() == Some(name.as_os_str()))
            }
            // Events may have been lost (queue overflow): poll to be sure.
            Err(_) => true,
        };
        if concerns_file {
            // The receiver is gone only when the watch is being dropped.
            let _ = raw_tx.send(());
        }
    })
    .map_err(|e| e.to_string())?;
    watcher
        .watch(&folder, RecursiveMode::NonRecursive)
        .map_err(|e| format!("watching {}: {e}", folder.display()))?;
    let (tx, rx) = mpsc::channel(1);
    std::thread::Builder::new()
        .name("tollgate-bundle-watch".to_owned())
        .spawn(move || debounce(&raw_rx, &tx))
        .map_err(|e| format!("cannot start the watch thread: {e}"))?;
    Ok((watcher, rx))
}

/// Whether an event kind may mean new contents (opening or reading the
/// file, as the poll itself does, does not).
fn relevant(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// Forwards bursts of raw events as one wake-up, once they have been quiet
/// for [`WATCH_DEBOUNCE`] (or after [`WATCH_MAX_DELAY`] at most). Ends when
/// the watcher (holding the raw sender) or the receiver is dropped.
fn debounce(raw: &std_mpsc::Receiver<()>, wake: &mpsc::Sender<()>) {
    while raw.recv().is_ok() {
        let first = Instant::now();
        loop {
            let left = WATCH_MAX_DELAY.saturating_sub(first.elapsed());
            if left.is_zero() {
                break;
            }
            match raw.recv_timeout(WATCH_DEBOUNCE.min(left)) {
                Ok(()) => {}
                Err(std_mpsc::RecvTimeoutError::Timeout) => break,
                Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
        match wake.try_send(()) {
            // Full: a wake-up is already pending, which covers this one.
            Ok(()) | Err(mpsc::error::TrySendError::Full(())) => {}
            Err(mpsc::error::TrySendError::Closed(())) => return,
        }
    }
}
