//! Migration events (reference §7): flat JSON objects whose values are all strings. Each event
//! goes to the job's progress log (read by `GetMigrationJobProgress`, plaintext), to the job's
//! queue when it has one (base64 of the JSON, wrapped in the encrypted envelope for encrypted
//! jobs), and to the import log lines written at the end.

use super::blob::BlobSource;
use super::remote::RemoteQueue;
use super::Emu;
use crate::crypto::{self, Key};
use crate::wire::{event_time, EncryptedEnvelope};
use base64::Engine as _;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// Severity of an import log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warning,
    Error,
    Fatal,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Info => "Info",
            Level::Warning => "Warning",
            Level::Error => "Error",
            Level::Fatal => "FatalError",
        }
    }
}

/// A failure or warning about one object (or the package, for fatal errors).
#[derive(Debug, Clone, Default)]
pub struct Problem {
    /// `File`, `Folder`, `ListItem`, `List`; empty for package-level problems.
    pub object_type: String,
    /// Server-relative URL of the object, as in `SPObject@Url`.
    pub url: String,
    /// The object's Id (SPFile/SPFolder Id, or the SPListItem Id).
    pub id: String,
    pub int_id: String,
    /// Signed HRESULT as text, e.g. `-2147024816`.
    pub code: &'static str,
    /// .NET exception type SPO would name.
    pub error_type: &'static str,
    pub message: String,
}

/// Where a job's queue events go: a queue of this emulator, or the customer's queue.
#[derive(Clone)]
pub enum QueueTarget {
    Local(String),
    Remote(Arc<RemoteQueue>),
}

/// The plaintext progress log of one job, shared with the REST side.
#[derive(Default)]
pub struct ProgressLog {
    pub events: Mutex<Vec<String>>,
}

pub struct Events {
    emu: Arc<Emu>,
    pub job_id: Uuid,
    correlation_id: Uuid,
    key: Option<Key>,
    queue: Option<QueueTarget>,
    progress: Arc<ProgressLog>,
    /// (level, log line) for the Import-*.log/.err/.wrn files.
    lines: Vec<(Level, String)>,
    pub errors: u64,
    pub warnings: u64,
}

/// The JobEnd of a job whose process died after its commit (`Library::close_abandoned_jobs`):
/// the common keys of every event, and a note saying where it came from.
pub fn closing_job_end(job_id: Uuid) -> String {
    let mut m: BTreeMap<&str, String> = BTreeMap::new();
    m.insert("Event", "JobEnd".into());
    m.insert("JobId", job_id.to_string());
    m.insert("Time", event_time(chrono::Utc::now()));
    m.insert("CorrelationId", Uuid::new_v4().to_string());
    m.insert("TotalRetryCount", "0".into());
    m.insert("MigrationType", "None".into());
    m.insert("MigrationDirection", "Import".into());
    m.insert(
        "Note",
        "recorded when the local target restarted: the process that ran the job ended after its commit".into(),
    );
    serde_json::to_string(&m).unwrap_or_default()
}

impl Events {
    pub fn new(
        emu: Arc<Emu>,
        job_id: Uuid,
        key: Option<Key>,
        queue: Option<QueueTarget>,
        progress: Arc<ProgressLog>,
    ) -> Self {
        Events {
            emu,
            job_id,
            correlation_id: Uuid::new_v4(),
            key,
            queue,
            progress,
            lines: Vec::new(),
            errors: 0,
            warnings: 0,
        }
    }

    /// Emits one event with the common keys plus `fields`.
    pub fn emit(&mut self, event: &str, fields: &[(&str, String)]) {
        self.emit_at(event, fields, Level::Info, None);
    }

    fn emit_at(
        &mut self,
        event: &str,
        fields: &[(&str, String)],
        level: Level,
        problem: Option<&Problem>,
    ) {
        let now = chrono::Utc::now();
        let time = event_time(now);
        let mut m: BTreeMap<&str, String> = BTreeMap::new();
        m.insert("Event", event.to_string());
        m.insert("JobId", self.job_id.to_string());
        m.insert("Time", time.clone());
        m.insert("CorrelationId", self.correlation_id.to_string());
        m.insert("TotalRetryCount", "0".into());
        m.insert("MigrationType", "None".into());
        m.insert("MigrationDirection", "Import".into());
        for (k, v) in fields {
            m.insert(k, v.clone());
        }
        let json = serde_json::to_string(&m).unwrap_or_default();
        if let Ok(mut log) = self.progress.events.lock() {
            // Kept in the store too, in order, so GetMigrationJobProgress still answers after
            // this process is gone.
            if let Err(e) = self.emu.library.job_event(self.job_id, log.len(), &json) {
                tracing::warn!(job = %self.job_id, error = %e, "event not kept past this process");
            }
            log.push(json.clone());
        }
        if let Some(q) = &self.queue {
            let text = match &self.key {
                Some(key) => {
                    let iv = crypto::random_iv();
                    let env =
                        EncryptedEnvelope {
                            label: "Encrypted".into(),
                            job_id: self.job_id.to_string(),
                            iv: crypto::iv_to_base64(&iv),
                            content: base64::engine::general_purpose::STANDARD
                                .encode(crypto::encrypt(key, &iv, json.as_bytes())),
                        };
                    serde_json::to_string(&env).unwrap_or_default()
                }
                None => json.clone(),
            };
            let text = base64::engine::general_purpose::STANDARD.encode(text);
            match q {
                QueueTarget::Local(name) => {
                    self.emu.queues.put(name, text);
                }
                QueueTarget::Remote(r) => r.put(text),
            }
        }
        // Import log line format (ours; SPO's is undocumented, reference §7.5), tab-separated:
        //   time \t level \t object type \t url \t error code \t message
        // Info lines carry the event name as object type "" and the whole event JSON as message.
        let clean = |s: &str| s.replace(['\t', '\r', '\n'], " ");
        let line = match problem {
            Some(p) => format!(
                "{time}\t{}\t{}\t{}\t{}\t{}",
                level.as_str(),
                clean(&p.object_type),
                clean(&p.url),
                p.code,
                clean(&p.message)
            ),
            None => format!("{time}\t{}\t\t\t0\t{}", level.as_str(), json),
        };
        self.lines.push((level, line));
    }

    fn problem_fields(p: &Problem) -> Vec<(&'static str, String)> {
        vec![
            ("ObjectType", p.object_type.clone()),
            ("Url", p.url.clone()),
            ("Id", p.id.clone()),
            ("SourceListItemIntId", p.int_id.clone()),
            ("TargetListItemIntId", p.int_id.clone()),
            ("ErrorCode", p.code.to_string()),
            ("ErrorType", p.error_type.to_string()),
            ("Message", p.message.clone()),
        ]
    }

    pub fn error(&mut self, p: &Problem) {
        self.errors += 1;
        tracing::debug!(job = %self.job_id, url = %p.url, message = %p.message, "JobError");
        self.emit_at("JobError", &Self::problem_fields(p), Level::Error, Some(p));
    }

    pub fn warning(&mut self, p: &Problem) {
        self.warnings += 1;
        self.emit_at(
            "JobWarning",
            &Self::problem_fields(p),
            Level::Warning,
            Some(p),
        );
    }

    /// A package-level failure: object fields empty.
    pub fn fatal(&mut self, code: &'static str, message: &str) {
        self.errors += 1;
        let p = Problem {
            code,
            error_type: "Microsoft.SharePoint.SPException",
            message: message.to_string(),
            ..Default::default()
        };
        tracing::debug!(job = %self.job_id, message, "JobFatalError");
        self.emit_at(
            "JobFatalError",
            &Self::problem_fields(&p),
            Level::Fatal,
            Some(&p),
        );
    }

    /// Waits until the customer's queue has every event emitted so far.
    pub fn flush(&self) {
        if let Some(QueueTarget::Remote(r)) = &self.queue {
            r.flush(std::time::Duration::from_secs(30));
        }
    }

    /// Writes `Import-{JobId}-1.log` (every event), `.err` (errors) and `.wrn` (warnings) into the
    /// manifest container, each encrypted with the job key and its IV in metadata `IV`.
    pub fn write_logs(&self, sink: &dyn BlobSource, container: &str) {
        let base = format!("Import-{}-1", self.job_id);
        let pick = |f: &dyn Fn(Level) -> bool| -> String {
            self.lines
                .iter()
                .filter(|(l, _)| f(*l))
                .map(|(_, s)| format!("{s}\r\n"))
                .collect()
        };
        let files = [
            (format!("{base}.log"), pick(&|_| true)),
            (
                format!("{base}.err"),
                pick(&|l| matches!(l, Level::Error | Level::Fatal)),
            ),
            (format!("{base}.wrn"), pick(&|l| l == Level::Warning)),
        ];
        for (name, text) in files {
            let (data, meta) = match &self.key {
                Some(key) => {
                    let iv = crypto::random_iv();
                    (
                        crypto::encrypt(key, &iv, text.as_bytes()),
                        vec![("IV".to_string(), crypto::iv_to_base64(&iv))],
                    )
                }
                None => (text.into_bytes(), Vec::new()),
            };
            if let Err(e) = sink.put(container, &name, &data, meta) {
                tracing::warn!(job = %self.job_id, error = %e, "writing {name} failed");
            }
        }
    }
}
