//! Logging with secrets redacted at the formatting layer: every formatted line passes through
//! [`crate::secrets::redact`] before it reaches stderr or the log file.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

#[derive(Clone)]
pub struct Redacting<W: Write + Send + 'static>(Arc<Mutex<W>>);

pub struct Guard<'a, W: Write + Send + 'static>(&'a Mutex<W>);

impl<W: Write + Send + 'static> Write for Guard<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = crate::secrets::redact(&String::from_utf8_lossy(buf));
        // One event is one line: a newline or a terminal control from a file name is shown
        // escaped (the layers write no colours, so no ESC of ours is lost).
        let body = text.strip_suffix('\n');
        let line = terminal_safe(body.unwrap_or(&text));
        if let Ok(mut w) = self.0.lock() {
            w.write_all(line.as_bytes())?;
            if body.is_some() {
                w.write_all(b"\n")?;
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().map(|mut w| w.flush()).unwrap_or(Ok(()))
    }
}

impl<'a, W: Write + Send + 'static> MakeWriter<'a> for Redacting<W> {
    type Writer = Guard<'a, W>;
    fn make_writer(&'a self) -> Self::Writer {
        Guard(&self.0)
    }
}

/// `text` with every control character (C0, DEL, C1) written as `\n`, `\r`, `\t` or `\u{..}`:
/// for names from a file share on a terminal or in a log line, where a raw ESC, BEL or newline
/// would rewrite the screen or forge a line.
pub fn terminal_safe(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The run's log in a working folder: where every host writes it and every report names it.
pub fn log_file(working_folder: &Path) -> std::path::PathBuf {
    working_folder.join("spmt.log")
}

/// Installs logging: stderr at `SPMT_LOG` (default `warn`), and, when given, a log file in the
/// working folder at `info` so every item's outcome is kept.
pub fn init(log_file: Option<&Path>) {
    let stderr_filter =
        EnvFilter::try_from_env("SPMT_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let stderr = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(Redacting(Arc::new(Mutex::new(std::io::stderr()))))
        .with_target(false)
        .with_filter(stderr_filter);
    let file_layer = log_file.and_then(open_append).map(file_layer);
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file_layer)
        .try_init();
}

/// A subscriber that writes only the working folder's log file (`info`, redacted), for a
/// session hosted in another program (the C ABI, .NET, PowerShell): its threads set it as their
/// default, so each session logs to its own working folder, as `spmt migrate` does, whatever else
/// the host process runs. The file is opened on the first line, so a session that logs nothing
/// leaves its working folder as it found it.
pub fn file_dispatch(log_file: &Path) -> tracing::Dispatch {
    let layer = file_layer(OpenedOnFirstWrite {
        path: log_file.to_path_buf(),
        file: None,
    });
    tracing::Dispatch::new(tracing_subscriber::registry().with(layer))
}

/// The log file's layer, one for every host: plain text, `spmt` at `info`, redacted.
fn file_layer<S, W>(file: W) -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: Write + Send + 'static,
{
    tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(Redacting(Arc::new(Mutex::new(file))))
        .with_target(false)
        .with_filter(EnvFilter::new("spmt=info"))
}

/// A log file opened (created, appended to) when the first line arrives. A file that cannot be
/// opened drops the line, and the next line tries again: logging never stops a run.
struct OpenedOnFirstWrite {
    path: std::path::PathBuf,
    file: Option<std::fs::File>,
}

impl Write for OpenedOnFirstWrite {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.file.is_none() {
            self.file = open_append(&self.path);
        }
        match &mut self.file {
            Some(f) => f.write(buf),
            None => Ok(buf.len()),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.as_mut().map(|f| f.flush()).unwrap_or(Ok(()))
    }
}

/// `path` opened for appending, its folder and the file created when missing.
fn open_append(path: &Path) -> Option<std::fs::File> {
    if let Some(d) = path.parent() {
        let _ = std::fs::create_dir_all(d);
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_from_names_are_escaped() {
        assert_eq!(terminal_safe("plain é.txt"), "plain é.txt");
        assert_eq!(
            terminal_safe("a\x1b[2Jb\x07c\nd\re\tf\u{7f}\u{9b}"),
            "a\\u{1b}[2Jb\\u{7}c\\nd\\re\\tf\\u{7f}\\u{9b}"
        );
    }

    #[test]
    fn a_log_event_stays_one_line() {
        let sink = Arc::new(Mutex::new(Vec::new()));
        let w = Redacting(sink.clone());
        w.make_writer()
            .write_all(b"INFO migrated name=\"evil\nFAKE line\x07\"\n")
            .unwrap();
        let got = String::from_utf8(sink.lock().unwrap().clone()).unwrap();
        assert_eq!(got, "INFO migrated name=\"evil\\nFAKE line\\u{7}\"\n");
    }
}
