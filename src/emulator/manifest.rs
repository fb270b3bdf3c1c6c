//! Reading the package XMLs: a small element tree (the files are a few hundred objects at most),
//! namespace-aware so the root element's namespace can be checked against `wire::PACKAGE_XMLS`.

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;

#[derive(Debug, Clone, Default)]
pub struct Element {
    /// Local name (no prefix).
    pub name: String,
    /// Namespace URI, empty when unbound.
    pub ns: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
}

impl Element {
    /// Attribute by name: exact match first, then case-insensitive (attribute casing varies
    /// between builders, e.g. `ID`/`Id`).
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .or_else(|| {
                self.attrs
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
            })
            .map(|(_, v)| v.as_str())
    }

    /// Non-empty attribute, trimmed.
    pub fn attr_nonempty(&self, name: &str) -> Option<&str> {
        self.attr(name).map(str::trim).filter(|s| !s.is_empty())
    }

    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
}

fn ns_of(r: &ResolveResult<'_>) -> String {
    match r {
        ResolveResult::Bound(ns) => String::from_utf8_lossy(ns.as_ref()).into_owned(),
        _ => String::new(),
    }
}

fn element(ns: &ResolveResult<'_>, e: &BytesStart<'_>) -> Result<Element, String> {
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|e| e.to_string())?;
        let key = a.key.as_ref();
        // Namespace declarations are not attributes of the object model.
        if key == b"xmlns" || key.starts_with(b"xmlns:") {
            continue;
        }
        let name = String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned();
        let value = a.unescape_value().map_err(|e| e.to_string())?.into_owned();
        attrs.push((name, value));
    }
    Ok(Element {
        name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
        ns: ns_of(ns),
        attrs,
        children: Vec::new(),
    })
}

/// Parses a whole XML document into its root element. A UTF-8 BOM is tolerated.
pub fn parse(xml: &[u8]) -> Result<Element, String> {
    let xml = xml.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(xml);
    let text = std::str::from_utf8(xml).map_err(|e| format!("not UTF-8: {e}"))?;
    let mut r = quick_xml::NsReader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root = None;
    loop {
        let pos = r.buffer_position();
        let (ns, ev) = r
            .read_resolved_event()
            .map_err(|e| format!("after byte {pos}: {e}"))?;
        match ev {
            Event::Start(e) => stack.push(element(&ns, &e)?),
            Event::Empty(e) => {
                let el = element(&ns, &e)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or("unbalanced end tag")?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err("unexpected end of document".into());
    }
    root.ok_or_else(|| "the document has no root element".into())
}

/// Checks a package XML's root element and namespace (reference §6.1).
pub fn check_root(
    file: &str,
    root: &Element,
    want_name: &str,
    want_ns: &str,
) -> Result<(), String> {
    if root.name != want_name || root.ns != want_ns {
        return Err(format!(
            "{file}: the root element is <{}> in namespace '{}'; expected <{want_name}> in '{want_ns}'",
            root.name, root.ns
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_namespaces_attributes_and_nesting() {
        let x = "\u{feff}<?xml version=\"1.0\"?><SPObjects xmlns=\"urn:deployment-manifest-schema\"><SPObject Id=\"a&amp;b\"><File Name=\"é.txt\"><Versions><File Version=\"1.0\"/></Versions></File></SPObject></SPObjects>";
        let root = parse(x.as_bytes()).unwrap();
        assert!(check_root(
            "Manifest.xml",
            &root,
            "SPObjects",
            "urn:deployment-manifest-schema"
        )
        .is_ok());
        let o = &root.children[0];
        assert_eq!(o.attr("id"), Some("a&b"));
        let f = o.child("File").unwrap();
        assert_eq!(f.attr("Name"), Some("é.txt"));
        assert_eq!(
            f.child("Versions").unwrap().children_named("File").count(),
            1
        );
        assert!(check_root("Manifest.xml", &root, "SPObjects", "urn:other").is_err());
    }
}
