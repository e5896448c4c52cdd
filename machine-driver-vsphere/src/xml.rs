//! A small XML element tree, read with quick-xml, for the vSphere API's SOAP answers, and the
//! escaping used to write requests.
//!
//! vSphere's answers are deeply polymorphic (`xsi:type` everywhere), so the driver walks a tree
//! instead of deserializing into hundreds of types: it picks the few fields it needs.

use quick_xml::events::Event;
use quick_xml::Reader;

/// One element: its local name (no namespace prefix), attributes, text and children.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Element {
    pub name: String,
    /// Attributes with their names as written (e.g. `xsi:type`, `type`).
    pub attrs: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }
    /// Every child named `name`.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
    /// The element at a `/`-separated path of child names.
    pub fn at(&self, path: &str) -> Option<&Element> {
        path.split('/').try_fold(self, |e, part| e.child(part))
    }
    /// The text at a path, if the element exists.
    pub fn text_at(&self, path: &str) -> Option<&str> {
        self.at(path).map(|e| e.text.as_str())
    }
    /// The value of an attribute, by its name with or without a prefix.
    pub fn attr(&self, name: &str) -> Option<&str> {
        // exact name first: `type` must not match `xsi:type` when both are there
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .or_else(|| {
                self.attrs
                    .iter()
                    .find(|(k, _)| !k.starts_with("xsi:") && k.rsplit(':').next() == Some(name))
            })
            .map(|(_, v)| v.as_str())
    }
    /// The `xsi:type` of a polymorphic value, without a prefix (e.g. `VirtualDisk`).
    pub fn xsi_type(&self) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k.ends_with(":type"))
            .map(|(_, v)| v.rsplit(':').next().unwrap_or(v))
    }
    /// The first descendant (depth first) named `name`.
    pub fn find(&self, name: &str) -> Option<&Element> {
        for c in &self.children {
            if c.name == name {
                return Some(c);
            }
            if let Some(f) = c.find(name) {
                return Some(f);
            }
        }
        None
    }

    /// Writes the element back as XML (used to send a device read from vCenter back in an edit).
    pub fn write(&self, out: &mut String) {
        out.push('<');
        out.push_str(&self.name);
        for (k, v) in &self.attrs {
            if k.starts_with("xmlns") {
                continue;
            }
            // any prefix of the schema-instance namespace (Go writes `XMLSchema-instance:type`)
            // becomes the `xsi` our envelopes declare
            let k = if k != "type" && k.ends_with(":type") {
                "xsi:type"
            } else {
                k.as_str()
            };
            out.push_str(&format!(" {k}=\"{}\"", escape(v)));
        }
        out.push('>');
        out.push_str(&escape(&self.text));
        for c in &self.children {
            c.write(out);
        }
        out.push_str(&format!("</{}>", self.name));
    }
}

/// Parses a document into its root element.
pub fn parse(doc: &str) -> Result<Element, String> {
    let mut reader = Reader::from_str(doc);
    let mut stack: Vec<Element> = vec![Element::default()];
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                let el = start(&e)?;
                stack.push(el);
            }
            Ok(Event::Empty(e)) => {
                let el = start(&e)?;
                stack.last_mut().expect("stack").children.push(el);
            }
            Ok(Event::End(_)) => {
                let el = stack.pop().expect("stack");
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => return Err("unbalanced XML".into()),
                }
            }
            Ok(Event::Text(t)) => {
                let s = t.decode().map_err(|e| e.to_string())?;
                let s = quick_xml::escape::unescape(&s).map_err(|e| e.to_string())?;
                stack.last_mut().expect("stack").text.push_str(&s);
            }
            Ok(Event::GeneralRef(r)) => {
                let name = r.decode().map_err(|e| e.to_string())?;
                let s = match name.as_ref() {
                    "lt" => "<".to_string(),
                    "gt" => ">".to_string(),
                    "amp" => "&".to_string(),
                    "apos" => "'".to_string(),
                    "quot" => "\"".to_string(),
                    n => match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        _ => format!("&{n};"),
                    },
                };
                stack.last_mut().expect("stack").text.push_str(&s);
            }
            Ok(Event::CData(t)) => {
                let s = String::from_utf8_lossy(&t.into_inner()).into_owned();
                stack.last_mut().expect("stack").text.push_str(&s);
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => return Err(format!("bad XML at {}: {e}", reader.buffer_position())),
        }
    }
    let mut root = stack.pop().ok_or("empty document")?;
    if !stack.is_empty() {
        return Err("unbalanced XML".into());
    }
    root.children
        .pop()
        .filter(|_| root.children.is_empty())
        .ok_or_else(|| "expected exactly one root element".to_string())
}

fn start(e: &quick_xml::events::BytesStart) -> Result<Element, String> {
    let qname = String::from_utf8_lossy(e.name().as_ref()).into_owned();
    let name = qname.rsplit(':').next().unwrap_or(&qname).to_string();
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|e| e.to_string())?;
        let k = String::from_utf8_lossy(a.key.as_ref()).into_owned();
        let v = a.unescape_value().map_err(|e| e.to_string())?.into_owned();
        attrs.push((k, v));
    }
    Ok(Element {
        name,
        attrs,
        ..Default::default()
    })
}

/// Escapes text for an XML element or attribute.
pub fn escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// `<name>escaped text</name>`.
pub fn tag(name: &str, text: impl std::fmt::Display) -> String {
    format!("<{name}>{}</{name}>", escape(&text.to_string()))
}

/// A managed object reference: `<name type="TYPE">VALUE</name>`.
pub fn moref(name: &str, r: &crate::soap::MoRef) -> String {
    format!(
        "<{name} type=\"{}\">{}</{name}>",
        escape(&r.kind),
        escape(&r.value)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prefixed_soap_with_entities() {
        let doc = r#"<?xml version="1.0"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="x">
<soapenv:Body><R xmlns="urn:vim25"><returnval type="Folder">group-d1</returnval>
<val xsi:type="xsd:string">a &amp; b &lt;c&gt;</val><e/></R></soapenv:Body></soapenv:Envelope>"#;
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "Envelope");
        let r = root.at("Body/R").unwrap();
        assert_eq!(r.child("returnval").unwrap().attr("type"), Some("Folder"));
        assert_eq!(r.text_at("returnval"), Some("group-d1"));
        assert_eq!(r.text_at("val"), Some("a & b <c>"));
        assert_eq!(r.child("val").unwrap().xsi_type(), Some("string"));
        assert!(r.child("e").is_some());
        let m = parse(r#"<val xsi:type="ManagedObjectReference" type="Folder">f</val>"#).unwrap();
        assert_eq!(m.attr("type"), Some("Folder"));
    }

    #[test]
    fn round_trips_an_element() {
        let root = parse(r#"<a XMLSchema-instance:type="T"><b>1 &amp; 2</b></a>"#).unwrap();
        let mut s = String::new();
        root.write(&mut s);
        assert_eq!(s, r#"<a xsi:type="T"><b>1 &amp; 2</b></a>"#);
    }
}
