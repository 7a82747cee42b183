//! The source tree's own rules (ARCHITECTURE.md, "Invariants"): the files of `echoes-proto` and
//! of the app's pure core import one way — no file reaches, through others, back to itself.
//! Checked on the text of the sources: `crate::<module>` paths outside comments and tests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each top-level module of `src` (a file, or a folder with its files) and the modules its code
/// names through `crate::`; `skip` lists modules left out (the app's browser-only `ui`).
fn imports(src: &Path, skip: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path.strip_prefix(src).unwrap();
            let top = rel.iter().next().unwrap().to_string_lossy();
            let top = top.trim_end_matches(".rs").to_string();
            let name = path.file_name().unwrap().to_string_lossy();
            if skip.contains(&top.as_str()) || name == "tests.rs" || top == "lib" || top == "bin" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // Unit tests may look anywhere; the code may not.
            let code = text.split("#[cfg(test)]\nmod tests {").next().unwrap();
            let deps = graph.entry(top.clone()).or_default();
            for line in code.lines().map(str::trim) {
                if line.starts_with("//") {
                    continue;
                }
                for (i, _) in line.match_indices("crate::") {
                    let rest = &line[i + "crate::".len()..];
                    let names: Vec<&str> = match rest.strip_prefix('{') {
                        Some(list) => list.split([',', '}']).map(str::trim).collect(),
                        None => vec![rest],
                    };
                    for n in names {
                        let module: String = n
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect();
                        // Lower-case names are modules; `crate::Type` re-exports are the root's.
                        if module.starts_with(|c: char| c.is_ascii_lowercase()) && module != top {
                            deps.insert(module);
                        }
                    }
                }
            }
        }
    }
    graph
}

/// The first cycle in `graph`, as the path that closes it.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == n) {
            let mut c = path[i..].to_vec();
            c.push(n.to_string());
            return Some(c);
        }
        if !done.insert(n.to_string()) {
            return None;
        }
        path.push(n.to_string());
        for d in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(d, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[track_caller]
fn check(crate_src: &str, skip: &[&str]) {
    let src = echoes_tests::repo_root().join(crate_src);
    let graph = imports(&src, skip);
    assert!(graph.len() > 5, "{crate_src}: read {graph:?}");
    if let Some(c) = cycle(&graph) {
        panic!("{crate_src}: an import loop: {}", c.join(" → "));
    }
}

#[test]
fn proto_and_the_app_core_import_one_way() {
    check("proto/src", &[]);
    check("app/src", &["ui"]);
    // The checker finds a loop where there is one.
    let looped = BTreeMap::from([
        ("a".to_string(), BTreeSet::from(["b".to_string()])),
        ("b".to_string(), BTreeSet::from(["a".to_string()])),
    ]);
    assert_eq!(
        cycle(&looped),
        Some(vec!["a".into(), "b".into(), "a".into()])
    );
}
