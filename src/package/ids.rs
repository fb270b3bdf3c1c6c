//! Deterministic object ids: UUIDv5 of the target path, so a re-run reuses them (reference §6.8:
//! re-importing the same content must keep its GUIDs, new GUIDs for old content conflict).

use uuid::Uuid;

/// Id of the SPFile or SPFolder at `server_relative` in list `list_id`.
pub fn object_id(list_id: Uuid, server_relative: &str) -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!("spmt:object:{list_id}:{server_relative}").as_bytes(),
    )
}

/// Id of the SPListItem paired with that object (distinct from the object id, as in
/// Microsoft's example; `DocId` carries the object id).
pub fn list_item_id(list_id: Uuid, server_relative: &str) -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!("spmt:listitem:{list_id}:{server_relative}").as_bytes(),
    )
}

/// Content blob name, SPMT style `{guid}.dat` (reference §4.3).
pub fn blob_name(object_id: Uuid) -> String {
    format!("{object_id}.dat")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        let l = Uuid::new_v4();
        assert_eq!(
            object_id(l, "/sites/a/D/x.txt"),
            object_id(l, "/sites/a/D/x.txt")
        );
        assert_ne!(
            object_id(l, "/sites/a/D/x.txt"),
            list_item_id(l, "/sites/a/D/x.txt")
        );
        assert_ne!(
            object_id(l, "/sites/a/D/x.txt"),
            object_id(Uuid::new_v4(), "/sites/a/D/x.txt")
        );
    }
}
