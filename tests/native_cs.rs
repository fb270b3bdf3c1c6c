//! `dotnet-shim/Spmt.Net/Native.cs` mirrors `include/spmt.h` by hand (P/Invoke has no header
//! import). This test holds it to the header: every enum with the same members and values, the
//! event struct with the same fields in the same order and matching types, the same ABI
//! version. A constant added to the header and forgotten in C# fails here, not in a user's run.

use std::collections::BTreeMap;

const HEADER: &str = include_str!("../include/spmt.h");
const NATIVE_CS: &str = include_str!("../dotnet-shim/Spmt.Net/Native.cs");

/// `INVALID_UTF8` → `InvalidUtf8`, `task_id` → `TaskId`.
fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let lower = w.to_ascii_lowercase();
            let mut c = lower.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The lines between `open` and the next line starting with `close`.
fn block<'a>(text: &'a str, open: &str, close: &str) -> Vec<&'a str> {
    let start = text
        .lines()
        .position(|l| l.trim_start().starts_with(open))
        .unwrap_or_else(|| panic!("no `{open}`"));
    text.lines()
        .skip(start + 1)
        .take_while(|l| !l.trim_start().starts_with(close))
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with("/*")
                && !l.starts_with('*')
                && !l.starts_with("//")
                && !l.starts_with('{')
        })
        .collect()
}

/// `NAME = 3,` lines of a block as name → value.
fn members(lines: &[&str]) -> BTreeMap<String, u64> {
    lines
        .iter()
        .filter_map(|l| {
            let (name, value) = l.trim_end_matches(',').split_once('=')?;
            Some((name.trim().to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

fn header_enum(c_name: &str, prefix: &str) -> BTreeMap<String, u64> {
    members(&block(HEADER, &format!("enum {c_name}"), "}"))
        .into_iter()
        .map(|(k, v)| {
            let short = k
                .strip_prefix(prefix)
                .unwrap_or_else(|| panic!("{k} lacks {prefix}"));
            (pascal(short), v)
        })
        .collect()
}

fn cs_enum(cs_name: &str) -> BTreeMap<String, u64> {
    members(&block(NATIVE_CS, &format!("public enum {cs_name}"), "}"))
}

#[test]
fn every_enum_of_the_header_is_mirrored_in_native_cs() {
    for (c, prefix, cs) in [
        ("spmt_status_t", "SPMT_STATUS_", "SpmtStatus"),
        ("spmt_event_kind_t", "SPMT_EVENT_", "MigrationEventKind"),
        ("spmt_outcome_t", "SPMT_OUTCOME_", "MigrationOutcome"),
    ] {
        let (h, n) = (header_enum(c, prefix), cs_enum(cs));
        assert!(!h.is_empty(), "{c} has members");
        assert_eq!(h, n, "{c} (include/spmt.h) and {cs} (Native.cs) differ");
    }
}

#[test]
fn the_event_struct_has_the_same_fields_in_the_same_order() {
    let c: Vec<(String, &str)> = block(HEADER, "typedef struct spmt_event_t {", "}")
        .iter()
        .map(|l| {
            let l = l.trim_end_matches(';');
            let (ty, name) = l.rsplit_once(' ').expect("`type name;`");
            let ty = match ty.trim() {
                "const char" => "IntPtr",
                t if t.ends_with('*') => "IntPtr",
                "uint64_t" => "ulong",
                "uint32_t" => "uint",
                t if t.starts_with("spmt_") && t.ends_with("_t") => "uint",
                other => panic!("map the C type {other} to C#"),
            };
            (pascal(name.trim_start_matches('*')), ty)
        })
        .collect();
    let cs: Vec<(String, &str)> = block(NATIVE_CS, "internal struct NativeEvent", "}")
        .iter()
        .map(|l| {
            let mut w = l.trim_end_matches(';').split_whitespace();
            assert_eq!(w.next(), Some("public"), "{l}");
            let ty = w.next().unwrap();
            (w.next().unwrap().to_string(), ty)
        })
        .collect();
    assert!(c.len() >= 10, "parsed the header's struct: {c:?}");
    assert_eq!(c, cs, "spmt_event_t and NativeEvent differ");
}

#[test]
fn the_abi_version_is_the_same() {
    let h = HEADER
        .lines()
        .find_map(|l| l.strip_prefix("#define SPMT_ABI_VERSION "))
        .expect("SPMT_ABI_VERSION");
    let cs = NATIVE_CS
        .lines()
        .find_map(|l| l.trim().strip_prefix("internal const uint AbiVersion = "))
        .expect("AbiVersion");
    assert_eq!(h.trim(), cs.trim_end_matches(';').trim());
}
