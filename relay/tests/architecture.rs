//! The shape of the house, checked: the module import graph of each crate has no
//! cycle, no module imports a module above it (the one that wires it), and no source
//! file outside tests is longer than `MAX_LINES`.
//!
//! The graph is read from the sources: `mod` declarations give the tree of modules;
//! `crate::`, `super::` and `self::` paths (in `use` trees and in code), and paths
//! through a module's own children, give the edges. A path points at the deepest module
//! it names: `crate::ledger::rows::Session` is an edge to `ledger/rows.rs` only.
//! Comments, strings and `#[cfg(test)]` items (inline `mod tests` or a child
//! `tests.rs`) are left out: a test may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Longest source file allowed outside tests, inline `#[cfg(test)]` blocks included.
const MAX_LINES: usize = 900;

/// The crates held to the rules. Switch one to `true` once its shape is fixed.
const CRATES: &[(&str, bool)] = &[("relay", true), ("core", true), ("sdk", true)];

#[test]
fn no_module_graph_has_a_cycle_an_upward_import_or_a_file_over_the_limit() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut failures = Vec::new();
    for &(name, enforced) in CRATES {
        let problems = check(&root.join(name).join("src"), name);
        if problems.is_empty() {
            continue;
        }
        let report = format!("{name}:\n  {}", problems.join("\n  "));
        if enforced {
            failures.push(report);
        } else {
            eprintln!("not yet enforced, {report}");
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// The SDK's shell, the package's JS entry, keeps only JS effects (sockets, the bus,
/// locks, timers, page events, callbacks) and the API's checks; the tab protocol it
/// drives is core's, in the wasm. Past this it is taking rules back.
const SDK_SHELL_MAX_LINES: usize = 800;

#[test]
fn the_sdk_shell_stays_a_thin_layer_of_effects() {
    let shell = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/js/rollcall.js");
    let lines = std::fs::read_to_string(&shell)
        .expect("sdk/js/rollcall.js")
        .lines()
        .count();
    assert!(
        lines < SDK_SHELL_MAX_LINES,
        "sdk/js/rollcall.js has {lines} lines (limit {SDK_SHELL_MAX_LINES}): a rule belongs in core::tabs"
    );
}

/// Every rule broken in the crate whose sources are in `src`, one line each.
fn check(src: &Path, name: &str) -> Vec<String> {
    let crate_ = Crate::read(src);
    let mut problems = Vec::new();
    for (members, cycle) in crate_.cycles() {
        let names: Vec<_> = cycle.iter().map(|f| crate_.show(f)).collect();
        let mut all: Vec<_> = members.iter().map(|f| crate_.show(f)).collect();
        all.sort();
        problems.push(format!(
            "import cycle: {} (files in the cycle: {})",
            names.join(" -> "),
            all.join(", ")
        ));
    }
    for (from, to) in crate_.upward() {
        problems.push(format!(
            "{} imports {}, the module that wires it",
            crate_.show(&from),
            crate_.show(&to)
        ));
    }
    for (file, lines) in &crate_.lines {
        if *lines > MAX_LINES {
            problems.push(format!("{} has {lines} lines (at most {MAX_LINES})", crate_.show(file)));
        }
    }
    let _ = name;
    problems
}

/// One crate's modules: which file holds each, the edges between files, the lengths.
struct Crate {
    src: PathBuf,
    /// Module path (`["ledger", "rows"]`) to the file that holds it; an inline module
    /// maps to its file.
    modules: BTreeMap<Vec<String>, PathBuf>,
    /// File to the module path of the file itself.
    file_module: BTreeMap<PathBuf, Vec<String>>,
    /// Module path to the module paths its code names.
    refs: BTreeMap<Vec<String>, Vec<Vec<String>>>,
    lines: BTreeMap<PathBuf, usize>,
    /// A private child's file to its parent's: the parent's code split over files
    /// (`impl Roster` by concern, as quinn-proto splits `Connection`). A part may use its
    /// parent's items; the graph sees the two as one module.
    parts: BTreeMap<PathBuf, PathBuf>,
}

impl Crate {
    fn read(src: &Path) -> Crate {
        let mut c = Crate {
            src: src.to_path_buf(),
            modules: BTreeMap::new(),
            file_module: BTreeMap::new(),
            refs: BTreeMap::new(),
            lines: BTreeMap::new(),
            parts: BTreeMap::new(),
        };
        let mut raw: Vec<(Vec<String>, Vec<Vec<String>>)> = Vec::new();
        // A binary beside the library is a crate of its own: only its length counts here.
        let lib = src.join("lib.rs");
        let main = src.join("main.rs");
        if lib.is_file() {
            c.walk(&lib, Vec::new(), &mut raw);
            if let Ok(text) = std::fs::read_to_string(&main) {
                c.lines.insert(main, text.lines().count());
            }
        } else {
            c.walk(&main, Vec::new(), &mut raw);
        }
        // Resolve after the whole tree is known: a path may name a module declared later.
        for (module, paths) in raw {
            let targets = paths.iter().filter_map(|p| c.resolve(&module, p)).collect();
            c.refs.entry(module).or_default().extend::<Vec<_>>(targets);
        }
        c
    }

    fn walk(&mut self, file: &Path, module: Vec<String>, raw: &mut Vec<(Vec<String>, Vec<Vec<String>>)>) {
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        self.lines.insert(file.to_path_buf(), text.lines().count());
        self.modules.insert(module.clone(), file.to_path_buf());
        self.file_module.insert(file.to_path_buf(), module.clone());
        let parsed = parse(&tokens(&text));
        for inline in &parsed.inline {
            let mut m = module.clone();
            m.extend(inline.iter().cloned());
            self.modules.insert(m, file.to_path_buf());
        }
        for (inner, paths) in parsed.paths {
            let mut m = module.clone();
            m.extend(inner);
            raw.push((m, paths));
        }
        let stem = file.file_stem().unwrap().to_string_lossy().to_string();
        let dir = if matches!(stem.as_str(), "lib" | "main" | "mod") {
            file.parent().unwrap().to_path_buf()
        } else {
            file.parent().unwrap().join(&stem)
        };
        for (child, public) in parsed.children {
            let flat = dir.join(format!("{child}.rs"));
            let nested = dir.join(&child).join("mod.rs");
            let path = if flat.is_file() { flat } else { nested };
            let mut m = module.clone();
            m.push(child);
            if !public {
                self.parts.insert(path.clone(), file.to_path_buf());
            }
            self.walk(&path, m, raw);
        }
    }

    /// The deepest module `path` names, seen from `from`; `None` outside the crate.
    fn resolve(&self, from: &[String], path: &[String]) -> Option<Vec<String>> {
        let mut at: Vec<String>;
        let mut rest = path;
        match path.first().map(String::as_str) {
            Some("crate") => {
                at = Vec::new();
                rest = &path[1..];
            }
            Some("self") | Some("super") => {
                at = from.to_vec();
                while let Some(first) = rest.first() {
                    match first.as_str() {
                        "self" => {}
                        "super" => {
                            at.pop()?;
                        }
                        _ => break,
                    }
                    rest = &rest[1..];
                }
            }
            Some(first) => {
                // A path through one of this module's own children.
                let mut child = from.to_vec();
                child.push(first.to_string());
                if !self.modules.contains_key(&child) {
                    return None;
                }
                at = from.to_vec();
            }
            None => return None,
        }
        for segment in rest {
            let mut next = at.clone();
            next.push(segment.clone());
            if !self.modules.contains_key(&next) {
                break;
            }
            at = next;
        }
        Some(at)
    }

    /// The file of the module `file` is a part of: itself unless it is a private child.
    fn owner<'a>(&'a self, mut file: &'a PathBuf) -> &'a PathBuf {
        while let Some(parent) = self.parts.get(file) {
            file = parent;
        }
        file
    }

    /// Module-level edges, by file: which modules each module's code names (a private
    /// child's file counts as its parent's).
    fn edges(&self) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
        let mut edges: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
        for file in self.file_module.keys() {
            edges.entry(self.owner(file).clone()).or_default();
        }
        for (module, targets) in &self.refs {
            let from = self.owner(&self.modules[module]);
            for target in targets {
                let to = self.owner(&self.modules[target]);
                if to != from {
                    edges.entry(from.clone()).or_default().insert(to.clone());
                }
            }
        }
        edges
    }

    /// Imports of an ancestor module (the crate root included), file to file.
    fn upward(&self) -> Vec<(PathBuf, PathBuf)> {
        let mut found = BTreeSet::new();
        for (module, targets) in &self.refs {
            for target in targets {
                let from = &self.modules[module];
                let to = &self.modules[target];
                if target.len() < module.len() && module.starts_with(target) && self.owner(from) != self.owner(to) {
                    found.insert((from.clone(), to.clone()));
                }
            }
        }
        found.into_iter().collect()
    }

    /// Every strongly connected group of more than one file (Tarjan): its files, and
    /// one loop through them.
    fn cycles(&self) -> Vec<(Vec<PathBuf>, Vec<PathBuf>)> {
        let edges = self.edges();
        let nodes: Vec<&PathBuf> = edges.keys().collect();
        let index_of: BTreeMap<&PathBuf, usize> = nodes.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let succ: Vec<Vec<usize>> = nodes
            .iter()
            .map(|n| edges[*n].iter().map(|t| index_of[t]).collect())
            .collect();
        let mut tarjan = Tarjan {
            succ: &succ,
            index: vec![None; nodes.len()],
            low: vec![0; nodes.len()],
            on_stack: vec![false; nodes.len()],
            stack: Vec::new(),
            next: 0,
            groups: Vec::new(),
        };
        for v in 0..nodes.len() {
            if tarjan.index[v].is_none() {
                tarjan.visit(v);
            }
        }
        tarjan
            .groups
            .into_iter()
            .filter(|g| g.len() > 1)
            .map(|group| {
                let mut loop_ = one_loop(&succ, &group);
                loop_.push(loop_[0]);
                (
                    group.iter().map(|&i| nodes[i].clone()).collect(),
                    loop_.into_iter().map(|i| nodes[i].clone()).collect(),
                )
            })
            .collect()
    }

    fn show(&self, file: &Path) -> String {
        file.strip_prefix(&self.src).unwrap_or(file).display().to_string()
    }
}

struct Tarjan<'a> {
    succ: &'a [Vec<usize>],
    index: Vec<Option<usize>>,
    low: Vec<usize>,
    on_stack: Vec<bool>,
    stack: Vec<usize>,
    next: usize,
    groups: Vec<Vec<usize>>,
}

impl Tarjan<'_> {
    fn visit(&mut self, v: usize) {
        self.index[v] = Some(self.next);
        self.low[v] = self.next;
        self.next += 1;
        self.stack.push(v);
        self.on_stack[v] = true;
        for &w in &self.succ[v] {
            match self.index[w] {
                None => {
                    self.visit(w);
                    self.low[v] = self.low[v].min(self.low[w]);
                }
                Some(i) if self.on_stack[w] => self.low[v] = self.low[v].min(i),
                Some(_) => {}
            }
        }
        if Some(self.low[v]) == self.index[v] {
            let mut group = Vec::new();
            while let Some(w) = self.stack.pop() {
                self.on_stack[w] = false;
                group.push(w);
                if w == v {
                    break;
                }
            }
            self.groups.push(group);
        }
    }
}

/// A shortest loop through the first member of a strongly connected group.
fn one_loop(succ: &[Vec<usize>], group: &[usize]) -> Vec<usize> {
    let start = *group.iter().min().unwrap();
    let inside: BTreeSet<usize> = group.iter().copied().collect();
    let mut parent: BTreeMap<usize, usize> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for &w in &succ[v] {
            if w == start {
                let mut path = vec![v];
                let mut at = v;
                while at != start {
                    at = parent[&at];
                    path.push(at);
                }
                path.reverse();
                return path;
            }
            if inside.contains(&w) && !parent.contains_key(&w) {
                parent.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    vec![start]
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    Sep,
    Punct(char),
}

/// The tokens that matter for paths: identifiers, `::` and punctuation; comments,
/// strings, characters, lifetimes and numbers are dropped.
fn tokens(text: &str) -> Vec<Tok> {
    let b: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == '/' && b.get(i + 1) == Some(&'/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && b.get(i + 1) == Some(&'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == '"' {
            i = skip_string(&b, i + 1);
        } else if (c == 'r' || c == 'b') && raw_string_start(&b, i).is_some() {
            let (hashes, body) = raw_string_start(&b, i).unwrap();
            i = body;
            while i < b.len() {
                if b[i] == '"' && (0..hashes).all(|k| b.get(i + 1 + k) == Some(&'#')) {
                    i += 1 + hashes;
                    break;
                }
                i += 1;
            }
        } else if c == 'b' && b.get(i + 1) == Some(&'"') {
            i = skip_string(&b, i + 2);
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if b.get(i + 1) == Some(&'\\') {
                i += 2;
                while i < b.len() && b[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if b.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
                while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                    i += 1;
                }
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                i += 1;
            }
            let word: String = b[start..i].iter().collect();
            // A raw identifier r#name.
            if word == "r" && b.get(i) == Some(&'#') && b.get(i + 1).is_some_and(|c| c.is_alphabetic()) {
                let start = i + 1;
                i = start;
                while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                    i += 1;
                }
                out.push(Tok::Ident(b[start..i].iter().collect()));
            } else {
                out.push(Tok::Ident(word));
            }
        } else if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_' || b[i] == '.') {
                if b[i] == '.' && b.get(i + 1) == Some(&'.') {
                    break;
                }
                i += 1;
            }
        } else if c == ':' && b.get(i + 1) == Some(&':') {
            out.push(Tok::Sep);
            i += 2;
        } else if c.is_whitespace() {
            i += 1;
        } else {
            out.push(Tok::Punct(c));
            i += 1;
        }
    }
    out
}

fn skip_string(b: &[char], mut i: usize) -> usize {
    while i < b.len() {
        match b[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// For `r"`, `r#"`, `br"`, ...: the number of `#` and where the body starts.
fn raw_string_start(b: &[char], i: usize) -> Option<(usize, usize)> {
    let mut j = i;
    if b[j] == 'b' {
        j += 1;
    }
    if b.get(j) != Some(&'r') {
        return None;
    }
    if i > 0 && (b[i - 1].is_alphanumeric() || b[i - 1] == '_') {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while b.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    (b.get(j) == Some(&'"')).then_some((hashes, j + 1))
}

#[derive(Default)]
struct Parsed {
    /// `mod name;` declarations outside tests, and whether each is `pub` (a private one
    /// is a part of this module kept in a file of its own, not a module of its own).
    children: Vec<(String, bool)>,
    /// Inline `mod name { .. }` outside tests, as paths below the file's module.
    inline: Vec<Vec<String>>,
    /// For the file's module and each inline module in it: the paths its code names.
    paths: Vec<(Vec<String>, Vec<Vec<String>>)>,
}

fn parse(toks: &[Tok]) -> Parsed {
    let mut parsed = Parsed::default();
    let mut found: BTreeMap<Vec<String>, Vec<Vec<String>>> = BTreeMap::new();
    // Inline modules open at this point: (name, brace depth inside it).
    let mut open: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    let ident = |i: usize| match toks.get(i) {
        Some(Tok::Ident(s)) => Some(s.as_str()),
        _ => None,
    };
    while i < toks.len() {
        let here: Vec<String> = open.iter().map(|(n, _)| n.clone()).collect();
        match &toks[i] {
            Tok::Punct('#') if is_cfg_test(toks, i) => {
                i = skip_item(toks, skip_attribute(toks, i));
                continue;
            }
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                depth = depth.saturating_sub(1);
                if open.last().is_some_and(|(_, d)| *d > depth) {
                    open.pop();
                }
            }
            Tok::Ident(w) if w == "mod" && ident(i + 1).is_some() => {
                let name = ident(i + 1).unwrap().to_string();
                match toks.get(i + 2) {
                    Some(Tok::Punct(';')) if open.is_empty() => {
                        let public = i > 0 && ident(i - 1) == Some("pub");
                        parsed.children.push((name, public));
                    }
                    Some(Tok::Punct('{')) => {
                        depth += 1;
                        open.push((name.clone(), depth));
                        let mut m = here.clone();
                        m.push(name);
                        parsed.inline.push(m);
                        i += 3;
                        continue;
                    }
                    _ => {}
                }
                i += 2;
                continue;
            }
            Tok::Ident(w) if w == "use" => {
                let mut paths = Vec::new();
                i = use_tree(toks, i + 1, &mut Vec::new(), &mut paths);
                found.entry(here).or_default().extend(paths);
                continue;
            }
            Tok::Ident(_) if !matches!(toks.get(i.wrapping_sub(1)), Some(Tok::Sep)) || i == 0 => {
                if matches!(toks.get(i + 1), Some(Tok::Sep)) {
                    let mut path = Vec::new();
                    let mut j = i;
                    while let Some(seg) = ident(j) {
                        path.push(seg.to_string());
                        if !matches!(toks.get(j + 1), Some(Tok::Sep)) {
                            break;
                        }
                        j += 2;
                    }
                    found.entry(here).or_default().push(path);
                    i = j + 1;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    parsed.paths = found.into_iter().collect();
    parsed
}

/// Reads one use tree from `i` (after `use`), pushing each full path; returns where it ends.
fn use_tree(toks: &[Tok], mut i: usize, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    let depth = prefix.len();
    loop {
        match toks.get(i) {
            Some(Tok::Ident(s)) if s == "as" => i += 2,
            Some(Tok::Ident(s)) => {
                prefix.push(s.clone());
                i += 1;
            }
            Some(Tok::Sep) => i += 1,
            Some(Tok::Punct('*')) => i += 1,
            Some(Tok::Punct('{')) => {
                i += 1;
                loop {
                    let mut inner = prefix.clone();
                    i = use_tree(toks, i, &mut inner, out);
                    match toks.get(i) {
                        Some(Tok::Punct(',')) => {
                            i += 1;
                            if matches!(toks.get(i), Some(Tok::Punct('}'))) {
                                i += 1;
                                break;
                            }
                        }
                        Some(Tok::Punct('}')) => {
                            i += 1;
                            break;
                        }
                        _ => break,
                    }
                }
                prefix.truncate(depth);
                // After a group only `,`, `}` or `;` can follow.
                if matches!(toks.get(i), Some(Tok::Punct(';'))) {
                    return i + 1;
                }
                return i;
            }
            Some(Tok::Punct(';')) => {
                if prefix.len() > depth {
                    out.push(prefix.clone());
                }
                return i + 1;
            }
            _ => {
                if prefix.len() > depth {
                    out.push(prefix.clone());
                }
                return i;
            }
        }
    }
}

/// Is the attribute at `i` exactly `#[cfg(test)]`?
fn is_cfg_test(toks: &[Tok], i: usize) -> bool {
    let want = [
        Tok::Punct('#'),
        Tok::Punct('['),
        Tok::Ident("cfg".into()),
        Tok::Punct('('),
        Tok::Ident("test".into()),
        Tok::Punct(')'),
        Tok::Punct(']'),
    ];
    toks.len() >= i + want.len() && toks[i..i + want.len()] == want
}

fn skip_attribute(toks: &[Tok], i: usize) -> usize {
    let mut depth = 0;
    let mut j = i + 1;
    while j < toks.len() {
        match toks[j] {
            Tok::Punct('[') => depth += 1,
            Tok::Punct(']') => {
                depth -= 1;
                if depth == 0 {
                    return j + 1;
                }
            }
            _ => {}
        }
        j += 1;
    }
    j
}

/// Skips one item (further attributes included): to its `;` or its closing brace.
fn skip_item(toks: &[Tok], mut i: usize) -> usize {
    while matches!(toks.get(i), Some(Tok::Punct('#'))) {
        i = skip_attribute(toks, i);
    }
    let mut depth = 0i32;
    while i < toks.len() {
        match toks[i] {
            Tok::Punct('{') | Tok::Punct('(') | Tok::Punct('[') => depth += 1,
            Tok::Punct('}') | Tok::Punct(')') | Tok::Punct(']') => {
                depth -= 1;
                if depth == 0 && toks[i] == Tok::Punct('}') {
                    return i + 1;
                }
            }
            Tok::Punct(';') if depth == 0 => return i + 1,
            _ => {}
        }
        i += 1;
    }
    i
}

#[test]
fn the_reader_finds_a_cycle_an_upward_import_and_a_long_file() {
    let dir = std::env::temp_dir().join(format!("rollcall-architecture-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("b")).unwrap();
    let write = |path: &str, text: &str| std::fs::write(dir.join(path), text).unwrap();
    write("lib.rs", "pub mod a;\npub mod b;\npub struct Root;\n");
    write(
        "a.rs",
        "use crate::b::{c::C, self};\n/* crate::lib_only */ fn f() { let _ = \"crate::nowhere\"; }\n",
    );
    write("b.rs", "pub mod c;\n#[cfg(test)]\nmod tests { use crate::a; }\n");
    write(
        "b/c.rs",
        &format!(
            "use crate::a::f;\nuse super::super::Root;\n{}",
            "\n".repeat(MAX_LINES + 1)
        ),
    );
    let problems = check(&dir, "sample");
    let _ = std::fs::remove_dir_all(&dir);
    let text = problems.join("\n");
    assert!(text.contains("import cycle: a.rs -> b/c.rs -> a.rs"), "{text}");
    assert!(
        text.contains("b/c.rs imports lib.rs, the module that wires it"),
        "{text}"
    );
    assert!(text.contains("b/c.rs has 903 lines"), "{text}");
    assert_eq!(problems.len(), 3, "{text}");
}
