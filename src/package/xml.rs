//! Writers for the eight package XMLs, in the shapes of reference §6.2–§6.10.

use super::{PackageXml, PkgItem, Target};
use crate::people::{People, TargetRole};
use crate::scan::ItemKind;
use crate::wire::*;
use std::fmt::Write as _;
use std::time::SystemTime;
use uuid::Uuid;

const DECL: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n";

/// Attribute value escaping; XML 1.0 cannot carry most control characters, so they are dropped
/// (the scan already fails names that contain them).
fn esc(s: &str) -> String {
    let clean: String = s
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
        .collect();
    quick_xml::escape::escape(clean.as_str()).into_owned()
}

/// `xs:dateTime` in UTC without a zone suffix, as Microsoft's example writes it (reference §6.7).
pub fn xml_time(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t)
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

fn attrs(out: &mut String, pairs: &[(&str, String)]) {
    for (k, v) in pairs {
        let _ = write!(out, " {k}=\"{}\"", esc(v));
    }
}

fn sp_object(
    out: &mut String,
    id: &str,
    object_type: &str,
    parent_id: &str,
    t: &Target,
    url: &str,
) {
    out.push_str("  <SPObject");
    attrs(
        out,
        &[
            ("Id", id.into()),
            ("ObjectType", object_type.into()),
            ("ParentId", parent_id.into()),
            ("ParentWebId", t.web_id.to_string()),
            ("ParentWebUrl", t.web_url.clone()),
            ("Url", url.into()),
        ],
    );
    out.push_str(">\n");
}

/// Every package opens with the library's root folder and the library itself, which exist at
/// the target and keep their ids (Microsoft's example does this; reference §6.10).
fn library_objects(out: &mut String, t: &Target) {
    let (w, lrf, l) = (
        t.web_id.to_string(),
        t.list_root_folder_id.to_string(),
        t.list_id.to_string(),
    );
    let lib_web_rel = t.web_relative(&t.list_root_url);
    let lib_name = lib_web_rel
        .rsplit('/')
        .next()
        .unwrap_or(&lib_web_rel)
        .to_string();
    sp_object(
        out,
        &lrf,
        "SPFolder",
        &t.web_root_folder_id.to_string(),
        t,
        &t.list_root_url,
    );
    out.push_str("    <Folder");
    attrs(
        out,
        &[
            ("Id", lrf.clone()),
            ("Url", lib_web_rel.clone()),
            ("Name", lib_name),
            ("ParentFolderId", t.web_root_folder_id.to_string()),
            ("ParentWebId", w.clone()),
            ("ParentWebUrl", t.web_url.clone()),
            ("ContainingDocumentLibrary", l.clone()),
            ("SortBehavior", "1".into()),
        ],
    );
    out.push_str(" />\n  </SPObject>\n");
    sp_object(out, &l, "SPDocumentLibrary", &w, t, &t.list_root_url);
    out.push_str("    <DocumentLibrary");
    attrs(
        out,
        &[
            ("Id", l.clone()),
            ("BaseTemplate", "DocumentLibrary".into()),
            ("RootFolderId", lrf),
            ("RootFolderUrl", t.list_root_url.clone()),
            ("ParentWebId", w),
            ("ParentWebUrl", t.web_url.clone()),
            ("Title", t.list_title.clone()),
        ],
    );
    out.push_str(">\n      <ContentTypes />\n    </DocumentLibrary>\n  </SPObject>\n");
}

/// Id of the folder that holds `item`: the library root or a folder declared in this package.
fn parent_id(
    item: &PkgItem,
    t: &Target,
    folder_ids: &std::collections::HashMap<&str, String>,
) -> String {
    let p = item.parent_rel();
    if p.is_empty() {
        t.list_root_folder_id.to_string()
    } else {
        folder_ids
            .get(p)
            .cloned()
            .unwrap_or_else(|| super::ids::object_id(t.list_id, &t.server_relative(p)).to_string())
    }
}

/// Who made and last changed an item, as UserGroup.xml ids (only people mapped to the target).
fn people_attrs(
    pairs: &mut Vec<(&'static str, String)>,
    people: &People,
    author: Option<i64>,
    editor: Option<i64>,
) {
    if let Some(p) = people.get(author) {
        pairs.push(("Author", p.id.to_string()));
    }
    if let Some(p) = people.get(editor) {
        pairs.push(("ModifiedBy", p.id.to_string()));
    }
}

/// One state of a file: the current one, or an older version.
struct FileState<'a> {
    label: &'a str,
    modified: SystemTime,
    editor: Option<i64>,
    comment: Option<&'a str>,
    /// Content blob and size; `None` on a top `File` whose versions carry the content.
    content: Option<(&'a str, u64)>,
}

/// An item with where it goes: what every element of it needs.
struct Placed<'a> {
    it: &'a PkgItem,
    t: &'a Target,
    parent: &'a str,
    people: &'a People,
}

fn file_element(
    out: &mut String,
    indent: &str,
    p: &Placed<'_>,
    s: &FileState<'_>,
    versions: Option<&[FileState<'_>]>,
) {
    let (it, t, parent, people) = (p.it, p.t, p.parent, p.people);
    let web_rel = t.web_relative(&t.server_relative(&it.lib_rel));
    let mut pairs: Vec<(&'static str, String)> = vec![
        ("Url", web_rel),
        ("Id", it.object_id.to_string()),
        ("ParentWebId", t.web_id.to_string()),
        ("ParentWebUrl", t.web_url.clone()),
        ("Name", it.name().into()),
        ("ListItemIntId", it.int_id.to_string()),
        ("ListId", t.list_id.to_string()),
        ("ParentId", parent.into()),
        ("TimeCreated", xml_time(it.ctime)),
        ("TimeLastModified", xml_time(s.modified)),
        ("Version", s.label.into()),
    ];
    if let Some(c) = s.comment {
        pairs.push(("CheckinComment", c.into()));
    }
    if let Some((blob, size)) = s.content {
        pairs.push(("FileValue", blob.into()));
        pairs.push(("FileSize", size.to_string()));
    }
    let author = it.facts.as_ref().and_then(|f| f.author);
    people_attrs(&mut pairs, people, author, s.editor);
    let _ = write!(out, "{indent}<File");
    attrs(out, &pairs);
    match versions {
        None => out.push_str(" />\n"),
        Some(vs) => {
            let _ = writeln!(out, ">\n{indent}  <Versions>");
            let inner = format!("{indent}    ");
            for v in vs {
                file_element(out, &inner, p, v, None);
            }
            let _ = writeln!(out, "{indent}  </Versions>\n{indent}</File>");
        }
    }
}

/// The states of a file, oldest first, ending with the current one.
fn file_states(it: &PkgItem) -> Vec<FileState<'_>> {
    let facts = it.facts.as_deref();
    let mut states: Vec<FileState<'_>> = it
        .versions
        .iter()
        .map(|v| FileState {
            label: &v.label,
            modified: v.modified,
            editor: v.modified_by,
            comment: v.comment.as_deref(),
            content: Some((&v.blob_name, v.size)),
        })
        .collect();
    states.push(FileState {
        label: facts.and_then(|f| f.version.as_deref()).unwrap_or("1.0"),
        modified: it.mtime,
        editor: facts.and_then(|f| f.editor),
        comment: facts.and_then(|f| f.checkin_comment.as_deref()),
        content: Some((&it.blob_name, it.size)),
    });
    states
}

fn list_item_element(
    out: &mut String,
    indent: &str,
    p: &Placed<'_>,
    s: &FileState<'_>,
    versions: Option<&[FileState<'_>]>,
) {
    let (it, t, parent, people) = (p.it, p.t, p.parent, p.people);
    let server_rel = t.server_relative(&it.lib_rel);
    let web_rel = t.web_relative(&server_rel);
    // Every SPFile and SPFolder travels with its SPListItem (reference §6.7).
    let dir = server_rel
        .rsplit_once('/')
        .map(|(d, _)| d)
        .unwrap_or("")
        .trim_start_matches('/')
        .to_string();
    let (doc_type, ct) = match it.kind {
        ItemKind::Folder => ("Folder", "0x0120"),
        ItemKind::File => ("File", "0x0101"),
    };
    let mut pairs: Vec<(&'static str, String)> = vec![
        ("FileUrl", web_rel),
        ("DocType", doc_type.into()),
        ("ParentFolderId", parent.into()),
        ("Order", (it.int_id * 100).to_string()),
        ("Id", it.item_id.to_string()),
        ("ParentWebId", t.web_id.to_string()),
        ("ParentListId", t.list_id.to_string()),
        ("Name", it.name().into()),
        ("DirName", dir),
        ("IntId", it.int_id.to_string()),
        ("DocId", it.object_id.to_string()),
        ("Version", s.label.into()),
        ("ContentTypeId", ct.into()),
        ("TimeCreated", xml_time(it.ctime)),
        ("TimeLastModified", xml_time(s.modified)),
        ("ModerationStatus", "Approved".into()),
    ];
    let author = it.facts.as_ref().and_then(|f| f.author);
    people_attrs(&mut pairs, people, author, s.editor);
    let _ = write!(out, "{indent}<ListItem");
    attrs(out, &pairs);
    let _ = writeln!(out, ">\n{indent}  <Fields />");
    if let Some(vs) = versions {
        let _ = writeln!(out, "{indent}  <Versions>");
        let inner = format!("{indent}    ");
        for v in vs {
            list_item_element(out, &inner, p, v, None);
        }
        let _ = writeln!(out, "{indent}  </Versions>");
    }
    let _ = writeln!(out, "{indent}</ListItem>");
}

fn object_pair(out: &mut String, it: &PkgItem, t: &Target, parent: &str, people: &People) {
    let server_rel = t.server_relative(&it.lib_rel);
    let web_rel = t.web_relative(&server_rel);
    let oid = it.object_id.to_string();
    let facts = it.facts.as_deref();
    let states = match it.kind {
        ItemKind::File => file_states(it),
        ItemKind::Folder => vec![FileState {
            label: "1.0",
            modified: it.mtime,
            editor: facts.and_then(|f| f.editor),
            comment: None,
            content: None,
        }],
    };
    let (current, older) = states.split_last().expect("at least the current state");
    let placed = Placed {
        it,
        t,
        parent,
        people,
    };
    match it.kind {
        ItemKind::Folder => {
            sp_object(out, &oid, "SPFolder", parent, t, &server_rel);
            let mut pairs: Vec<(&'static str, String)> = vec![
                ("Id", oid.clone()),
                ("Url", web_rel),
                ("Name", it.name().into()),
                ("ParentFolderId", parent.into()),
                ("ParentWebId", t.web_id.to_string()),
                ("ParentWebUrl", t.web_url.clone()),
                ("ContainingDocumentLibrary", t.list_id.to_string()),
                ("ListItemIntId", it.int_id.to_string()),
                ("TimeCreated", xml_time(it.ctime)),
                ("TimeLastModified", xml_time(it.mtime)),
                ("SortBehavior", "1".into()),
            ];
            people_attrs(
                &mut pairs,
                people,
                facts.and_then(|f| f.author),
                current.editor,
            );
            out.push_str("    <Folder");
            attrs(out, &pairs);
            out.push_str(" />\n  </SPObject>\n");
        }
        ItemKind::File => {
            sp_object(out, &oid, "SPFile", parent, t, &server_rel);
            if older.is_empty() {
                file_element(out, "    ", &placed, current, None);
            } else {
                // Layout A (reference §6.9): every version nested with its own content, the
                // top File naming the current label without content.
                let top = FileState {
                    content: None,
                    ..*current
                };
                file_element(out, "    ", &placed, &top, Some(&states));
            }
            out.push_str("  </SPObject>\n");
        }
    }
    sp_object(
        out,
        &it.item_id.to_string(),
        "SPListItem",
        &t.list_id.to_string(),
        t,
        &server_rel,
    );
    let versions = (!older.is_empty()).then_some(states.as_slice());
    list_item_element(out, "    ", &placed, current, versions);
    out.push_str("  </SPObject>\n");
}

/// The unique permissions of the package's own items (ancestors carry theirs in their own
/// package): custom roles declared once in a `DeploymentRoles` object, then one
/// `RoleAssignment` per item in a `DeploymentRoleAssignments` object (spo-migration-api.md §6.7,
/// §6.10). Principals and roles no one mapped are left out. Returns whether any was written.
fn role_assignments(out: &mut String, items: &[PkgItem], t: &Target, people: &People) -> bool {
    let mut customs = std::collections::BTreeMap::new();
    let mut entries = Vec::new();
    for it in items {
        let Some(assigned) = it.facts.as_deref().and_then(|f| f.permissions.as_ref()) else {
            continue;
        };
        let mut pairs = Vec::new();
        for a in assigned {
            let Some(p) = people.get(Some(a.principal)) else {
                continue;
            };
            for role in &a.roles {
                let role_id = match people.role(*role) {
                    Some(TargetRole::BuiltIn(id)) => id,
                    Some(TargetRole::Custom(def)) => {
                        customs.insert(def.id, def);
                        def.id
                    }
                    None => continue,
                };
                pairs.push((role_id, p.id));
            }
        }
        entries.push((it, pairs));
    }
    if entries.is_empty() {
        return false;
    }
    let w = t.web_id.to_string();
    let scope = |what: &str| {
        Uuid::new_v5(
            &t.list_id,
            format!("{what}:{}", entries[0].0.object_id).as_bytes(),
        )
        .to_string()
    };
    if !customs.is_empty() {
        sp_object(out, &scope("roles"), "DeploymentRoles", &w, t, &t.web_url);
        out.push_str("    <Roles>\n");
        for def in customs.values() {
            out.push_str("      <Role");
            attrs(
                out,
                &[
                    ("RoleId", def.id.to_string()),
                    ("Title", def.name.clone()),
                    ("Description", def.description.clone()),
                    ("PermMask", def.perm_mask.to_string()),
                    ("Hidden", def.hidden.to_string()),
                    ("RoleOrder", def.order.to_string()),
                    ("Type", "0".into()),
                ],
            );
            out.push_str(" />\n");
        }
        out.push_str("    </Roles>\n  </SPObject>\n");
    }
    sp_object(
        out,
        &scope("assignments"),
        "DeploymentRoleAssignments",
        &w,
        t,
        &t.web_url,
    );
    out.push_str("    <RoleAssignments>\n");
    for (it, pairs) in &entries {
        out.push_str("      <RoleAssignment");
        attrs(
            out,
            &[
                ("ScopeId", Uuid::new_v5(&it.object_id, b"scope").to_string()),
                ("RoleDefWebId", w.clone()),
                ("RoleDefWebUrl", t.web_url.clone()),
                ("ObjectId", it.object_id.to_string()),
                // 2: an item (a file or folder); 0 a web, 1 a list (reference §6.7).
                ("ObjectType", "2".into()),
                ("ObjectUrl", t.server_relative(&it.lib_rel)),
                ("AnonymousPermMask", "0".into()),
            ],
        );
        out.push_str(">\n");
        for (role, principal) in pairs {
            out.push_str("        <Assignment");
            attrs(
                out,
                &[
                    ("RoleId", role.to_string()),
                    ("PrincipalId", principal.to_string()),
                ],
            );
            out.push_str(" />\n");
        }
        out.push_str("      </RoleAssignment>\n");
    }
    out.push_str("    </RoleAssignments>\n  </SPObject>\n");
    true
}

/// UserGroup.xml: the people this package's items name, each once (spo-migration-api.md §6.4).
fn user_group(items: &[&PkgItem], people: &People) -> String {
    let mut ids = std::collections::BTreeSet::new();
    for it in items {
        if let Some(f) = it.facts.as_deref() {
            ids.extend([f.author, f.editor].into_iter().flatten());
            ids.extend(f.permissions.iter().flatten().map(|a| a.principal));
        }
        ids.extend(it.versions.iter().filter_map(|v| v.modified_by));
    }
    let mut ug = format!("{DECL}<UserGroupMap xmlns=\"{NS_USER_GROUP}\">\n");
    let known: Vec<_> = ids
        .into_iter()
        .filter_map(|id| people.get(Some(id)))
        .collect();
    if known.is_empty() {
        // A file share's items name nobody: the service records the importing account.
        ug.push_str("  <Users />\n");
    } else {
        ug.push_str("  <Users>\n");
        for p in known {
            ug.push_str("    <User");
            attrs(
                &mut ug,
                &[
                    ("Id", p.id.to_string()),
                    ("Name", p.name.clone()),
                    ("Login", p.login.clone()),
                    ("Email", p.email.clone()),
                    ("IsDomainGroup", p.is_group.to_string()),
                    ("IsSiteAdmin", "false".into()),
                    ("SystemId", p.system_id.clone()),
                    ("IsDeleted", "false".into()),
                    ("Flags", "0".into()),
                ],
            );
            ug.push_str(" />\n");
        }
        ug.push_str("  </Users>\n");
    }
    ug.push_str("  <Groups />\n</UserGroupMap>\n");
    ug
}

/// Builds the eight XMLs. `ancestors` are folders re-declared for context (parent-first);
/// `items` are the package's own folders and files in scan (pre-)order.
pub fn build(
    t: &Target,
    ancestors: &[PkgItem],
    items: &[PkgItem],
    people: &People,
    source_type: &str,
) -> PackageXml {
    let mut m = String::with_capacity(1024 + items.len() * 2048);
    m.push_str(DECL);
    let _ = writeln!(m, "<SPObjects xmlns=\"{NS_MANIFEST}\">");
    library_objects(&mut m, t);
    let mut folder_ids = std::collections::HashMap::new();
    for it in ancestors.iter().chain(items.iter()) {
        let parent = parent_id(it, t, &folder_ids);
        object_pair(&mut m, it, t, &parent, people);
        if it.kind == ItemKind::Folder {
            folder_ids.insert(it.lib_rel.as_str(), it.object_id.to_string());
        }
    }
    let security = role_assignments(&mut m, items, t, people);
    m.push_str("</SPObjects>\n");

    let (w, l) = (t.web_id.to_string(), t.list_id.to_string());
    let mut es = String::from(DECL);
    let _ = write!(es, "<ExportSettings xmlns=\"{NS_EXPORT_SETTINGS}\"");
    attrs(
        &mut es,
        &[
            ("SiteUrl", t.site_url.clone()),
            ("FileLocation", "spmt".into()),
            (
                "IncludeSecurity",
                if security { "All" } else { "None" }.into(),
            ),
            ("IncludeVersions", "All".into()),
            ("SourceType", source_type.into()),
            ("IgnoreWebParts", "true".into()),
        ],
    );
    es.push_str(">\n  <ExportObjects>\n    <DeploymentObject");
    attrs(
        &mut es,
        &[
            ("Id", l.clone()),
            ("Type", "List".into()),
            ("ParentId", w.clone()),
        ],
    );
    es.push_str(" />\n  </ExportObjects>\n</ExportSettings>\n");

    let mut sd = String::from(DECL);
    let _ = writeln!(sd, "<SystemData xmlns=\"{NS_SYSTEM_DATA}\">");
    sd.push_str("  <SchemaVersion Version=\"15.0.0.0\" Build=\"16.0.3111.1200\" DatabaseVersion=\"11552\" SiteVersion=\"15\" />\n");
    let _ = writeln!(sd, "  <ManifestFiles>\n    <ManifestFile Name=\"{MANIFEST_XML}\" />\n  </ManifestFiles>\n  <SystemObjects>");
    for (id, ty, url) in [
        (t.web_root_folder_id.to_string(), "Folder", &t.web_url),
        (w.clone(), "Web", &t.web_url),
        (l.clone(), "List", &t.list_root_url),
    ] {
        sd.push_str("    <SystemObject");
        attrs(
            &mut sd,
            &[("Id", id), ("Type", ty.into()), ("Url", url.clone())],
        );
        sd.push_str(" />\n");
    }
    sd.push_str("  </SystemObjects>\n  <RootWebOnlyLists />\n</SystemData>\n");

    let named: Vec<&PkgItem> = ancestors.iter().chain(items.iter()).collect();
    let ug = user_group(&named, people);
    let req = format!("{DECL}<Requirements xmlns=\"{NS_REQUIREMENTS}\" />\n");
    let mut rom = format!("{DECL}<RootObjects xmlns=\"{NS_ROOT_OBJECT_MAP}\">\n  <RootObject");
    attrs(
        &mut rom,
        &[
            ("Id", l),
            ("Type", "List".into()),
            ("ParentId", w),
            ("WebUrl", t.web_url.clone()),
            ("Url", t.list_root_url.clone()),
            ("IsDependency", "false".into()),
        ],
    );
    rom.push_str(" />\n</RootObjects>\n");
    let llm = format!("{DECL}<LookupLists xmlns=\"{NS_LOOKUP_LIST_MAP}\" />\n");
    let vfl = format!("{DECL}<ViewFormsList xmlns=\"{NS_VIEW_FORMS_LIST}\" />\n");

    PackageXml {
        files: vec![
            (MANIFEST_XML, m),
            (EXPORT_SETTINGS_XML, es),
            (SYSTEM_DATA_XML, sd),
            (USER_GROUP_XML, ug),
            (REQUIREMENTS_XML, req),
            (ROOT_OBJECT_MAP_XML, rom),
            (LOOKUP_LIST_MAP_XML, llm),
            (VIEW_FORMS_LIST_XML, vfl),
        ],
    }
}
