//! The ledger of one import job: which of its items an event names, which failed, whether the
//! job ended, and so the outcome of each item. Used while following live jobs and when a
//! resumed session settles jobs an interrupted run left behind.

use crate::engine::codes;
use crate::store::Outcome;
use crate::wire::{field, EventFields};
use std::collections::HashMap;
use uuid::Uuid;

#[derive(Default)]
pub struct Ledger {
    /// object id / list item id / server- and web-relative URL (lower case) → item index.
    index: HashMap<String, usize>,
    failed: HashMap<usize, (String, String)>,
    pub warnings: Vec<String>,
    pub fatal: Option<String>,
    pub ended: bool,
}

impl Ledger {
    /// Registers item `n` under every name an event may use for it.
    pub fn add_item(
        &mut self,
        n: usize,
        object_id: Uuid,
        item_id: Uuid,
        server_relative: &str,
        web_relative: &str,
    ) {
        self.index.insert(object_id.to_string(), n);
        self.index.insert(item_id.to_string(), n);
        self.index.insert(server_relative.to_lowercase(), n);
        self.index.insert(web_relative.to_lowercase(), n);
    }

    fn item_for(&self, ev: &EventFields) -> Option<usize> {
        if let Some(id) = field(ev, "Id")
            .and_then(|s| Uuid::parse_str(s.trim_matches(|c| c == '{' || c == '}')).ok())
        {
            if let Some(n) = self.index.get(&id.to_string()) {
                return Some(*n);
            }
        }
        let url = field(ev, "Url")?.trim().to_lowercase();
        self.index
            .get(&url)
            .or_else(|| self.index.get(url.trim_start_matches('/')))
            .copied()
    }

    /// Applies one event (idempotent: the same event twice changes nothing).
    pub fn apply(&mut self, ev: &EventFields) {
        let kind = field(ev, "Event").unwrap_or("");
        let msg = || {
            let code = field(ev, "ErrorCode").unwrap_or("");
            let m = field(ev, "Message").unwrap_or("");
            crate::secrets::redact(&format!("{m} (ErrorCode {code})"))
        };
        let url = || field(ev, "Url").unwrap_or("?").to_string();
        match kind {
            "JobError" => match self.item_for(ev) {
                Some(n) => {
                    self.failed
                        .entry(n)
                        .or_insert((codes::NOT_ALL_MIGRATED.to_string(), msg()));
                }
                None => {
                    let w = format!("error on {}: {}", url(), msg());
                    if !self.warnings.contains(&w) {
                        self.warnings.push(w);
                    }
                }
            },
            "JobWarning" => {
                let w = format!("warning on {}: {}", url(), msg());
                if !self.warnings.contains(&w) {
                    self.warnings.push(w);
                }
            }
            "JobFatalError" => {
                self.fatal.get_or_insert_with(msg);
            }
            "JobEnd" => self.ended = true,
            "JobCancelled" | "JobDeleted" => {
                self.fatal.get_or_insert_with(|| {
                    format!(
                        "the job was {}",
                        kind.trim_start_matches("Job").to_lowercase()
                    )
                });
                self.ended = true;
            }
            _ => {}
        }
    }

    /// The outcome of item `n` once the job ended: migrated only if nothing names it.
    pub fn outcome(&self, n: usize) -> (Outcome, Option<String>, Option<String>) {
        if let Some(f) = &self.fatal {
            (
                Outcome::Failed,
                Some(codes::FATAL.to_string()),
                Some(format!("Job Fatal Error: {f}")),
            )
        } else if let Some((code, m)) = self.failed.get(&n) {
            (Outcome::Failed, Some(code.clone()), Some(m.clone()))
        } else {
            (Outcome::Migrated, None, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::parse_event;

    #[test]
    fn errors_map_to_items_by_id_or_url_and_fatal_fails_all() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut l = Ledger::default();
        l.add_item(0, a, Uuid::new_v4(), "/sites/x/D/a.txt", "D/a.txt");
        l.add_item(1, b, Uuid::new_v4(), "/sites/x/D/b.txt", "D/b.txt");
        l.apply(&parse_event(r#"{"Event":"JobError","Url":"/sites/x/D/B.txt","Message":"boom","ErrorCode":"-1"}"#).unwrap());
        l.apply(&parse_event(r#"{"Event":"JobEnd"}"#).unwrap());
        assert!(l.ended);
        assert_eq!(l.outcome(0).0, Outcome::Migrated);
        let (o, code, m) = l.outcome(1);
        assert_eq!(
            (o, code.as_deref()),
            (Outcome::Failed, Some(codes::NOT_ALL_MIGRATED))
        );
        assert!(m.unwrap().contains("boom"));
        l.apply(
            &parse_event(&format!(
                r#"{{"Event":"JobFatalError","Message":"bad","Id":"{a}"}}"#
            ))
            .unwrap(),
        );
        assert_eq!(l.outcome(0).1.as_deref(), Some(codes::FATAL));
    }
}
