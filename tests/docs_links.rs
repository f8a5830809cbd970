//! Every relative link in the repository's Markdown resolves: `README.md`,
//! `docs/*.md`, `wit/README.md`, `deploy/README.md` and every other `*.md`
//! found by walking the workspace, outside `target/`, `node_modules/`,
//! `bench/peers/` (copied upstream files) and hidden folders.
//!
//! For each inline link `[text](target)` outside fenced code blocks and code
//! spans (targets starting with `http://`, `https://` or `mailto:` are
//! skipped), the file or folder must exist, resolved against the linking
//! file's folder. A `#fragment` into a Markdown file (`(#fragment)`: the page
//! itself) must name one of its headings by its GitHub slug: lower case,
//! spaces to `-`, every character other than alphanumerics, `-` and `_`
//! dropped (backticks included). All failures are reported at once, one
//! `file: link (why)` a line.

// Tests: a failed expectation is a panic, and fixtures are indexed directly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Folders skipped wherever they are: build output and installed packages.
const SKIPPED_NAMES: [&str; 2] = ["target", "node_modules"];
/// Folders skipped by their path from the workspace root: files copied
/// unchanged from elsewhere, links included.
const SKIPPED_PATHS: [&str; 1] = ["bench/peers"];
/// Link targets that are not files of this repository.
const EXTERNAL: [&str; 3] = ["http://", "https://", "mailto:"];

/// The workspace root (this crate is `tests/`).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent folder")
        .to_path_buf()
}

/// Every `*.md` file under `dir` (sorted), outside the skipped folders.
fn markdown_files(root: &Path, dir: &Path, found: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("a folder entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            let relative = path.strip_prefix(root).expect("under the root");
            let skipped = name.starts_with('.')
                || SKIPPED_NAMES.contains(&name)
                || SKIPPED_PATHS.iter().any(|p| relative == Path::new(p));
            if !skipped {
                markdown_files(root, &path, found);
            }
        } else if name.ends_with(".md") {
            found.push(path);
        }
    }
}

/// `markdown` with the lines of fenced code blocks (```` ``` ```` or `~~~`)
/// emptied: a link in an example is not a link.
fn outside_fences(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    let mut fence: Option<(char, usize)> = None;
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        let marker = trimmed.chars().next().filter(|c| *c == '`' || *c == '~');
        let run = marker.map_or(0, |m| trimmed.chars().take_while(|c| *c == m).count());
        match fence {
            None if run >= 3 => fence = marker.map(|m| (m, run)),
            None => out.push_str(line),
            Some((m, len)) => {
                if marker == Some(m) && run >= len && trimmed[run..].trim().is_empty() {
                    fence = None;
                }
            }
        }
        out.push('\n');
    }
    out
}

/// Where in `text` a run of exactly `len` backticks starts.
fn closing_backticks(text: &str, len: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'`' {
            let run = bytes[i..].iter().take_while(|b| **b == b'`').count();
            if run == len {
                return Some(i);
            }
            i += run;
        } else {
            i += 1;
        }
    }
    None
}

/// `paragraph` with every code span (`` `…` ``, ``` ``…`` ```) replaced by a
/// space: a link written in one is an example, not a link.
fn without_code_spans(paragraph: &str) -> String {
    let mut out = String::with_capacity(paragraph.len());
    let mut rest = paragraph;
    while let Some(start) = rest.find('`') {
        out.push_str(&rest[..start]);
        let open = rest[start..].bytes().take_while(|b| *b == b'`').count();
        let body = &rest[start + open..];
        match closing_backticks(body, open) {
            Some(end) => {
                out.push(' ');
                rest = &body[end + open..];
            }
            None => {
                out.push_str(&rest[start..start + open]);
                rest = body;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The targets of the inline links `[text](target)` (and images) in
/// `markdown`, outside fenced code blocks and code spans.
fn link_targets(markdown: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for paragraph in outside_fences(markdown).split("\n\n") {
        let text = without_code_spans(paragraph);
        let mut rest = text.as_str();
        while let Some(at) = rest.find("](") {
            let opened = rest[..at].contains('[');
            let after = &rest[at + 2..];
            let mut depth = 0usize;
            let mut end = after.len();
            for (i, c) in after.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' if depth == 0 => {
                        end = i;
                        break;
                    }
                    ')' => depth -= 1,
                    '\n' => {
                        end = i;
                        break;
                    }
                    _ => {}
                }
            }
            let inside = after[..end].trim();
            // `<target>`, or the target up to an optional "title".
            let target = match inside.strip_prefix('<') {
                Some(bracketed) => bracketed.split('>').next().unwrap_or(""),
                None => inside.split_whitespace().next().unwrap_or(""),
            };
            if opened {
                targets.push(target.to_string());
            }
            rest = &after[end..];
        }
    }
    targets
}

/// GitHub's anchor for a heading: lower case, spaces to `-`, every other
/// character but alphanumerics, `-` and `_` dropped.
fn slug(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of every ATX heading (`# …` to `###### …`) of `markdown`,
/// outside fenced code blocks; a repeated heading gets `-1`, `-2`, … as on
/// GitHub.
fn heading_anchors(markdown: &str) -> HashSet<String> {
    let mut anchors = HashSet::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for line in outside_fences(markdown).lines() {
        let trimmed = line.trim_start();
        let level = trimmed.chars().take_while(|c| *c == '#').count();
        let rest = &trimmed[level..];
        if !(1..=6).contains(&level) || !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
            continue;
        }
        let title = rest.trim();
        let unclosed = title.trim_end_matches('#');
        let title = if unclosed.is_empty() || unclosed.ends_with(' ') {
            unclosed.trim()
        } else {
            title
        };
        let base = slug(title);
        let count = seen.entry(base.clone()).or_insert(0);
        let anchor = if *count == 0 {
            base
        } else {
            format!("{base}-{count}")
        };
        *count += 1;
        anchors.insert(anchor);
    }
    anchors
}

/// Checks links against the files on disk, reading each linked page once.
struct Checker {
    root: PathBuf,
    anchors: HashMap<PathBuf, HashSet<String>>,
}

impl Checker {
    /// Why `target`, linked from `file`, does not resolve (`None`: it does).
    fn problem(&mut self, file: &Path, target: &str) -> Option<String> {
        if target.is_empty() {
            return Some("empty target".to_string());
        }
        let (path, fragment) = match target.split_once('#') {
            Some((path, fragment)) => (path, fragment),
            None => (target, ""),
        };
        let resolved = if path.is_empty() {
            file.to_path_buf()
        } else if let Some(from_root) = path.strip_prefix('/') {
            self.root.join(from_root)
        } else {
            file.parent().expect("a file has a folder").join(path)
        };
        if !resolved.exists() {
            return Some(format!("no such file or folder: {}", resolved.display()));
        }
        let is_markdown = resolved.is_file() && resolved.extension().is_some_and(|e| e == "md");
        if fragment.is_empty() || !is_markdown {
            return None;
        }
        let anchors = self.anchors.entry(resolved.clone()).or_insert_with(|| {
            let text = fs::read_to_string(&resolved)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", resolved.display()));
            heading_anchors(&text)
        });
        if anchors.contains(fragment) {
            return None;
        }
        let shown = resolved.strip_prefix(&self.root).unwrap_or(&resolved);
        Some(format!(
            "no heading with the anchor `#{fragment}` in {}",
            shown.display()
        ))
    }
}

#[test]
fn every_relative_link_resolves() {
    let root = workspace_root();
    let mut files = Vec::new();
    markdown_files(&root, &root, &mut files);
    assert!(
        files.contains(&root.join("README.md")),
        "the walk from {} found no README.md",
        root.display()
    );
    let mut checker = Checker {
        root: root.clone(),
        anchors: HashMap::new(),
    };
    let mut checked = 0;
    let mut failures = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        for target in link_targets(&text) {
            if EXTERNAL.iter().any(|scheme| target.starts_with(scheme)) {
                continue;
            }
            checked += 1;
            if let Some(why) = checker.problem(file, &target) {
                let name = file.strip_prefix(&root).unwrap_or(file);
                failures.push(format!("{}: {target} ({why})", name.display()));
            }
        }
    }
    assert!(checked > 0, "no relative link in {} files", files.len());
    assert!(
        failures.is_empty(),
        "{} of {checked} relative links do not resolve:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn slugs_follow_github() {
    assert_eq!(slug("How a token is checked"), "how-a-token-is-checked");
    assert_eq!(slug("`[[issuer.secrets]]`"), "issuersecrets");
    assert_eq!(
        slug("The bootstrap binary: old, default and lean builds"),
        "the-bootstrap-binary-old-default-and-lean-builds"
    );
    assert_eq!(slug("Tests_and `more`-things"), "tests_and-more-things");
    let markdown = "# Title\n\n## Keys\n\n```sh\n# not a heading\n```\n## Keys ##\n";
    let expected: HashSet<String> = ["title", "keys", "keys-1"].map(String::from).into();
    assert_eq!(heading_anchors(markdown), expected);
}

#[test]
fn links_in_code_are_not_links() {
    let markdown = "See [a](a.md) and [`b`](b.md#x \"title\").\n\
                    \n\
                    ```md\n\
                    [fenced](nowhere.md)\n\
                    ```\n\
                    \n\
                    Code: `[span](nowhere.md)` and ``[double](nowhere.md)``, then\n\
                    [c](<c d.md>) and [e](https://example.com/(x)).\n";
    assert_eq!(
        link_targets(markdown),
        ["a.md", "b.md#x", "c d.md", "https://example.com/(x)"]
    );
}
