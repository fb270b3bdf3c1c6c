//! Generates `include/spmt.h` from `src/ffi/mod.rs` with cbindgen (one generator, pinned in
//! Cargo.toml) and fails when the committed header differs. `SPMT_UPDATE_HEADER=1` writes it.

use std::path::Path;

fn generate() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config {
        language: cbindgen::Language::C,
        header: Some(
            std::fs::read_to_string(root.join("src/ffi/preamble.h"))
                .expect("src/ffi/preamble.h")
                .trim_end()
                .to_string(),
        ),
        include_guard: Some("SPMT_H".into()),
        cpp_compat: true,
        documentation: true,
        style: cbindgen::Style::Both,
        no_includes: true,
        sys_includes: vec!["stdint.h".into()],
        enumeration: cbindgen::EnumConfig {
            enum_class: false,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut out = Vec::new();
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/ffi/mod.rs"))
        .generate()
        .expect("cbindgen parses src/ffi/mod.rs")
        .write(&mut out);
    String::from_utf8(out).expect("UTF-8 header")
}

#[test]
fn committed_header_matches_the_generated_one() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = root.join("include/spmt.h");
    let fresh = generate();
    if std::env::var_os("SPMT_UPDATE_HEADER").is_some() {
        std::fs::write(&path, &fresh).expect("write include/spmt.h");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "include/spmt.h is stale: run `SPMT_UPDATE_HEADER=1 cargo test --test c_header` and commit it"
    );
}
