//! A small CSV writer: RFC 4180 quoting, every field quoted as SPMT's own reports do, UTF-8
//! with a byte-order mark so Excel shows non-ASCII names right, written to a temporary file
//! and renamed so a reader never sees half a report.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

pub struct CsvFile {
    /// None once finished.
    out: Option<BufWriter<File>>,
    tmp: PathBuf,
    path: PathBuf,
}

impl Drop for CsvFile {
    /// A report given up half-way leaves no temporary file behind.
    fn drop(&mut self) {
        if self.out.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Characters that make a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
const FORMULA_LEADS: &[char] = &['=', '+', '-', '@', '\t', '\r'];

/// Writes a field as CSV: quoted, inner quotes doubled. Line breaks inside a message are
/// kept (quoted), which every CSV reader handles. A field that a spreadsheet would take for a
/// formula (a file named `=1+2`) gets a leading `'`, as OWASP recommends, so opening a report
/// in Excel never runs what a file name says. No allocation: a million-row ItemReport writes
/// some twenty million fields.
fn field(out: &mut impl Write, s: &str) -> std::io::Result<()> {
    out.write_all(b"\"")?;
    if s.starts_with(FORMULA_LEADS) {
        out.write_all(b"'")?;
    }
    let mut rest = s;
    while let Some(i) = rest.find('"') {
        out.write_all(&rest.as_bytes()[..=i])?;
        out.write_all(b"\"")?;
        rest = &rest[i + 1..];
    }
    out.write_all(rest.as_bytes())?;
    out.write_all(b"\"")
}

impl CsvFile {
    pub fn create(path: &Path, header: &[&str]) -> std::io::Result<Self> {
        let tmp = path.with_extension("csv.tmp");
        let mut out = BufWriter::with_capacity(1 << 16, File::create(&tmp)?);
        out.write_all("\u{feff}".as_bytes())?;
        let mut f = CsvFile {
            out: Some(out),
            tmp,
            path: path.to_path_buf(),
        };
        f.row(header.iter().copied())?;
        Ok(f)
    }

    pub fn row<'a>(&mut self, fields: impl IntoIterator<Item = &'a str>) -> std::io::Result<()> {
        let out = self.out.as_mut().expect("rows are written before finish");
        let mut first = true;
        for v in fields {
            if !first {
                out.write_all(b",")?;
            }
            first = false;
            field(out, v)?;
        }
        out.write_all(b"\r\n")
    }

    pub fn row_owned(&mut self, fields: &[String]) -> std::io::Result<()> {
        self.row(fields.iter().map(String::as_str))
    }

    pub fn finish(mut self) -> std::io::Result<()> {
        let out = self.out.take().expect("finished once");
        let done = out
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_data())
            .and_then(|_| std::fs::rename(&self.tmp, &self.path));
        if done.is_err() {
            let _ = std::fs::remove_file(&self.tmp);
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_commas_survive() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.csv");
        let mut f = CsvFile::create(&p, &["A", "B"]).unwrap();
        f.row(["say \"hi\", then", "two\nlines"]).unwrap();
        f.finish().unwrap();
        let s = std::fs::read_to_string(&p).unwrap();
        assert_eq!(
            s,
            "\u{feff}\"A\",\"B\"\r\n\"say \"\"hi\"\", then\",\"two\nlines\"\r\n"
        );
    }

    #[test]
    fn formula_cells_are_neutralised() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.csv");
        let mut f = CsvFile::create(&p, &["Name"]).unwrap();
        for name in [
            "=1+2", "+cmd", "-2+3", "@SUM(A1)", "\tx", "\rx", "a=b", "12",
        ] {
            f.row([name]).unwrap();
        }
        f.finish().unwrap();
        let s = std::fs::read_to_string(&p).unwrap();
        let rows: Vec<&str> = s.split("\r\n").skip(1).filter(|r| !r.is_empty()).collect();
        assert_eq!(
            rows,
            [
                "\"'=1+2\"",
                "\"'+cmd\"",
                "\"'-2+3\"",
                "\"'@SUM(A1)\"",
                "\"'\tx\"",
                "\"'\rx\"",
                "\"a=b\"",
                "\"12\""
            ]
        );
    }
}
