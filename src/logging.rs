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
        if let Ok(mut w) = self.0.lock() {
            w.write_all(text.as_bytes())?;
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

/// Installs logging: stderr at `SPMT_LOG` (default `warn`), and, when given, a log file in the
/// working folder at `info` so every item's outcome is kept.
pub fn init(log_file: Option<&Path>) {
    let stderr_filter =
        EnvFilter::try_from_env("SPMT_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(Redacting(Arc::new(Mutex::new(std::io::stderr()))))
        .with_target(false)
        .with_filter(stderr_filter);
    let file = log_file.and_then(|p| {
        if let Some(d) = p.parent() {
            let _ = std::fs::create_dir_all(d);
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .ok()
    });
    let file_layer = file.map(|f| {
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(Redacting(Arc::new(Mutex::new(f))))
            .with_target(false)
            .with_filter(EnvFilter::new("spmt=info"))
    });
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file_layer)
        .try_init();
}
