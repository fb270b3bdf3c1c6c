//! The package XML writers, checked by structure against the worked example of reference §6.10
//! (parsed back, not string-compared) and against Microsoft's XSDs with xmllint.

use quick_xml::events::Event;
use spmt::package::{xml, PkgItem, PkgVersion, Target};
use spmt::people::{People, RoleDef, SourceUser};
use spmt::scan::{ItemFacts, ItemKind, RoleAssignment};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use uuid::Uuid;

/// The worked example's Manifest.xml (reference §6.10), without `plan.docx` whose versions
/// are out of this writer's scope and without `Author`/`ModifiedBy` (a file share has no
/// users to map: the writer leaves them out so the service records the importing account).
const EXAMPLE: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<SPObjects xmlns="urn:deployment-manifest-schema">
  <SPObject Id="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a04" ObjectType="SPFolder" ParentId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a02"
            ParentWebId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a01" ParentWebUrl="/sites/Proj" Url="/sites/Proj/Shared Documents">
    <Folder Id="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a04" Url="Shared Documents" Name="Shared Documents"
            ParentFolderId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a02" ParentWebId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a01"
            ParentWebUrl="/sites/Proj" ContainingDocumentLibrary="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a03"
            TimeCreated="2024-01-01T00:00:00" TimeLastModified="2024-01-01T00:00:00" SortBehavior="1" />
  </SPObject>
  <SPObject Id="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a03" ObjectType="SPDocumentLibrary" ParentId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a01"
            ParentWebId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a01" ParentWebUrl="/sites/Proj" Url="/sites/Proj/Shared Documents">
    <DocumentLibrary Id="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a03" BaseTemplate="DocumentLibrary"
                     RootFolderId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a04" RootFolderUrl="/sites/Proj/Shared Documents"
                     ParentWebId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a01" ParentWebUrl="/sites/Proj" Title="Documents">
      <ContentTypes />
    </DocumentLibrary>
  </SPObject>
  <SPObject Id="5d0b6c1e-0b3f-4e59-9c41-6a0f5b7e2001" ObjectType="SPFolder" ParentId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a04"
            ParentWebId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a01" ParentWebUrl="/sites/Proj" Url="/sites/Proj/Shared Documents/Reports">
    <Folder Id="5d0b6c1e-0b3f-4e59-9c41-6a0f5b7e2001" Url="Shared Documents/Reports" Name="Reports"
            ParentFolderId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a04" ParentWebId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a01"
            ParentWebUrl="/sites/Proj" ContainingDocumentLibrary="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a03" ListItemIntId="1"
            TimeCreated="2023-03-01T08:00:00" TimeLastModified="2023-03-01T08:00:00" SortBehavior="1" />
  </SPObject>
  <SPObject Id="5d0b6c1e-0b3f-4e59-9c41-6a0f5b7e2002" ObjectType="SPListItem" ParentId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a03"
            ParentWebId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a01" ParentWebUrl="/sites/Proj" Url="/sites/Proj/Shared Documents/Reports">
    <ListItem FileUrl="Shared Documents/Reports" DocType="Folder" ParentFolderId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a04" Order="100"
              Id="5d0b6c1e-0b3f-4e59-9c41-6a0f5b7e2002" ParentWebId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a01"
              ParentListId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a03" Name="Reports" DirName="sites/Proj/Shared Documents"
              IntId="1" DocId="5d0b6c1e-0b3f-4e59-9c41-6a0f5b7e2001" Version="1.0" ContentTypeId="0x0120"
              TimeCreated="2023-03-01T08:00:00" TimeLastModified="2023-03-01T08:00:00" ModerationStatus="Approved">
      <Fields />
    </ListItem>
  </SPObject>
  <SPObject Id="5d0b6c1e-0b3f-4e59-9c41-6a0f5b7e3001" ObjectType="SPFile" ParentId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a04"
            ParentWebId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a01" ParentWebUrl="/sites/Proj" Url="/sites/Proj/Shared Documents/readme.txt">
    <File Url="Shared Documents/readme.txt" Id="5d0b6c1e-0b3f-4e59-9c41-6a0f5b7e3001" ParentWebId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a01"
          ParentWebUrl="/sites/Proj" Name="readme.txt" ListItemIntId="2" ListId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a03"
          ParentId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a04" TimeCreated="2023-02-01T10:00:00" TimeLastModified="2023-02-01T10:00:00"
          Version="1.0" FileValue="00000001.dat" FileSize="1234" />
  </SPObject>
  <SPObject Id="5d0b6c1e-0b3f-4e59-9c41-6a0f5b7e3002" ObjectType="SPListItem" ParentId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a03"
            ParentWebId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a01" ParentWebUrl="/sites/Proj" Url="/sites/Proj/Shared Documents/readme.txt">
    <ListItem FileUrl="Shared Documents/readme.txt" DocType="File" ParentFolderId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a04" Order="200"
              Id="5d0b6c1e-0b3f-4e59-9c41-6a0f5b7e3002" ParentWebId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a01"
              ParentListId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a03" Name="readme.txt" DirName="sites/Proj/Shared Documents"
              IntId="2" DocId="5d0b6c1e-0b3f-4e59-9c41-6a0f5b7e3001" Version="1.0" ContentTypeId="0x0101"
              TimeCreated="2023-02-01T10:00:00" TimeLastModified="2023-02-01T10:00:00" ModerationStatus="Approved">
      <Fields />
    </ListItem>
  </SPObject>
</SPObjects>"#;

/// The worked example's `plan.docx` (reference §6.10): two versions, by Alice then Bob, in
/// layout A (every version nested with its content, the top File without).
const PLAN_EXAMPLE: &str = r#"<SPObjects xmlns="urn:deployment-manifest-schema">
  <SPObject Id="5d0b6c1e-0b3f-4e59-9c41-6a0f5b7e4001" ObjectType="SPFile" ParentId="5d0b6c1e-0b3f-4e59-9c41-6a0f5b7e2001"
            ParentWebId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a01" ParentWebUrl="/sites/Proj" Url="/sites/Proj/Shared Documents/Reports/plan.docx">
    <File Url="Shared Documents/Reports/plan.docx" Id="5d0b6c1e-0b3f-4e59-9c41-6a0f5b7e4001" ParentWebId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a01"
          ParentWebUrl="/sites/Proj" Name="plan.docx" ListItemIntId="3" ListId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a03"
          ParentId="5d0b6c1e-0b3f-4e59-9c41-6a0f5b7e2001" TimeCreated="2023-03-02T09:00:00" TimeLastModified="2023-03-05T16:30:00"
          Version="2.0" CheckinComment="" Author="1" ModifiedBy="2">
      <Versions>
        <File Url="Shared Documents/Reports/plan.docx" Id="5d0b6c1e-0b3f-4e59-9c41-6a0f5b7e4001" ParentWebId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a01"
              ParentWebUrl="/sites/Proj" Name="plan.docx" ListItemIntId="3" ListId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a03"
              ParentId="5d0b6c1e-0b3f-4e59-9c41-6a0f5b7e2001" TimeCreated="2023-03-02T09:00:00" TimeLastModified="2023-03-02T09:00:00"
              Version="1.0" CheckinComment="first draft" FileValue="00000002.dat" FileSize="20480" Author="1" ModifiedBy="1" />
        <File Url="Shared Documents/Reports/plan.docx" Id="5d0b6c1e-0b3f-4e59-9c41-6a0f5b7e4001" ParentWebId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a01"
              ParentWebUrl="/sites/Proj" Name="plan.docx" ListItemIntId="3" ListId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a03"
              ParentId="5d0b6c1e-0b3f-4e59-9c41-6a0f5b7e2001" TimeCreated="2023-03-02T09:00:00" TimeLastModified="2023-03-05T16:30:00"
              Version="2.0" CheckinComment="final" FileValue="00000003.dat" FileSize="24576" Author="1" ModifiedBy="2" />
      </Versions>
    </File>
  </SPObject>
  <SPObject Id="5d0b6c1e-0b3f-4e59-9c41-6a0f5b7e4002" ObjectType="SPListItem" ParentId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a03"
            ParentWebId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a01" ParentWebUrl="/sites/Proj" Url="/sites/Proj/Shared Documents/Reports/plan.docx">
    <ListItem FileUrl="Shared Documents/Reports/plan.docx" DocType="File" ParentFolderId="5d0b6c1e-0b3f-4e59-9c41-6a0f5b7e2001" Order="300"
              Id="5d0b6c1e-0b3f-4e59-9c41-6a0f5b7e4002" ParentWebId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a01"
              ParentListId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a03" Name="plan.docx" DirName="sites/Proj/Shared Documents/Reports"
              IntId="3" DocId="5d0b6c1e-0b3f-4e59-9c41-6a0f5b7e4001" Version="2.0" ContentTypeId="0x0101"
              Author="1" ModifiedBy="2" TimeCreated="2023-03-02T09:00:00" TimeLastModified="2023-03-05T16:30:00" ModerationStatus="Approved">
      <Fields />
      <Versions>
        <ListItem FileUrl="Shared Documents/Reports/plan.docx" DocType="File" ParentFolderId="5d0b6c1e-0b3f-4e59-9c41-6a0f5b7e2001" Order="300"
                  Id="5d0b6c1e-0b3f-4e59-9c41-6a0f5b7e4002" ParentWebId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a01"
                  ParentListId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a03" Name="plan.docx" DirName="sites/Proj/Shared Documents/Reports"
                  IntId="3" DocId="5d0b6c1e-0b3f-4e59-9c41-6a0f5b7e4001" Version="1.0" ContentTypeId="0x0101"
                  Author="1" ModifiedBy="1" TimeCreated="2023-03-02T09:00:00" TimeLastModified="2023-03-02T09:00:00" ModerationStatus="Approved">
          <Fields />
        </ListItem>
        <ListItem FileUrl="Shared Documents/Reports/plan.docx" DocType="File" ParentFolderId="5d0b6c1e-0b3f-4e59-9c41-6a0f5b7e2001" Order="300"
                  Id="5d0b6c1e-0b3f-4e59-9c41-6a0f5b7e4002" ParentWebId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a01"
                  ParentListId="8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a03" Name="plan.docx" DirName="sites/Proj/Shared Documents/Reports"
                  IntId="3" DocId="5d0b6c1e-0b3f-4e59-9c41-6a0f5b7e4001" Version="2.0" ContentTypeId="0x0101"
                  Author="1" ModifiedBy="2" TimeCreated="2023-03-02T09:00:00" TimeLastModified="2023-03-05T16:30:00" ModerationStatus="Approved">
          <Fields />
        </ListItem>
      </Versions>
    </ListItem>
  </SPObject>
</SPObjects>"#;

/// The worked example's UserGroup.xml.
const USERS_EXAMPLE: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<UserGroupMap xmlns="urn:deployment-usergroupmap-schema">
  <Users>
    <User Id="1" Name="Alice" Login="i:0#.f|membership|alice@contoso.com" Email="alice@contoso.com"
          IsDomainGroup="false" IsSiteAdmin="false" SystemId="aTowIy5mfG1lbWJlcnNoaXB8YWxpY2VAY29udG9zby5jb20=" IsDeleted="false" Flags="0" />
    <User Id="2" Name="Bob" Login="i:0#.f|membership|bob@contoso.com" Email="bob@contoso.com"
          IsDomainGroup="false" IsSiteAdmin="false" SystemId="aTowIy5mfG1lbWJlcnNoaXB8Ym9iQGNvbnRvc28uY29t" IsDeleted="false" Flags="0" />
  </Users>
  <Groups />
</UserGroupMap>"#;

/// One SPObject: its attributes and its child element's name and attributes.
#[derive(Debug, PartialEq)]
struct Obj {
    attrs: BTreeMap<String, String>,
    child: String,
    child_attrs: BTreeMap<String, String>,
}

fn attrs_of(e: &quick_xml::events::BytesStart) -> BTreeMap<String, String> {
    e.attributes()
        .map(|a| a.unwrap())
        .map(|a| {
            (
                String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                a.unescape_value().unwrap().into_owned(),
            )
        })
        .collect()
}

fn parse(xml: &str) -> (String, Vec<Obj>) {
    let mut r = quick_xml::Reader::from_str(xml);
    let mut out = Vec::new();
    let mut root_ns = String::new();
    let mut depth = 0;
    loop {
        match r.read_event().unwrap() {
            Event::Start(e) | Event::Empty(e) if depth == 0 => {
                root_ns = attrs_of(&e).get("xmlns").cloned().unwrap_or_default();
                depth = 1;
            }
            Event::Start(e) if e.name().as_ref() == b"SPObject" => out.push(Obj {
                attrs: attrs_of(&e),
                child: String::new(),
                child_attrs: BTreeMap::new(),
            }),
            Event::Start(e) | Event::Empty(e) => {
                if let Some(o) = out.last_mut() {
                    if o.child.is_empty() {
                        o.child = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                        o.child_attrs = attrs_of(&e);
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    (root_ns, out)
}

fn t(s: &str) -> SystemTime {
    let d = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
        .unwrap()
        .and_utc();
    UNIX_EPOCH + Duration::from_secs(d.timestamp() as u64)
}

fn u(s: &str) -> Uuid {
    Uuid::parse_str(s).unwrap()
}

fn example_target() -> Target {
    Target {
        site_url: "https://contoso.sharepoint.com/sites/Proj".into(),
        web_url: "/sites/Proj".into(),
        web_id: u("8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a01"),
        web_root_folder_id: u("8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a02"),
        list_id: u("8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a03"),
        list_title: "Documents".into(),
        list_root_folder_id: u("8c1f2a30-6a2e-4d7c-9a57-3f0d2f6c1a04"),
        list_root_url: "/sites/Proj/Shared Documents".into(),
    }
}

fn example_items() -> Vec<PkgItem> {
    vec![
        PkgItem {
            kind: ItemKind::Folder,
            lib_rel: "Reports".into(),
            object_id: u("5d0b6c1e-0b3f-4e59-9c41-6a0f5b7e2001"),
            item_id: u("5d0b6c1e-0b3f-4e59-9c41-6a0f5b7e2002"),
            int_id: 1,
            size: 0,
            ctime: t("2023-03-01T08:00:00"),
            mtime: t("2023-03-01T08:00:00"),
            blob_name: String::new(),
            facts: None,
            versions: Vec::new(),
        },
        PkgItem {
            kind: ItemKind::File,
            lib_rel: "readme.txt".into(),
            object_id: u("5d0b6c1e-0b3f-4e59-9c41-6a0f5b7e3001"),
            item_id: u("5d0b6c1e-0b3f-4e59-9c41-6a0f5b7e3002"),
            int_id: 2,
            size: 1234,
            ctime: t("2023-02-01T10:00:00"),
            mtime: t("2023-02-01T10:00:00"),
            blob_name: "00000001.dat".into(),
            facts: None,
            versions: Vec::new(),
        },
    ]
}

/// Alice (1) and Bob (2), mapped by their e-mail addresses.
fn example_people() -> People {
    let user = |id: i64, name: &str| SourceUser {
        id,
        login: format!("i:0#.w|contoso\\{}", name.to_lowercase()),
        title: name.into(),
        email: Some(format!("{}@contoso.com", name.to_lowercase())),
        sid: None,
        is_group: false,
    };
    People::resolve(&[user(1, "Alice"), user(2, "Bob")], None, true)
}

/// `Reports/plan.docx` of the worked example: 1.0 by Alice, 2.0 (current) by Bob.
fn plan_docx() -> PkgItem {
    PkgItem {
        kind: ItemKind::File,
        lib_rel: "Reports/plan.docx".into(),
        object_id: u("5d0b6c1e-0b3f-4e59-9c41-6a0f5b7e4001"),
        item_id: u("5d0b6c1e-0b3f-4e59-9c41-6a0f5b7e4002"),
        int_id: 3,
        size: 24576,
        ctime: t("2023-03-02T09:00:00"),
        mtime: t("2023-03-05T16:30:00"),
        blob_name: "00000003.dat".into(),
        facts: Some(std::sync::Arc::new(ItemFacts {
            author: Some(1),
            editor: Some(2),
            version: Some("2.0".into()),
            checkin_comment: Some("final".into()),
            permissions: None,
        })),
        versions: vec![PkgVersion {
            label: "1.0".into(),
            modified: t("2023-03-02T09:00:00"),
            modified_by: Some(1),
            comment: Some("first draft".into()),
            size: 20480,
            blob_name: "00000002.dat".into(),
        }],
    }
}

/// Every element of `xml` with its attributes, in document order.
fn elements(xml: &str) -> Vec<(String, BTreeMap<String, String>)> {
    let mut r = quick_xml::Reader::from_str(xml);
    let mut out = Vec::new();
    loop {
        match r.read_event().unwrap() {
            Event::Start(e) | Event::Empty(e) => out.push((
                String::from_utf8_lossy(e.name().as_ref()).into_owned(),
                attrs_of(&e),
            )),
            Event::Eof => return out,
            _ => {}
        }
    }
}

#[test]
fn manifest_matches_the_worked_example_by_structure() {
    let pkg = xml::build(
        &example_target(),
        &[],
        &example_items(),
        &People::default(),
        "FileShare",
    );
    let manifest = &pkg
        .files
        .iter()
        .find(|(n, _)| *n == "Manifest.xml")
        .unwrap()
        .1;
    let (ns, ours) = parse(manifest);
    let (ex_ns, example) = parse(EXAMPLE);
    assert_eq!(ns, ex_ns);
    let ours_ids: Vec<&str> = ours.iter().map(|o| o.attrs["Id"].as_str()).collect();
    let ex_ids: Vec<&str> = example.iter().map(|o| o.attrs["Id"].as_str()).collect();
    assert_eq!(
        ours_ids, ex_ids,
        "same objects in the same (parents-first) order"
    );
    for (o, e) in ours.iter().zip(&example) {
        assert_eq!(o.attrs, e.attrs, "SPObject {}", e.attrs["Id"]);
        assert_eq!(o.child, e.child, "child of {}", e.attrs["Id"]);
        // The library's root folder times are the target's own; the writer does not invent them.
        let mut want = e.child_attrs.clone();
        if e.attrs["Id"].ends_with("1a04") {
            want.remove("TimeCreated");
            want.remove("TimeLastModified");
        }
        assert_eq!(
            o.child_attrs, want,
            "attributes of {} in {}",
            e.child, e.attrs["Id"]
        );
    }
}

#[test]
fn versions_and_people_match_the_worked_example() {
    let people = example_people();
    let pkg = xml::build(
        &example_target(),
        &[example_items()[0].clone()],
        &[plan_docx()],
        &people,
        "SharePointOnPremServer",
    );
    let ours = elements(&pkg.files[0].1);
    // From plan.docx's SPObject on: the File with its versions, then the ListItem with its.
    let from = ours
        .iter()
        .position(|(n, a)| n == "SPObject" && a["Url"].ends_with("plan.docx"))
        .unwrap();
    let ours = &ours[from..];
    let want = &elements(PLAN_EXAMPLE)[1..];
    assert_eq!(
        ours.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        want.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        "same elements, same nesting order"
    );
    for (i, ((name, o), (_, w))) in ours.iter().zip(want).enumerate() {
        let mut w = w.clone();
        if i == 1 {
            // The top File: the example leaves the current check-in comment empty; spmt says it
            // there too (it is the item's comment).
            w.insert("CheckinComment".into(), "final".into());
        }
        assert_eq!(o, &w, "element {i} ({name})");
    }
    // UserGroup.xml: Alice and Bob with the example's ids, logins, e-mail addresses.
    let users: Vec<_> = elements(&pkg.files[3].1)
        .into_iter()
        .filter(|(n, _)| n == "User")
        .map(|(_, a)| a)
        .collect();
    let want: Vec<_> = elements(USERS_EXAMPLE)
        .into_iter()
        .filter(|(n, _)| n == "User")
        .map(|(_, a)| a)
        .collect();
    assert_eq!(users.len(), 2);
    for (o, w) in users.iter().zip(&want) {
        for k in ["Id", "Name", "Login", "Email", "IsDomainGroup", "IsDeleted"] {
            assert_eq!(o[k], w[k], "User {k}");
        }
        assert!(!o["SystemId"].is_empty(), "every user carries a SystemId");
    }
    assert!(pkg.files[1]
        .1
        .contains("SourceType=\"SharePointOnPremServer\""));
}

#[test]
fn all_eight_xmls_with_their_names_roots_and_namespaces() {
    let pkg = xml::build(
        &example_target(),
        &[],
        &example_items(),
        &People::default(),
        "FileShare",
    );
    let names: Vec<&str> = pkg.files.iter().map(|(n, _)| *n).collect();
    let expected: Vec<&str> = spmt::wire::PACKAGE_XMLS
        .iter()
        .map(|(n, _, _)| *n)
        .collect();
    assert_eq!(names, expected);
    assert!(names.contains(&"UserGroup.xml"));
    for ((name, text), (_, root, ns)) in pkg.files.iter().zip(spmt::wire::PACKAGE_XMLS) {
        assert!(!text.starts_with('\u{feff}'), "{name} has no BOM");
        let mut r = quick_xml::Reader::from_str(text);
        let first = loop {
            match r.read_event().unwrap() {
                Event::Start(e) | Event::Empty(e) => break e.into_owned(),
                Event::Eof => panic!("{name} has no root"),
                _ => {}
            }
        };
        assert_eq!(first.name().as_ref(), root.as_bytes(), "{name} root");
        assert_eq!(
            attrs_of(&first).get("xmlns").map(String::as_str),
            Some(ns),
            "{name} namespace"
        );
    }
    let es = &pkg.files[1].1;
    assert!(
        es.contains("SourceType=\"FileShare\"")
            && es.contains("SiteUrl=\"https://contoso.sharepoint.com/sites/Proj\"")
    );
}

#[test]
fn ancestors_are_redeclared_before_items_and_names_are_escaped() {
    let target = example_target();
    let mut items = example_items();
    let folder = items.remove(0);
    let mut f = items.remove(0);
    f.lib_rel = "Reports/a & b <c>.txt".into();
    let pkg = xml::build(&target, &[folder], &[f], &People::default(), "FileShare");
    let (_, objs) = parse(&pkg.files[0].1);
    let urls: Vec<&str> = objs.iter().map(|o| o.attrs["Url"].as_str()).collect();
    assert_eq!(
        urls,
        [
            "/sites/Proj/Shared Documents",
            "/sites/Proj/Shared Documents",
            "/sites/Proj/Shared Documents/Reports",
            "/sites/Proj/Shared Documents/Reports",
            "/sites/Proj/Shared Documents/Reports/a & b <c>.txt",
            "/sites/Proj/Shared Documents/Reports/a & b <c>.txt"
        ]
    );
    assert_eq!(
        objs[4].child_attrs["ParentId"], "5d0b6c1e-0b3f-4e59-9c41-6a0f5b7e2001",
        "file's parent is the re-declared folder"
    );
    assert_eq!(
        objs[5].child_attrs["DirName"],
        "sites/Proj/Shared Documents/Reports"
    );
}

/// Validates every XML against Microsoft's schemas (reference/xsd/SOURCES.md says which file
/// checks which). Needs xmllint and ../shared; CI sets SPMT_REQUIRE_XMLLINT=1 so it cannot
/// silently skip there.
#[test]
fn package_validates_against_microsofts_xsds() {
    let xsd = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/reference/xsd/xmllint-compatible");
    let have = std::process::Command::new("xmllint")
        .arg("--version")
        .output()
        .is_ok()
        && xsd.is_dir();
    if !have {
        assert!(
            std::env::var("SPMT_REQUIRE_XMLLINT").is_err(),
            "xmllint or {} missing",
            xsd.display()
        );
        eprintln!("skipping: xmllint or the XSDs are not here");
        return;
    }
    let schema = |n: &str| match n {
        "Manifest.xml" => "spo-migration-api/DeploymentManifest.xsd",
        "ExportSettings.xml" => "spo-migration-api/DeploymentExportSettings.xsd",
        "RootObjectMap.xml" => "spo-migration-api/DeploymentRootObjectMap.xsd",
        "SystemData.xml" => "ms-primepf/DeploymentSystemData.xsd",
        "UserGroup.xml" => "ms-primepf/DeploymentUserGroupMap.xsd",
        "LookupListMap.xml" => "ms-primepf/DeploymentLookupListMap.xsd",
        "Requirements.xml" => "ms-primepf/DeploymentRequirements.xsd",
        "ViewFormsList.xml" => "ms-primepf/DeploymentViewFormsList.xsd",
        _ => unreachable!(),
    };
    let dir = tempfile::tempdir().unwrap();
    let target = example_target();
    let items = example_items();
    let plain = xml::build(
        &target,
        &items[..1],
        &items[1..],
        &People::default(),
        "FileShare",
    );
    // And a SharePoint source's: versions, authors and editors, UserGroup.xml with users.
    // plan.docx with unique permissions too: Bob reads it, Alice holds a custom role.
    let mut with_history = items[1..].to_vec();
    let mut plan = plan_docx();
    let mut facts = (**plan.facts.as_ref().unwrap()).clone();
    facts.permissions = Some(vec![
        RoleAssignment {
            principal: 2,
            roles: vec![1073741826],
        },
        RoleAssignment {
            principal: 1,
            roles: vec![1073741930],
        },
    ]);
    plan.facts = Some(std::sync::Arc::new(facts));
    with_history.push(plan);
    let mut people = example_people();
    people.set_roles(&[RoleDef {
        id: 1073741930,
        name: "Approver".into(),
        description: "Approves documents".into(),
        perm_mask: 1_011_028_719,
        hidden: false,
        order: 160,
        kind: 0,
    }]);
    let versions = xml::build(
        &target,
        &items[..1],
        &with_history,
        &people,
        "SharePointOnPremServer",
    );
    assert!(versions.files[3].1.contains("<User "), "users are written");
    let m = &versions.files[0].1;
    assert!(
        m.contains("ObjectType=\"DeploymentRoles\"")
            && m.contains("Title=\"Approver\"")
            && m.contains("<Assignment RoleId=\"1073741826\" PrincipalId=\"2\" />")
            && m.contains("<Assignment RoleId=\"1073741930\" PrincipalId=\"1\" />"),
        "{m}"
    );
    assert!(versions.files[1].1.contains("IncludeSecurity=\"All\""));
    for (name, text) in plain.files.iter().chain(versions.files.iter()) {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        let out = std::process::Command::new("xmllint")
            .arg("--noout")
            .arg("--schema")
            .arg(xsd.join(schema(name)))
            .arg(&p)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name} does not validate: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
