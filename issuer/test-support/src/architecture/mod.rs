//! Import loops between the files of a crate's `src`, found by reading its source: the check
//! behind "no module imports one that imports it back" (ARCHITECTURE.md).
//!
//! Every `crate::`, `super::` and `self::` path (in `use` declarations and in code) and every
//! `use` of a child module is resolved to the file that defines what it names. A name that a
//! module re-exports or imports is followed to where it is defined, so `super::KeyError` in
//! `keys/keygen.rs` points at `keys/error.rs`, not at `keys/mod.rs`. A `pub use` is a facade,
//! not a dependency: the module that re-exports depends on nothing through it. Code under
//! `#[cfg(test)]` is left out: a test module may use what it likes. Paths to other crates are
//! not followed. Where `src` has a `lib.rs`, the library is read: `main.rs` and `bin/` are
//! binaries of their own.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::write(dir.path().join("lib.rs"), "mod a;\nmod b;\n").unwrap();
//! std::fs::write(dir.path().join("a.rs"), "use crate::b::B;\npub struct A;\n").unwrap();
//! std::fs::write(dir.path().join("b.rs"), "pub struct B(crate::a::A);\n").unwrap();
//!
//! let loops = test_support::architecture::import_loops(dir.path());
//! assert_eq!(loops, vec![vec!["a.rs".to_owned(), "b.rs".to_owned()]]);
//! ```

mod lexing;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use self::lexing::{
    code_paths, contains_word, expand_use_tree, split_use_declarations, strip_comments_and_strings,
    without_tests,
};

/// A module's path inside its crate, `[]` being the crate root.
type ModulePath = Vec<String>;

/// The groups of files (relative to `src`, sorted) that import each other in a loop; empty when
/// dependencies run one way.
///
/// # Panics
/// When `src` or a file in it cannot be read.
pub fn import_loops(src: &Path) -> Vec<Vec<String>> {
    let crate_source = CrateSource::read(src);
    let graph = crate_source.import_graph();
    strongly_connected(&graph)
        .into_iter()
        .filter(|group| group.len() > 1)
        .collect()
}

/// The crate's modules, each with what it imports and which names it binds.
struct CrateSource {
    modules: BTreeMap<ModulePath, Module>,
}

struct Module {
    /// The file, relative to `src`.
    file: String,
    /// Absolute paths this module depends on.
    uses: Vec<ModulePath>,
    /// Names brought in by `use` (re-exported or not), with the absolute path they stand for.
    bindings: BTreeMap<String, ModulePath>,
}

impl CrateSource {
    fn read(src: &Path) -> Self {
        let mut files = Vec::new();
        collect_rust_files(src, &mut files);
        // With a library, `main.rs` and `bin/` are crates of their own that use it by name.
        if src.join("lib.rs").is_file() {
            files.retain(|file| {
                let relative = file.strip_prefix(src).expect("file under src");
                relative != Path::new("main.rs") && !relative.starts_with("bin")
            });
        }
        let paths: BTreeMap<ModulePath, String> = files
            .iter()
            .map(|file| {
                let relative = file.strip_prefix(src).expect("file under src");
                (module_path(relative), slash_path(relative))
            })
            .collect();
        let known: BTreeSet<ModulePath> = paths.keys().cloned().collect();
        let modules = paths
            .into_iter()
            .map(|(module, file)| {
                let code = without_tests(&strip_comments_and_strings(
                    &fs::read_to_string(src.join(&file)).expect("readable source file"),
                ));
                let parsed = Module::parse(&module, &code, &known, file);
                (module, parsed)
            })
            .collect();
        Self { modules }
    }

    /// File-level edges: which file depends on which (never on itself).
    fn import_graph(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for module in self.modules.values() {
            let edges = graph.entry(module.file.clone()).or_default();
            for path in &module.uses {
                if let Some(target) = self.defining_file(path, 0)
                    && target != module.file
                {
                    edges.insert(target);
                }
            }
        }
        graph
    }

    /// The file that defines what `path` names, following imports and re-exports.
    fn defining_file(&self, path: &[String], depth: usize) -> Option<String> {
        if depth > 16 {
            return None; // a glob or alias loop: give up rather than spin
        }
        let split = (0..=path.len())
            .rev()
            .find(|&len| self.modules.contains_key(&path[..len]))?;
        let module = &self.modules[&path[..split]];
        match path.get(split) {
            Some(name) => match module.bindings.get(name) {
                Some(target) => {
                    let mut followed = target.clone();
                    followed.extend_from_slice(&path[split + 1..]);
                    self.defining_file(&followed, depth + 1)
                        .or_else(|| Some(module.file.clone()))
                }
                None => Some(module.file.clone()),
            },
            None => Some(module.file.clone()),
        }
    }
}

impl Module {
    fn parse(module: &ModulePath, code: &str, known: &BTreeSet<ModulePath>, file: String) -> Self {
        let mut uses = Vec::new();
        let mut bindings = BTreeMap::new();
        let mut re_exports = Vec::new();
        let mut rest = String::new();
        for (statement, is_use) in split_use_declarations(code) {
            if !is_use {
                rest.push_str(statement);
                continue;
            }
            let public = statement.trim_start().starts_with("pub");
            let tree = statement
                .split_once("use")
                .map(|(_, tree)| tree)
                .unwrap_or_default();
            for (path, name) in expand_use_tree(tree) {
                let Some(absolute) = absolute(module, &path, known) else {
                    continue;
                };
                if name != "*" && name != "_" {
                    bindings.insert(name.clone(), absolute.clone());
                }
                if public {
                    re_exports.push((name, absolute));
                } else {
                    uses.push(absolute);
                }
            }
        }
        // A re-export is a dependency only where the module itself uses the name.
        for (name, absolute) in re_exports {
            if contains_word(&rest, &name) {
                uses.push(absolute);
            }
        }
        for path in code_paths(&rest) {
            let resolved = absolute(module, &path, known).or_else(|| {
                let (first, tail) = path.split_first()?;
                let mut bound = bindings.get(first)?.clone();
                bound.extend_from_slice(tail);
                Some(bound)
            });
            uses.extend(resolved);
        }
        Self {
            file,
            uses,
            bindings,
        }
    }
}

/// `path` made absolute from inside `module`: `crate::`, `super::`, `self::` or a child module's
/// name; `None` for another crate's path.
fn absolute(
    module: &ModulePath,
    path: &[String],
    known: &BTreeSet<ModulePath>,
) -> Option<ModulePath> {
    let (first, rest) = path.split_first()?;
    let mut base = match first.as_str() {
        "crate" => Vec::new(),
        "self" => module.clone(),
        "super" => {
            let mut parent = module.clone();
            parent.pop();
            let mut rest = rest;
            while rest.first().is_some_and(|segment| segment == "super") {
                parent.pop();
                rest = &rest[1..];
            }
            parent.extend_from_slice(rest);
            return Some(parent);
        }
        child => {
            let mut candidate = module.clone();
            candidate.push(child.to_owned());
            if !known.contains(&candidate) {
                return None;
            }
            candidate.truncate(module.len());
            candidate.push(child.to_owned());
            candidate.extend_from_slice(rest);
            return Some(candidate);
        }
    };
    base.extend_from_slice(rest);
    Some(base)
}

fn collect_rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("readable source directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            collect_rust_files(&path, files);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            files.push(path);
        }
    }
}

/// `lib.rs`/`main.rs` -> `[]`, `a/mod.rs` and `a.rs` -> `[a]`, `a/b.rs` -> `[a, b]`.
fn module_path(relative: &Path) -> ModulePath {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    let file = parts.pop().unwrap_or_default();
    match file.as_str() {
        "mod.rs" => {}
        "lib.rs" | "main.rs" if parts.is_empty() => {}
        _ => parts.push(file.trim_end_matches(".rs").to_owned()),
    }
    parts
}

fn slash_path(relative: &Path) -> String {
    relative
        .iter()
        .map(|part| part.to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Tarjan's strongly connected components, each sorted, in a stable order.
fn strongly_connected(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Search<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        groups: Vec<Vec<String>>,
    }
    impl<'a> Search<'a> {
        fn visit(&mut self, node: &'a str) {
            let number = self.index.len();
            self.index.insert(node, number);
            self.low.insert(node, number);
            self.stack.push(node);
            self.on_stack.insert(node);
            for next in self.graph.get(node).into_iter().flatten() {
                let next = next.as_str();
                if !self.index.contains_key(next) {
                    self.visit(next);
                    let low = self.low[node].min(self.low[next]);
                    self.low.insert(node, low);
                } else if self.on_stack.contains(next) {
                    let low = self.low[node].min(self.index[next]);
                    self.low.insert(node, low);
                }
            }
            if self.low[node] == self.index[node] {
                let mut group = Vec::new();
                while let Some(member) = self.stack.pop() {
                    self.on_stack.remove(member);
                    group.push(member.to_owned());
                    if member == node {
                        break;
                    }
                }
                group.sort();
                self.groups.push(group);
            }
        }
    }
    let mut search = Search {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        groups: Vec::new(),
    };
    for node in graph.keys() {
        if !search.index.contains_key(node.as_str()) {
            search.visit(node);
        }
    }
    search.groups.sort();
    search.groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crate_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        dir
    }

    fn loops(files: &[(&str, &str)]) -> Vec<Vec<String>> {
        import_loops(crate_with(files).path())
    }

    #[test]
    fn one_way_imports_have_no_loop() {
        let found = loops(&[
            ("lib.rs", "mod a;\nmod b;\nmod c;\n"),
            ("a.rs", "use crate::b::B;\nuse crate::{c::C, b};\n"),
            ("b.rs", "use super::c::C;\npub struct B;\n"),
            ("c.rs", "pub struct C;\n"),
        ]);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn a_loop_through_a_grouped_use_and_a_code_path_is_found() {
        let found = loops(&[
            ("lib.rs", "mod a;\nmod b;\nmod c;\n"),
            ("a.rs", "use crate::{c::{self, C as Renamed}};\n"),
            ("b.rs", "fn f() { crate::a::g(); }\n"),
            ("c.rs", "fn h() -> super::b::X { todo!() }\n"),
        ]);
        assert_eq!(found, vec![vec!["a.rs", "b.rs", "c.rs"]]);
    }

    #[test]
    fn a_facade_that_re_exports_its_children_is_no_loop() {
        let found = loops(&[
            ("lib.rs", "mod keys;\n"),
            (
                "keys/mod.rs",
                "mod error;\nmod keygen;\npub use self::error::KeyError;\npub use keygen::generate;\n",
            ),
            ("keys/error.rs", "pub struct KeyError;\n"),
            (
                "keys/keygen.rs",
                "use super::KeyError;\npub fn generate() {}\n",
            ),
        ]);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn a_loop_hidden_behind_a_parent_re_export_is_found() {
        let found = loops(&[
            ("lib.rs", "mod keys;\n"),
            (
                "keys/mod.rs",
                "mod a;\nmod b;\npub use a::A;\npub(crate) use b::B;\n",
            ),
            ("keys/a.rs", "use super::B;\npub struct A;\n"),
            ("keys/b.rs", "use super::A;\npub struct B;\n"),
        ]);
        assert_eq!(found, vec![vec!["keys/a.rs", "keys/b.rs"]]);
    }

    #[test]
    fn a_child_using_what_its_parent_defines_while_the_parent_calls_it_is_a_loop() {
        let found = loops(&[
            ("lib.rs", "mod keys;\n"),
            (
                "keys/mod.rs",
                "mod a;\npub const NAME: &str = \"x\";\nfn f() { a::run() }\n",
            ),
            ("keys/a.rs", "use super::NAME;\npub fn run() {}\n"),
        ]);
        assert_eq!(found, vec![vec!["keys/a.rs", "keys/mod.rs"]]);
    }

    #[test]
    fn test_modules_comments_and_strings_do_not_count() {
        let found = loops(&[
            ("lib.rs", "mod a;\nmod b;\n"),
            ("a.rs", "use crate::b::B;\n"),
            (
                "b.rs",
                "// crate::a::A\n/* use crate::a; */\nconst S: &str = \"crate::a::A {\";\nconst R: &str = r#\"use crate::a;\"#;\npub struct B;\n#[cfg(test)]\nmod tests {\n    use crate::a::A;\n    fn f() { let _ = '{'; }\n}\n",
            ),
        ]);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn other_crates_are_not_followed() {
        let found = loops(&[
            ("lib.rs", "mod a;\n"),
            ("a.rs", "use std::sync::Arc;\nuse serde::Serialize;\n"),
        ]);
        assert!(found.is_empty(), "{found:?}");
    }
}
