//! Packager: cuts the stream of items into packages of about 250 items or 250 MB (a large
//! file alone), each carrying the folders above its first item so it imports on its own
//! (reference §4.6 "Recommended package").

use super::recorder::Candidate;
use crate::package::PkgItem;
use crate::scan::ItemKind;

pub struct Package {
    pub id: i64,
    /// Folders re-declared for context, parent-first; not owned by this package.
    pub ancestors: Vec<PkgItem>,
    /// (row id, item) owned by this package, in scan order.
    pub items: Vec<(i64, PkgItem)>,
    pub bytes: u64,
}

pub struct Packager {
    max_items: usize,
    max_bytes: u64,
    /// `--target-list-relative-path` folders, created by every package as needed.
    prefix_folders: Vec<PkgItem>,
    /// Source folders on the path to the current item.
    stack: Vec<PkgItem>,
    cur: Option<Package>,
    next_id: i64,
}

fn is_ancestor(folder: &str, path: &str) -> bool {
    path.len() > folder.len() && path.starts_with(folder) && path.as_bytes()[folder.len()] == b'/'
}

impl Packager {
    pub fn new(max_items: usize, max_bytes: u64, prefix_folders: Vec<PkgItem>) -> Self {
        Packager {
            max_items: max_items.max(1),
            max_bytes: max_bytes.max(1),
            prefix_folders,
            stack: Vec::new(),
            cur: None,
            next_id: 1,
        }
    }

    /// Adds one item; returns a package when one is complete.
    pub fn push(&mut self, c: Candidate) -> Option<Package> {
        let mut done = None;
        while let Some(top) = self.stack.last() {
            if is_ancestor(&top.lib_rel, &c.item.lib_rel) {
                break;
            }
            self.stack.pop();
        }
        let size = if c.item.kind == ItemKind::File {
            c.item.size
        } else {
            0
        };
        if let Some(p) = &self.cur {
            if p.items.len() >= self.max_items
                || (p.bytes + size > self.max_bytes && !p.items.is_empty())
            {
                done = self.cur.take();
            }
        }
        if self.cur.is_none() {
            let mut ancestors = self.prefix_folders.clone();
            ancestors.extend(self.stack.iter().cloned());
            self.cur = Some(Package {
                id: self.next_id,
                ancestors,
                items: Vec::new(),
                bytes: 0,
            });
            self.next_id += 1;
        }
        if c.item.kind == ItemKind::Folder {
            self.stack.push(c.item.clone());
        }
        if let Some(p) = self.cur.as_mut() {
            p.bytes += size;
            p.items.push((c.row, c.item));
        }
        done
    }

    pub fn finish(&mut self) -> Option<Package> {
        self.cur.take().filter(|p| !p.items.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;
    use uuid::Uuid;

    fn item(path: &str, kind: ItemKind, size: u64) -> Candidate {
        Candidate {
            row: 0,
            item: PkgItem {
                kind,
                lib_rel: path.into(),
                object_id: Uuid::new_v4(),
                item_id: Uuid::new_v4(),
                int_id: 1,
                size,
                ctime: SystemTime::now(),
                mtime: SystemTime::now(),
                blob_name: String::new(),
                facts: None,
                versions: Vec::new(),
            },
        }
    }

    #[test]
    fn packages_cut_by_count_and_bytes_and_carry_their_ancestors() {
        let mut p = Packager::new(3, 100, vec![]);
        let mut out = vec![];
        for c in [
            item("a", ItemKind::Folder, 0),
            item("a/1", ItemKind::File, 10),
            item("a/b", ItemKind::Folder, 0),
            item("a/b/2", ItemKind::File, 10),
            item("a/b/big", ItemKind::File, 500),
            item("c", ItemKind::Folder, 0),
        ] {
            out.extend(p.push(c));
        }
        out.extend(p.finish());
        let shape: Vec<(Vec<&str>, Vec<&str>)> = out
            .iter()
            .map(|p| {
                (
                    p.ancestors.iter().map(|a| a.lib_rel.as_str()).collect(),
                    p.items.iter().map(|i| i.1.lib_rel.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                (vec![], vec!["a", "a/1", "a/b"]),
                (vec!["a", "a/b"], vec!["a/b/2"]),
                (vec!["a", "a/b"], vec!["a/b/big"]),
                (vec![], vec!["c"]),
            ]
        );
    }
}
