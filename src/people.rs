//! People: the source site's users, SPMT's user-mapping file, and who each of them becomes at
//! the target (spmt-features.md §2.3, spo-migration-api.md §6.4).
//!
//! A source user is mapped by the mapping file (by login, with or without its claims prefix, or
//! by SID), else — with automatic user mapping on, SPMT's default — by the e-mail address the
//! source knows (the UPN at the target, as an Entra lookup would find it). A user neither finds
//! is left out of the package: the service then records the importing account, as SPMT leaves
//! an unmapped user's items to the destination's default; the user is listed in
//! `UserNotMapped.csv`.

use base64::Engine as _;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A user or group of the source site (SharePoint Server's `siteusers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceUser {
    /// The site's own id (`AuthorId`, `EditorId`, `CreatedBy.Id` refer to it).
    pub id: i64,
    /// `i:0#.w|contoso\alice`, `CONTOSO\alice`, `c:0+.w|s-1-5-21-…`.
    pub login: String,
    pub title: String,
    pub email: Option<String>,
    /// `S-1-5-21-…` when the source says it.
    pub sid: Option<String>,
    pub is_group: bool,
}

/// Who a source user is at the target, as UserGroup.xml writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The id the package refers to (the source site's id).
    pub id: i64,
    pub name: String,
    /// The target login: `i:0#.f|membership|alice@contoso.com` for a user.
    pub login: String,
    pub email: String,
    /// base64 of the binary SID (what SPMT writes), or of the source login when the source
    /// has no SID: the service refuses a user without one (spo-migration-api.md §6.4).
    pub system_id: String,
    pub is_group: bool,
}

/// A source user who could not be mapped, for `UserNotMapped.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmapped {
    pub login: String,
    pub sid: String,
    pub reason: String,
}

/// A role definition of the source site (`roledefinitions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleDef {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// `(BasePermissions.High << 32) | Low`.
    pub perm_mask: u64,
    pub hidden: bool,
    pub order: i64,
    /// SP.RoleType: 0 for a custom role, 1–6 for the built-in ones.
    pub kind: i64,
}

/// SharePoint's built-in roles by SP.RoleType, with the ids every site gives them: a package
/// refers to them and never declares them ("Updates to system roles is not allowed",
/// spo-migration-api.md §6.7).
const BUILT_IN_ROLES: &[(i64, i64, &str)] = &[
    (1, 1073741825, "Limited Access"),
    (2, 1073741826, "Read"),
    (3, 1073741827, "Contribute"),
    (4, 1073741828, "Design"),
    (5, 1073741829, "Full Control"),
    (6, 1073741830, "Edit"),
];

/// How a package names a source role: a built-in by the target's well-known id, a custom one
/// by its own definition (declared in the package).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetRole<'a> {
    BuiltIn(i64),
    Custom(&'a RoleDef),
}

/// The people of one task: every mapped source user by id, and the site's roles.
#[derive(Debug, Clone, Default)]
pub struct People {
    by_id: HashMap<i64, Principal>,
    roles: HashMap<i64, RoleDef>,
    pub unmapped: Vec<Unmapped>,
}

impl People {
    pub fn get(&self, id: Option<i64>) -> Option<&Principal> {
        self.by_id.get(&id?)
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The source site's role definitions, for [`People::role`].
    pub fn set_roles(&mut self, roles: &[RoleDef]) {
        self.roles = roles.iter().map(|r| (r.id, r.clone())).collect();
    }

    /// What a source role id becomes in a package; `None` for a role the site does not define
    /// that is not a built-in one either.
    pub fn role(&self, id: i64) -> Option<TargetRole<'_>> {
        if let Some(r) = self.roles.get(&id) {
            if let Some((_, rid, _)) = BUILT_IN_ROLES.iter().find(|(k, _, _)| *k == r.kind) {
                return Some(TargetRole::BuiltIn(*rid));
            }
            return Some(TargetRole::Custom(r));
        }
        BUILT_IN_ROLES
            .iter()
            .any(|(_, rid, _)| *rid == id)
            .then_some(TargetRole::BuiltIn(id))
    }

    /// Records the user ids items refer to that the source site no longer has (deleted users):
    /// their items are recorded as the importing account's, as SharePoint does for a user it
    /// cannot find.
    pub fn note_missing(&mut self, ids: impl IntoIterator<Item = i64>) {
        for id in ids {
            self.unmapped.push(Unmapped {
                login: format!("(user id {id})"),
                sid: String::new(),
                reason: "no longer a user of the source site; its items are recorded as the importing account's".into(),
            });
        }
    }

    /// Writes `UserNotMapped.csv` (SPMT's report of the users it could not map) into `folder`.
    pub fn write_not_mapped(&self, folder: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(folder)?;
        let mut csv = crate::report::csv::CsvFile::create(
            &folder.join("UserNotMapped.csv"),
            &["Source user", "SID", "Reason"],
        )?;
        for u in &self.unmapped {
            csv.row([u.login.as_str(), u.sid.as_str(), u.reason.as_str()])?;
        }
        csv.finish()
    }

    /// Maps the source's users. `automatic`: SPMT's AutomaticUserMapping (by e-mail here).
    pub fn resolve(users: &[SourceUser], mapping: Option<&UserMapping>, automatic: bool) -> People {
        let mut people = People::default();
        for u in users {
            if is_system(&u.login) {
                continue;
            }
            let row = mapping.and_then(|m| m.find(u));
            let (login, email, is_group) = match row {
                Some(r) if r.is_group => (r.target.clone(), String::new(), true),
                Some(r) => (claim(&r.target), r.target.clone(), false),
                None => match u.email.as_deref().filter(|e| e.contains('@')) {
                    Some(e) if automatic && !u.is_group => (claim(e), e.to_string(), false),
                    _ => {
                        people.unmapped.push(Unmapped {
                            login: u.login.clone(),
                            sid: u.sid.clone().unwrap_or_default(),
                            reason: if mapping.is_some() {
                                "not in the user mapping file".into()
                            } else if u.is_group {
                                "a group; map it in a user mapping file (UserMappingFile)".into()
                            } else {
                                "no e-mail address on the source and no user mapping file; add a row for it to a user mapping file (UserMappingFile)".into()
                            },
                        });
                        continue;
                    }
                },
            };
            let system_id = u
                .sid
                .as_deref()
                .and_then(sid_bytes)
                .map(|b| base64::engine::general_purpose::STANDARD.encode(b))
                .unwrap_or_else(|| {
                    base64::engine::general_purpose::STANDARD.encode(u.login.as_bytes())
                });
            people.by_id.insert(
                u.id,
                Principal {
                    id: u.id,
                    name: u.title.clone(),
                    login,
                    email,
                    system_id,
                    is_group,
                },
            );
        }
        people
    }
}

/// Accounts every farm has that are nobody at the target.
fn is_system(login: &str) -> bool {
    let l = login.to_ascii_lowercase();
    l.ends_with("sharepoint\\system") || l == "sharepoint\\system" || l.ends_with("|system")
}

/// A UPN as SharePoint Online's login claim.
fn claim(upn: &str) -> String {
    if upn.contains('|') {
        upn.to_string()
    } else {
        format!("i:0#.f|membership|{upn}")
    }
}

/// A login without its claims prefix (`i:0#.w|contoso\alice` → `contoso\alice`), lower-cased.
fn bare_login(login: &str) -> String {
    login
        .rsplit_once('|')
        .map(|(_, l)| l)
        .unwrap_or(login)
        .trim()
        .to_lowercase()
}

/// The binary form of a SID string (`S-1-5-21-…`, [MS-DTYP] 2.4.2): revision, the count of
/// sub-authorities, the 48-bit authority big-endian, each sub-authority little-endian.
pub fn sid_bytes(sid: &str) -> Option<Vec<u8>> {
    let mut parts = sid
        .trim()
        .strip_prefix("S-")
        .or(sid.strip_prefix("s-"))?
        .split('-');
    let revision: u8 = parts.next()?.parse().ok()?;
    let authority: u64 = parts.next()?.parse().ok()?;
    let subs: Vec<u32> = parts.map(|p| p.parse().ok()).collect::<Option<_>>()?;
    if subs.len() > 15 || authority >= 1 << 48 {
        return None;
    }
    let mut out = vec![revision, subs.len() as u8];
    out.extend_from_slice(&authority.to_be_bytes()[2..]);
    for s in subs {
        out.extend_from_slice(&s.to_le_bytes());
    }
    Some(out)
}

/// One row of a user-mapping file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingRow {
    /// Source login or SID, as written.
    pub source: String,
    /// Target UPN (or group name).
    pub target: String,
    pub is_group: bool,
}

/// SPMT's user-mapping file: no header, three columns (source login or SID, target UPN,
/// TRUE/FALSE for a group).
#[derive(Debug, Clone, Default)]
pub struct UserMapping {
    by_source: HashMap<String, MappingRow>,
}

#[derive(Debug, thiserror::Error)]
#[error("user mapping file {}: {message}", path.display())]
pub struct MappingError {
    pub path: PathBuf,
    pub message: String,
}

impl UserMapping {
    pub fn load(path: &Path) -> Result<UserMapping, MappingError> {
        let fail = |message: String| MappingError {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
        UserMapping::parse(&text).map_err(fail)
    }

    /// Parses the file's bytes; a bad row is refused with its line number and the fix.
    pub fn parse(bytes: &[u8]) -> Result<UserMapping, String> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(bytes);
        let mut by_source = HashMap::new();
        for rec in r.records() {
            let rec = rec.map_err(|e| {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                format!("line {line}: not CSV: {e}")
            })?;
            let line = rec.position().map(|p| p.line()).unwrap_or(0);
            if rec.iter().all(str::is_empty) {
                continue;
            }
            let fix = "each line is: source login or SID, target user principal name, TRUE or FALSE (is it a group)";
            if rec.len() != 3 {
                return Err(format!(
                    "line {line}: {} columns, expected 3; {fix}",
                    rec.len()
                ));
            }
            let (source, target, group) = (&rec[0], &rec[1], &rec[2]);
            if source.is_empty() || target.is_empty() {
                return Err(format!("line {line}: an empty source or target; {fix}"));
            }
            let is_group = match group.to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                other => {
                    return Err(format!(
                        "line {line}: the third column is '{other}', expected TRUE or FALSE"
                    ))
                }
            };
            if !is_group && !target.contains('@') {
                return Err(format!(
                    "line {line}: target '{target}' is not a user principal name (name@domain)"
                ));
            }
            let key = if source.to_ascii_uppercase().starts_with("S-1-") {
                source.to_ascii_uppercase()
            } else {
                bare_login(source)
            };
            by_source.insert(
                key,
                MappingRow {
                    source: source.to_string(),
                    target: target.to_string(),
                    is_group,
                },
            );
        }
        Ok(UserMapping { by_source })
    }

    /// The row for a source user: by SID first, then by login.
    pub fn find(&self, u: &SourceUser) -> Option<&MappingRow> {
        u.sid
            .as_deref()
            .and_then(|s| self.by_source.get(&s.to_ascii_uppercase()))
            .or_else(|| self.by_source.get(&bare_login(&u.login)))
    }

    pub fn len(&self) -> usize {
        self.by_source.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_source.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: i64, login: &str, email: Option<&str>, sid: Option<&str>) -> SourceUser {
        SourceUser {
            id,
            login: login.into(),
            title: login.into(),
            email: email.map(Into::into),
            sid: sid.map(Into::into),
            is_group: false,
        }
    }

    #[test]
    fn microsofts_example_sid_round_trips_to_its_base64() {
        // spo-migration-api.md §6.4 / sharepoint-server-source.md §2.4.
        let b = sid_bytes("S-1-5-21-2146773085-903363285-719344707-1214030").unwrap();
        assert_eq!(
            base64::engine::general_purpose::STANDARD.encode(b),
            "AQUAAAAAAAUVAAAAXSj1f9U62DVDVOAqToYSAA=="
        );
        assert!(sid_bytes("S-1-x").is_none());
    }

    #[test]
    fn mapping_rows_match_by_login_with_or_without_claims_and_by_sid() {
        let m = UserMapping::parse(
            b"\xEF\xBB\xBFi:0#.w|CONTOSO\\alice,alice@contoso.com,FALSE\n\
              S-1-5-21-1-2-3-1104,bob@contoso.com,false\n\n",
        )
        .unwrap();
        assert_eq!(m.len(), 2);
        let alice = user(7, "CONTOSO\\Alice", None, None);
        assert_eq!(m.find(&alice).unwrap().target, "alice@contoso.com");
        let bob = user(8, "i:0#.w|contoso\\bob", None, Some("S-1-5-21-1-2-3-1104"));
        assert_eq!(m.find(&bob).unwrap().target, "bob@contoso.com");
        let people = People::resolve(&[alice, bob], Some(&m), true);
        assert_eq!(
            people.get(Some(7)).unwrap().login,
            "i:0#.f|membership|alice@contoso.com"
        );
        // Bob's SystemId is his SID's bytes, Alice's (no SID known) her login's.
        let b = people.get(Some(8)).unwrap();
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(&b.system_id)
                .unwrap(),
            sid_bytes("S-1-5-21-1-2-3-1104").unwrap()
        );
    }

    #[test]
    fn bad_rows_name_their_line_and_the_fix() {
        let e = UserMapping::parse(b"a,b@c.com,FALSE\nx,y\n").unwrap_err();
        assert!(e.starts_with("line 2: 2 columns, expected 3"), "{e}");
        let e = UserMapping::parse(b"a,b@c.com,maybe\n").unwrap_err();
        assert!(e.contains("line 1") && e.contains("TRUE or FALSE"), "{e}");
        let e = UserMapping::parse(b"a,notaupn,FALSE\n").unwrap_err();
        assert!(
            e.contains("line 1") && e.contains("user principal name"),
            "{e}"
        );
    }

    #[test]
    fn built_in_roles_go_by_their_well_known_ids_and_custom_ones_by_their_definition() {
        let role = |id, kind| RoleDef {
            id,
            name: format!("r{id}"),
            description: String::new(),
            perm_mask: 1,
            hidden: false,
            order: 1,
            kind,
        };
        let mut p = People::default();
        // A farm whose Contribute has another id still means the target's Contribute.
        p.set_roles(&[role(1073741999, 3), role(1073741930, 0)]);
        assert_eq!(p.role(1073741999), Some(TargetRole::BuiltIn(1073741827)));
        assert!(
            matches!(p.role(1073741930), Some(TargetRole::Custom(r)) if r.name == "r1073741930")
        );
        assert_eq!(p.role(1073741826), Some(TargetRole::BuiltIn(1073741826)));
        assert_eq!(p.role(5), None);
    }

    #[test]
    fn unmapped_users_are_listed_with_why_and_automatic_mapping_uses_the_email() {
        let users = [
            user(1, "i:0#.w|contoso\\carol", Some("carol@contoso.com"), None),
            user(2, "i:0#.w|contoso\\dave", None, None),
            user(3, "SHAREPOINT\\system", None, None),
        ];
        let p = People::resolve(&users, None, true);
        assert_eq!(
            p.get(Some(1)).unwrap().login,
            "i:0#.f|membership|carol@contoso.com"
        );
        assert!(p.get(Some(2)).is_none() && p.get(Some(3)).is_none());
        assert_eq!(p.unmapped.len(), 1);
        assert_eq!(p.unmapped[0].login, "i:0#.w|contoso\\dave");
        let off = People::resolve(&users, None, false);
        assert!(off.get(Some(1)).is_none());
        assert_eq!(off.unmapped.len(), 2);
    }
}
