//! The path corpus: data files of request targets and the canonical path
//! (or refusal) each must give, which every door's tests run through its
//! own mapping and the edge tests send through real proxies.
//!
//! Every `*.txt` file in [`DIR`] is a corpus file, found automatically.
//! One case a line, `#` starts a comment line:
//!
//! ```text
//! @options default                      # options for the cases below
//! /public/../admin        /admin        # target, then its canonical path
//! /public/%2e%2e/admin    !encoded-dot-segment
//! @options encoded_delimiters=keep path_parameters=strip
//! /a%2fb                  /a%2Fb
//! ```
//!
//! The target is what a client writes in its request line, query
//! included (the door splits it off); `\xNN` in it stands for the byte
//! `NN` (for control characters a text file cannot hold). The expectation
//! is a canonical path, or `!` and a [`PathRefusal`] name. `@options`
//! starts from the default and sets `name=value` words
//! ([`PathOptions::set`]); `@options default` is the default.

use std::path::{Path, PathBuf};

use crate::{PathOptions, PathRefusal, canonicalize};

/// The folder of the corpus files this crate ships.
pub const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/corpus");

/// One case of the corpus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorpusCase {
    /// `file:line`, for messages.
    pub origin: String,
    /// The request target, as a client sends it (query included).
    pub target: String,
    /// The options in force for it.
    pub options: PathOptions,
    /// Its canonical path, or why it is refused.
    pub expected: Result<String, PathRefusal>,
}

impl CorpusCase {
    /// The target's path: before the first `?`.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or(&self.target)
    }

    /// Whether the options are the default.
    pub fn default_options(&self) -> bool {
        self.options == PathOptions::default()
    }

    /// Compare `got` (a door's canonical path or refusal for this case)
    /// with the expectation; the error says which case and what differs.
    pub fn compare(&self, got: Result<&str, PathRefusal>) -> Result<(), String> {
        let expected = self.expected.as_ref().map(String::as_str).map_err(|r| *r);
        if got == expected {
            return Ok(());
        }
        Err(format!(
            "{}: {:?} gave {} where the corpus says {}",
            self.origin,
            self.target,
            shown(got),
            shown(expected)
        ))
    }

    /// Run [`canonicalize`] on the case's path and compare.
    pub fn check(&self) -> Result<(), String> {
        let got = canonicalize(self.path(), &self.options);
        self.compare(got.as_deref().map_err(|r| *r))
    }
}

fn shown(result: Result<&str, PathRefusal>) -> String {
    match result {
        Ok(path) => format!("{path:?}"),
        Err(refusal) => format!("refusal {}", refusal.as_str()),
    }
}

/// A corpus file that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// The folder or a file could not be read.
    #[error("cannot read the path corpus at {path}: {source}")]
    Read {
        /// What was read.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A line is not a case.
    #[error("{origin}: {message}")]
    Line {
        /// `file:line`.
        origin: String,
        /// What is wrong.
        message: String,
    },
}

/// Every case of every `*.txt` file in `dir`, files in name order.
pub fn load_dir(dir: &Path) -> Result<Vec<CorpusCase>, CorpusError> {
    let read_error = |source| CorpusError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_error)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "txt"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|source| CorpusError::Read {
            path: file.clone(),
            source,
        })?;
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        cases.extend(parse(&text, &name)?);
    }
    Ok(cases)
}

/// Every case of the corpus this crate ships ([`DIR`]).
pub fn bundled() -> Result<Vec<CorpusCase>, CorpusError> {
    load_dir(Path::new(DIR))
}

/// The cases of one corpus file's `text`, named `file` in messages.
pub fn parse(text: &str, file: &str) -> Result<Vec<CorpusCase>, CorpusError> {
    let mut options = PathOptions::default();
    let mut cases = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let origin = format!("{file}:{}", index + 1);
        let error = |message: String| CorpusError::Line {
            origin: origin.clone(),
            message,
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace().take_while(|w| !w.starts_with('#'));
        let first = words.next().unwrap_or_default();
        if first == "@options" {
            options = PathOptions::default();
            for word in words {
                if word == "default" {
                    continue;
                }
                let (name, value) = word
                    .split_once('=')
                    .ok_or_else(|| error(format!("write options as name=value, not {word:?}")))?;
                options.set(name, value).map_err(|e| error(e.0))?;
            }
            continue;
        }
        let (Some(expected), None) = (words.next(), words.next()) else {
            return Err(error(
                "write a case as `<target> <canonical path>` or `<target> !<refusal>`".into(),
            ));
        };
        let expected = match expected.strip_prefix('!') {
            Some(name) => Err(PathRefusal::from_name(name).ok_or_else(|| {
                error(format!(
                    "unknown refusal {name:?}; the refusals are {}",
                    PathRefusal::ALL.map(PathRefusal::as_str).join(", ")
                ))
            })?),
            None => Ok(expected.to_string()),
        };
        let target = unescape(first).map_err(error)?;
        cases.push(CorpusCase {
            origin,
            target,
            options,
            expected,
        });
    }
    Ok(cases)
}

/// `\xNN` as the byte `NN` (which must make the target UTF-8); any other
/// backslash is itself.
fn unescape(text: &str) -> Result<String, String> {
    let mut bytes = Vec::with_capacity(text.len());
    let raw = text.as_bytes();
    let mut i = 0;
    while let Some(&byte) = raw.get(i) {
        let escape = (byte == b'\\' && raw.get(i + 1) == Some(&b'x'))
            .then(|| {
                let hex = raw.get(i + 2..i + 4)?;
                u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
            })
            .flatten();
        match escape {
            Some(value) => {
                bytes.push(value);
                i += 4;
            }
            None => {
                bytes.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(bytes).map_err(|_| format!("{text:?} does not stand for UTF-8 text"))
}
