//! Dependency rules a test holds. The emulator (the local target) is an independent check of
//! the client: it may share the wire formats (`crate::wire`) and the cipher (`crate::crypto`),
//! never the client's logic, or a client bug would be mirrored instead of caught.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every `crate::<module>` (or `spmt::<module>`) a file names, with its line number.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        for prefix in ["crate::", "spmt::"] {
            let mut rest = code;
            while let Some(i) = rest.find(prefix) {
                let after = &rest[i + prefix.len()..];
                let module: String = after
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '{')
                    .collect();
                found.push((n + 1, module));
                rest = after;
            }
        }
    }
    found
}

#[test]
fn the_emulator_uses_only_wire_and_crypto_from_the_crate() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/emulator"),
        &mut files,
    );
    assert!(files.len() > 5, "found the emulator's sources");
    let mut wrong = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        // `super::` from src/emulator/mod.rs, `super::super::` from a submodule: the crate root.
        let escape = if f.ends_with("mod.rs") {
            "super::"
        } else {
            "super::super::"
        };
        for (n, l) in text.lines().enumerate() {
            if l.split("//").next().unwrap_or("").contains(escape) {
                wrong.push(format!(
                    "{}:{}: {escape} reaches the crate root",
                    f.display(),
                    n + 1
                ));
            }
        }
        for (line, module) in crate_paths(&text) {
            if module != "wire" && module != "crypto" {
                wrong.push(format!("{}:{line}: crate::{module}", f.display()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "src/emulator may use only crate::wire and crate::crypto:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_rule_sees_every_form_of_a_crate_path() {
    let found = crate_paths(
        "use crate::wire::Sas;\nuse crate::{engine, wire};\nlet x = crate::store::Store::open(p); // crate::not_code\n",
    );
    let modules: Vec<&str> = found.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(modules, ["wire", "{engine", "store"]);
}
