//! A small CSV writer: RFC 4180 quoting, every field quoted as SPMT's own reports do, UTF-8
//! with a byte-order mark so Excel shows non-ASCII names right, written to a temporary file
//! and renamed so a reader never sees half a report.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

pub struct CsvFile {
    out: BufWriter<File>,
    tmp: PathBuf,
    path: PathBuf,
}

/// A field as CSV: quoted, inner quotes doubled. Line breaks inside a message are kept
/// (quoted), which every CSV reader handles.
fn field(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

impl CsvFile {
    pub fn create(path: &Path, header: &[&str]) -> std::io::Result<Self> {
        let tmp = path.with_extension("csv.tmp");
        let mut out = BufWriter::with_capacity(1 << 16, File::create(&tmp)?);
        out.write_all("\u{feff}".as_bytes())?;
        let mut f = CsvFile {
            out,
            tmp,
            path: path.to_path_buf(),
        };
        f.row(header.iter().copied())?;
        Ok(f)
    }

    pub fn row<'a>(&mut self, fields: impl IntoIterator<Item = &'a str>) -> std::io::Result<()> {
        let mut first = true;
        for v in fields {
            if !first {
                self.out.write_all(b",")?;
            }
            first = false;
            self.out.write_all(field(v).as_bytes())?;
        }
        self.out.write_all(b"\r\n")
    }

    pub fn row_owned(&mut self, fields: &[String]) -> std::io::Result<()> {
        self.row(fields.iter().map(String::as_str))
    }

    pub fn finish(self) -> std::io::Result<()> {
        let CsvFile { out, tmp, path } = self;
        out.into_inner().map_err(|e| e.into_error())?.sync_data()?;
        std::fs::rename(tmp, path)
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
}
