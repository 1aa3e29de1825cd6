//! The few facts of a libvirt domain XML document the market cares about.
//!
//! The simulated hypervisor keeps a domain as the XML it was given (so that a
//! hand-off between a simulated and a libvirt host carries the same
//! document) and reads its size from it; tests and simulations write
//! minimal documents with [`DomainSpec::to_xml`].
//!
//! An operator puts a VM in a placement group with an element of bourse's
//! namespace under the domain's `<metadata>`, which libvirt keeps with the
//! definition (and so carries along every migration and hand-off):
//!
//! ```xml
//! <metadata>
//!   <bourse:placement xmlns:bourse="urn:bourse:placement:1" group="web" rule="apart"/>
//! </metadata>
//! ```
//!
//! `rule` is `apart` (anti-affinity, the default) or `together` (affinity).

use market::vm::{GroupRule, PlacementGroup};

use super::{DomainUuid, HypervisorError};

/// The XML namespace of bourse's domain metadata.
pub const METADATA_NAMESPACE: &str = "urn:bourse:placement:1";

/// Identity and size of a domain, as written in its XML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainSpec {
    /// `<uuid>`.
    pub uuid: DomainUuid,
    /// `<name>`.
    pub name: String,
    /// `<vcpu>`.
    pub vcpus: u32,
    /// `<currentMemory>`, or `<memory>` when there is no current value, in KiB.
    pub memory_kib: u64,
    /// Host-side device names of the interfaces (`<interface><target dev>`).
    pub interfaces: Vec<String>,
    /// The placement group in bourse's `<metadata>`, if any.
    pub group: Option<PlacementGroup>,
}

impl DomainSpec {
    /// Reads a domain XML document. The UUID is required: the market names
    /// VMs by UUID, so a definition without one cannot be traded.
    pub fn parse(xml: &str) -> Result<DomainSpec, HypervisorError> {
        let document = roxmltree::Document::parse(xml).map_err(|e| bad(e.to_string()))?;
        let domain = domain_element(&document)?;
        let child_text =
            |tag: &str| child(&domain, tag).map(|n| n.text().unwrap_or("").trim().to_string());
        let uuid = DomainUuid::parse(&child_text("uuid").ok_or_else(|| bad("no <uuid>".into()))?)?;
        let name = child_text("name")
            .filter(|n| !n.is_empty())
            .ok_or_else(|| bad("no <name>".into()))?;
        let vcpus = child_text("vcpu")
            .ok_or_else(|| bad("no <vcpu>".into()))?
            .parse::<u32>()
            .map_err(|e| bad(format!("<vcpu>: {e}")))?;
        let memory = domain
            .children()
            .find(|n| n.has_tag_name("currentMemory"))
            .or_else(|| domain.children().find(|n| n.has_tag_name("memory")))
            .ok_or_else(|| bad("no <memory>".into()))?;
        let memory_kib = memory_in_kib(
            memory.text().unwrap_or("").trim(),
            memory.attribute("unit").unwrap_or("KiB"),
        )?;
        let interfaces = domain
            .children()
            .filter(|n| n.has_tag_name("devices"))
            .flat_map(|devices| devices.children().filter(|n| n.has_tag_name("interface")))
            .filter_map(|interface| {
                interface
                    .children()
                    .find(|n| n.has_tag_name("target"))
                    .and_then(|t| t.attribute("dev"))
                    .map(str::to_string)
            })
            .collect();
        let group = placement_group(&domain)?;
        Ok(DomainSpec {
            uuid,
            name,
            vcpus,
            memory_kib,
            interfaces,
            group,
        })
    }

    /// `xml` given `uuid` when it has no `<uuid>`, as `virsh define` gives
    /// such a definition one: the market names a VM by its UUID, so it is
    /// fixed before hosts bid and the same wherever the VM is defined.
    /// `None` when `xml` has a `<uuid>` of its own. The element goes
    /// after `<name>`, indented as it is; the rest stays as written.
    pub fn with_uuid(xml: &str, uuid: &DomainUuid) -> Result<Option<String>, HypervisorError> {
        let document = roxmltree::Document::parse(xml).map_err(|e| bad(e.to_string()))?;
        let domain = domain_element(&document)?;
        if child(&domain, "uuid").is_some() {
            return Ok(None);
        }
        let name = child(&domain, "name").ok_or_else(|| bad("no <name>".into()))?;
        let indent = name
            .prev_sibling()
            .and_then(|n| n.text())
            .filter(|text| text.trim().is_empty())
            .unwrap_or("");
        let (before, after) = xml.split_at(name.range().end);
        Ok(Some(format!("{before}{indent}<uuid>{uuid}</uuid>{after}")))
    }

    /// A minimal document for a domain of libvirt type `kind` (`test` for
    /// the test driver and simulations): each interface is an `ethernet`
    /// device with the given host-side name.
    pub fn to_xml(&self, kind: &str) -> String {
        self.render(kind, "")
    }

    /// As [`DomainSpec::to_xml`], booting from the disk image at `image`
    /// (qcow2 when its name ends so, raw otherwise): what `market place
    /// --name --image` starts.
    pub fn to_xml_booting(&self, kind: &str, image: &str) -> String {
        let format = if image.ends_with(".qcow2") {
            "qcow2"
        } else {
            "raw"
        };
        let disk = format!(
            "    <disk type='file' device='disk'><driver name='qemu' type='{format}'/>\
             <source file='{}'/><target dev='vda' bus='virtio'/></disk>\n",
            escape(image)
        );
        self.render(kind, &disk)
    }

    fn render(&self, kind: &str, disks: &str) -> String {
        let interfaces: String = self
            .interfaces
            .iter()
            .map(|dev| {
                format!(
                    "    <interface type='ethernet'><target dev='{}'/></interface>\n",
                    escape(dev)
                )
            })
            .collect();
        let metadata = self.group.as_ref().map_or(String::new(), |g| {
            format!(
                "  <metadata>\n    <bourse:placement xmlns:bourse='{METADATA_NAMESPACE}' \
                 group='{}' rule='{}'/>\n  </metadata>\n",
                escape(&g.name),
                g.rule.as_str()
            )
        });
        format!(
            "<domain type='{kind}'>\n  <name>{name}</name>\n  <uuid>{uuid}</uuid>\n  \
             <memory unit='KiB'>{mem}</memory>\n  <vcpu>{vcpus}</vcpu>\n{metadata}  \
             <os><type>hvm</type></os>\n  <devices>\n{disks}{interfaces}  </devices>\n</domain>\n",
            kind = escape(kind),
            name = escape(&self.name),
            uuid = self.uuid,
            mem = self.memory_kib,
            vcpus = self.vcpus,
        )
    }

    /// Memory in MiB, rounded up (capacity checks round against the host).
    pub fn memory_mib(&self) -> u64 {
        self.memory_kib.div_ceil(1024)
    }
}

/// The root of a domain definition, refused unless it is `<domain>`.
fn domain_element<'a, 'input>(
    document: &'a roxmltree::Document<'input>,
) -> Result<roxmltree::Node<'a, 'input>, HypervisorError> {
    let domain = document.root_element();
    if domain.has_tag_name("domain") {
        Ok(domain)
    } else {
        Err(bad(format!(
            "the root element is <{}>, not <domain>",
            domain.tag_name().name()
        )))
    }
}

/// The domain's first child element `tag`.
fn child<'a, 'input>(
    domain: &roxmltree::Node<'a, 'input>,
    tag: &str,
) -> Option<roxmltree::Node<'a, 'input>> {
    domain.children().find(|n| n.has_tag_name(tag))
}

/// The group of bourse's `<metadata>` element, if the domain has one; a
/// group name or rule that is not valid refuses the whole document, so a
/// typo never silently drops an anti-affinity rule.
fn placement_group(domain: &roxmltree::Node) -> Result<Option<PlacementGroup>, HypervisorError> {
    let Some(element) = metadata_element(domain, METADATA_NAMESPACE, "placement") else {
        return Ok(None);
    };
    let name = element
        .attribute("group")
        .ok_or_else(|| bad("<bourse:placement> has no group attribute".into()))?;
    let rule = GroupRule::parse(element.attribute("rule").unwrap_or("apart"))
        .map_err(|e| bad(format!("<bourse:placement>: {e}")))?;
    PlacementGroup::new(name, rule)
        .map(Some)
        .map_err(|e| bad(format!("<bourse:placement>: {e}")))
}

/// The element `name` of `namespace` under the domain's `<metadata>`,
/// where libvirt keeps what applications attach to a domain.
pub(crate) fn metadata_element<'a, 'input>(
    domain: &roxmltree::Node<'a, 'input>,
    namespace: &str,
    name: &str,
) -> Option<roxmltree::Node<'a, 'input>> {
    domain
        .children()
        .filter(|n| n.has_tag_name("metadata"))
        .flat_map(|m| m.children())
        .find(|n| n.has_tag_name((namespace, name)))
}

fn bad(detail: String) -> HypervisorError {
    HypervisorError::BadXml { detail }
}

/// Converts a libvirt memory value with its `unit` attribute to KiB
/// (libvirt's units: powers of 1024 for `k`/`KiB`..., of 1000 for `KB`...).
fn memory_in_kib(value: &str, unit: &str) -> Result<u64, HypervisorError> {
    let amount: u64 = value
        .parse()
        .map_err(|e| bad(format!("memory value {value:?}: {e}")))?;
    let bytes_per_unit: u64 = match unit {
        "b" | "bytes" => 1,
        "KB" => 1_000,
        "k" | "KiB" => 1 << 10,
        "MB" => 1_000_000,
        "M" | "MiB" => 1 << 20,
        "GB" => 1_000_000_000,
        "G" | "GiB" => 1 << 30,
        "TB" => 1_000_000_000_000,
        "T" | "TiB" => 1 << 40,
        other => return Err(bad(format!("unknown memory unit {other:?}"))),
    };
    amount
        .checked_mul(bytes_per_unit)
        .map(|bytes| bytes.div_ceil(1024))
        .ok_or_else(|| bad(format!("memory {value} {unit} overflows")))
}

/// Escapes text for an XML attribute or element.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> DomainSpec {
        DomainSpec {
            uuid: DomainUuid::parse("6695EB01-f6a4-8304-79aa-97f2502e193f").unwrap(),
            name: "web<1>".into(),
            vcpus: 2,
            memory_kib: 2 * 1024 * 1024,
            interfaces: vec!["tap0".into()],
            group: None,
        }
    }

    #[test]
    fn a_definition_booting_an_image_reads_back_with_its_disk() {
        let xml = spec().to_xml_booting("kvm", "/images/web&1.qcow2");
        assert_eq!(DomainSpec::parse(&xml).unwrap(), spec());
        let document = roxmltree::Document::parse(&xml).unwrap();
        let disk = document
            .descendants()
            .find(|n| n.has_tag_name("disk"))
            .unwrap();
        let source = disk.children().find(|n| n.has_tag_name("source")).unwrap();
        assert_eq!(source.attribute("file"), Some("/images/web&1.qcow2"));
        let driver = disk.children().find(|n| n.has_tag_name("driver")).unwrap();
        assert_eq!(driver.attribute("type"), Some("qcow2"));
        assert!(
            spec()
                .to_xml_booting("kvm", "/images/web.img")
                .contains("type='raw'")
        );
    }

    #[test]
    fn a_placement_group_travels_in_the_metadata() {
        let mut grouped = spec();
        grouped.group = Some(PlacementGroup::new("web", GroupRule::Apart).unwrap());
        assert_eq!(DomainSpec::parse(&grouped.to_xml("test")).unwrap(), grouped);
        grouped.group = Some(PlacementGroup::new("db", GroupRule::Together).unwrap());
        assert_eq!(DomainSpec::parse(&grouped.to_xml("test")).unwrap(), grouped);
    }

    #[test]
    fn a_group_that_is_not_a_valid_name_refuses_the_document() {
        let with = |attributes: &str| {
            format!(
                "<domain><uuid>11111111-2222-4333-8444-555555555555</uuid><name>a</name>\
                 <vcpu>1</vcpu><memory>1</memory><metadata><b:placement \
                 xmlns:b='{METADATA_NAMESPACE}' {attributes}/></metadata></domain>"
            )
        };
        let error = DomainSpec::parse(&with("group='web tier'")).unwrap_err();
        assert!(error.to_string().contains("web tier"), "{error}");
        assert!(DomainSpec::parse(&with("group='web' rule='near'")).is_err());
        assert!(DomainSpec::parse(&with("rule='apart'")).is_err());
        let other_namespace = "<domain><uuid>11111111-2222-4333-8444-555555555555</uuid>\
            <name>a</name><vcpu>1</vcpu><memory>1</memory><metadata>\
            <x:placement xmlns:x='urn:other' group='a b'/></metadata></domain>";
        assert_eq!(DomainSpec::parse(other_namespace).unwrap().group, None);
    }

    #[test]
    fn a_written_document_reads_back_the_same() {
        assert_eq!(DomainSpec::parse(&spec().to_xml("test")).unwrap(), spec());
    }

    #[test]
    fn libvirt_output_with_units_and_current_memory_is_understood() {
        let xml = "<domain type='qemu'><name>g</name>\
            <uuid>11111111-2222-4333-8444-555555555555</uuid>\
            <memory unit='MiB'>64</memory><currentMemory unit='MiB'>32</currentMemory>\
            <vcpu placement='static'>1</vcpu><devices/></domain>";
        let parsed = DomainSpec::parse(xml).unwrap();
        assert_eq!(parsed.memory_kib, 32 * 1024);
        assert_eq!(parsed.memory_mib(), 32);
        assert!(parsed.interfaces.is_empty());
    }

    #[test]
    fn a_definition_without_uuid_is_given_the_one_offered_after_its_name() {
        let uuid = DomainUuid::parse("11111111-2222-4333-8444-555555555555").unwrap();
        let written = "<domain type='kvm'>\n  <name>web1</name>\n  <memory unit='MiB'>512</memory>\n  \
            <vcpu>1</vcpu>\n</domain>\n";
        let given = DomainSpec::with_uuid(written, &uuid).unwrap().unwrap();
        assert_eq!(
            given,
            "<domain type='kvm'>\n  <name>web1</name>\n  <uuid>11111111-2222-4333-8444-555555555555</uuid>\n  \
             <memory unit='MiB'>512</memory>\n  <vcpu>1</vcpu>\n</domain>\n"
        );
        assert_eq!(DomainSpec::parse(&given).unwrap().uuid, uuid);
        let compact = "<domain><name>a</name><vcpu>1</vcpu><memory>1</memory></domain>";
        let given = DomainSpec::with_uuid(compact, &uuid).unwrap().unwrap();
        assert_eq!(DomainSpec::parse(&given).unwrap().uuid, uuid);
        // One of its own is kept; what is no domain is refused as by parse.
        assert_eq!(
            DomainSpec::with_uuid(&given, &DomainUuid::random().unwrap()).unwrap(),
            None
        );
        for refused in [
            "<network><name>a</name></network>",
            "<domain><vcpu>1</vcpu></domain>",
            "<domain",
        ] {
            assert!(
                matches!(
                    DomainSpec::with_uuid(refused, &uuid),
                    Err(HypervisorError::BadXml { .. })
                ),
                "{refused}"
            );
        }
    }

    #[test]
    fn documents_without_identity_or_with_nonsense_are_refused() {
        for xml in [
            "<domain><name>a</name><vcpu>1</vcpu><memory>1</memory></domain>",
            "<domain><uuid>nope</uuid><name>a</name><vcpu>1</vcpu><memory>1</memory></domain>",
            "<domain><uuid>11111111-2222-4333-8444-555555555555</uuid><vcpu>1</vcpu><memory>1</memory></domain>",
            "<domain><uuid>11111111-2222-4333-8444-555555555555</uuid><name>a</name><vcpu>1</vcpu><memory unit='parsec'>1</memory></domain>",
            "<network/>",
            "<domain",
        ] {
            assert!(
                matches!(
                    DomainSpec::parse(xml),
                    Err(HypervisorError::BadXml { .. } | HypervisorError::BadUuid { .. })
                ),
                "{xml}"
            );
        }
    }
}
