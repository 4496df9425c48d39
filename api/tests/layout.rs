//! The rooms of `api/src` hold: `http` (the service) imports nothing from `cli` (the binary),
//! and no modules form an import circle, except a module with its own descendants. A circle
//! is how one room starts to lean on another's insides; this test names it when it appears.
//!
//! Imports are read from the source as text: every `crate::…` and `super::…` path (with `use`
//! groups expanded) is an edge from the file's module to the deepest module the path names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `http/routes/mod.rs` is `http::routes`; the crate's roots and `bin/` are not modules of it.
fn module_of(root: &Path, file: &Path) -> Option<Module> {
    let relative = file.strip_prefix(root).unwrap().with_extension("");
    let mut parts: Module = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts.first().is_some_and(|p| p == "bin") {
        return None;
    }
    if parts
        .last()
        .is_some_and(|p| matches!(p.as_str(), "mod" | "lib" | "main"))
    {
        parts.pop();
    }
    Some(parts)
}

fn without_comments(source: &str) -> String {
    source
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every path starting at `crate::` or `super::`, as segments from the crate's root; a `use`
/// group (`crate::a::{b, c::d}`) gives one path per member.
fn paths_in(module: &Module, source: &str) -> Vec<Module> {
    let text = without_comments(source);
    let mut found = Vec::new();
    let bytes: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !is_ident(bytes[i - 1]) && bytes[i - 1] != ':';
        let rest: String = bytes[i..bytes.len().min(i + 7)].iter().collect();
        if !starts_word || !(rest.starts_with("crate::") || rest.starts_with("super::")) {
            i += 1;
            continue;
        }
        // Read `seg::seg::…`, and a trailing `{…}` group.
        let mut segments: Vec<String> = Vec::new();
        let mut group = None;
        loop {
            let start = i;
            while i < bytes.len() && is_ident(bytes[i]) {
                i += 1;
            }
            segments.push(bytes[start..i].iter().collect());
            if bytes.get(i) == Some(&':') && bytes.get(i + 1) == Some(&':') {
                i += 2;
                if bytes.get(i) == Some(&'{') {
                    let mut depth = 0;
                    let open = i;
                    while i < bytes.len() {
                        match bytes[i] {
                            '{' => depth += 1,
                            '}' => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                        i += 1;
                    }
                    group = Some(bytes[open + 1..i].iter().collect::<String>());
                    break;
                }
                continue;
            }
            break;
        }
        let absolute = absolute(module, &segments);
        match group {
            None => found.push(absolute),
            Some(members) => {
                found.push(absolute.clone());
                for member in members.split(',') {
                    let first: String =
                        member.trim().chars().take_while(|c| is_ident(*c)).collect();
                    if !first.is_empty() && first != "self" {
                        let mut path = absolute.clone();
                        path.push(first);
                        found.push(path);
                    }
                }
            }
        }
    }
    found
}

fn absolute(module: &Module, segments: &[String]) -> Module {
    let mut segments = segments.iter().peekable();
    let mut base: Module = Vec::new();
    if segments.peek().is_some_and(|s| *s == "crate") {
        segments.next();
    } else {
        base = module.clone();
        // `super` in `a/b.rs` and in `a/b/mod.rs` (both module a::b) is `a`.
        while segments.peek().is_some_and(|s| *s == "super") {
            segments.next();
            base.pop();
        }
    }
    base.extend(segments.cloned());
    base
}

/// The deepest module `path` names (an item's path ends in its module).
fn resolve(modules: &BTreeSet<Module>, path: &Module) -> Option<Module> {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|m| modules.contains(m))
}

fn related(a: &Module, b: &Module) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

struct Graph {
    edges: BTreeMap<Module, BTreeSet<Module>>,
}

impl Graph {
    fn read(root: &Path) -> Graph {
        let mut files = Vec::new();
        source_files(root, &mut files);
        let sources: Vec<(Module, String)> = files
            .iter()
            .filter_map(|file| {
                Some((
                    module_of(root, file)?,
                    std::fs::read_to_string(file).unwrap(),
                ))
            })
            .collect();
        let modules: BTreeSet<Module> = sources.iter().map(|(m, _)| m.clone()).collect();
        let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
        for (module, source) in &sources {
            let targets = edges.entry(module.clone()).or_default();
            for path in paths_in(module, source) {
                if let Some(target) = resolve(&modules, &path)
                    && !related(module, &target)
                {
                    targets.insert(target);
                }
            }
        }
        Graph { edges }
    }

    /// Groups of modules that reach each other (Tarjan), those of more than one module.
    fn circles(&self) -> Vec<Vec<Module>> {
        struct Walk<'g> {
            graph: &'g Graph,
            index: BTreeMap<&'g Module, usize>,
            low: BTreeMap<&'g Module, usize>,
            stack: Vec<&'g Module>,
            on_stack: BTreeSet<&'g Module>,
            found: Vec<Vec<Module>>,
        }
        impl<'g> Walk<'g> {
            fn visit(&mut self, v: &'g Module) {
                let n = self.index.len();
                self.index.insert(v, n);
                self.low.insert(v, n);
                self.stack.push(v);
                self.on_stack.insert(v);
                for w in self.graph.edges.get(v).into_iter().flatten() {
                    if !self.index.contains_key(w) {
                        self.visit(w);
                        let low = self.low[v].min(self.low[w]);
                        self.low.insert(v, low);
                    } else if self.on_stack.contains(w) {
                        let low = self.low[v].min(self.index[w]);
                        self.low.insert(v, low);
                    }
                }
                if self.low[v] == self.index[v] {
                    let mut group = Vec::new();
                    loop {
                        let w = self.stack.pop().unwrap();
                        self.on_stack.remove(w);
                        group.push(w.clone());
                        if w == v {
                            break;
                        }
                    }
                    if group.len() > 1 {
                        group.sort();
                        self.found.push(group);
                    }
                }
            }
        }
        let mut walk = Walk {
            graph: self,
            index: BTreeMap::new(),
            low: BTreeMap::new(),
            stack: Vec::new(),
            on_stack: BTreeSet::new(),
            found: Vec::new(),
        };
        for v in self.edges.keys() {
            if !walk.index.contains_key(v) {
                walk.visit(v);
            }
        }
        walk.found
    }
}

fn shown(m: &Module) -> String {
    m.join("::")
}

fn api_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn the_http_service_imports_nothing_from_the_binary() {
    let graph = Graph::read(&api_src());
    let leaning: Vec<String> = graph
        .edges
        .iter()
        .filter(|(from, _)| from.first().is_some_and(|r| r == "http"))
        .flat_map(|(from, to)| {
            to.iter()
                .filter(|t| t.first().is_some_and(|r| r == "cli"))
                .map(move |t| format!("{} -> {}", shown(from), shown(t)))
        })
        .collect();
    assert!(leaning.is_empty(), "http imports from cli: {leaning:#?}");
}

#[test]
fn no_modules_import_each_other_in_a_circle() {
    let graph = Graph::read(&api_src());
    let circles: Vec<String> = graph
        .circles()
        .iter()
        .map(|group| {
            let members: BTreeSet<&Module> = group.iter().collect();
            let edges: Vec<String> = group
                .iter()
                .flat_map(|from| {
                    graph.edges[from]
                        .iter()
                        .filter(|to| members.contains(to))
                        .map(move |to| format!("  {} -> {}", shown(from), shown(to)))
                })
                .collect();
            format!("{} modules:\n{}", group.len(), edges.join("\n"))
        })
        .collect();
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

/// The reader itself: a circle made on purpose is found, and one between a module and its own
/// child is not one.
#[test]
fn a_circle_is_found_and_a_parent_with_its_child_is_not() {
    let dir = std::env::temp_dir().join(format!("layout-{}", std::process::id()));
    let write = |path: &str, text: &str| {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    };
    write("lib.rs", "mod a; mod b; mod p;");
    write("a.rs", "use crate::b::Thing;");
    write(
        "b.rs",
        "// crate::a::Other is only a comment here\nfn f() { crate::a::other() }",
    );
    write(
        "p/mod.rs",
        "mod child; use self::child::X; use crate::p::child::Y;",
    );
    write("p/child.rs", "use super::Z; use crate::p::W;");
    let graph = Graph::read(&dir);
    let circles = graph.circles();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        circles,
        vec![vec![vec!["a".to_string()], vec!["b".to_string()]]]
    );
}
