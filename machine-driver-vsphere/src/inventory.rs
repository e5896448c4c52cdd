//! Finding things in vCenter's inventory: datacenter, datastore, networks, resource pool, host,
//! VM folder and template, by name or inventory path, with the rule "exactly one → use it,
//! several → a clear error listing them".

use crate::options::Config;
use crate::session::{text, Session};
use crate::soap::MoRef;
use driver_protocol::{DriverError, ErrorKind};
use std::collections::HashMap;

/// One inventory object with its full inventory path, e.g. `/DC0/host/DC0_C0/Resources`.
#[derive(Debug, Clone)]
pub struct Entity {
    pub moref: MoRef,
    pub name: String,
    pub parent: Option<MoRef>,
    pub path: String,
}

/// The inventory tree (without VMs unless asked).
pub struct Inventory {
    pub entities: Vec<Entity>,
}

const TYPES: &[&str] = &[
    "Folder",
    "Datacenter",
    "ComputeResource",
    "HostSystem",
    "ResourcePool",
    "Datastore",
    "Network",
];

impl Inventory {
    /// Reads names and parents of the inventory, VMs included when `vms`.
    pub async fn load(s: &Session, vms: bool) -> Result<Inventory, DriverError> {
        let mut types = TYPES.to_vec();
        if vms {
            types.push("VirtualMachine");
        }
        let objs = s
            .list(
                &s.sc.root_folder,
                &types,
                "ManagedEntity",
                &["name", "parent"],
            )
            .await?;
        let mut raw: HashMap<MoRef, (String, Option<MoRef>)> = HashMap::new();
        for (m, p) in objs {
            let name = decode_name(text(&p, "name"));
            let parent = p.get("parent").and_then(MoRef::from_element);
            raw.insert(m, (name, parent));
        }
        let root = s.sc.root_folder.clone();
        let mut entities = Vec::new();
        for (m, (name, parent)) in &raw {
            let mut parts = vec![name.clone()];
            let mut cur = parent.clone();
            let mut guard = 0;
            while let Some(p) = cur {
                if p == root || guard > 64 {
                    break;
                }
                guard += 1;
                match raw.get(&p) {
                    Some((n, pp)) => {
                        parts.push(n.clone());
                        cur = pp.clone();
                    }
                    None => break,
                }
            }
            parts.reverse();
            entities.push(Entity {
                moref: m.clone(),
                name: name.clone(),
                parent: parent.clone(),
                path: format!("/{}", parts.join("/")),
            });
        }
        entities.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Inventory { entities })
    }

    fn of_kinds(&self, kinds: &[&str], under: &str) -> Vec<&Entity> {
        self.entities
            .iter()
            .filter(|e| {
                kinds.contains(&e.moref.kind.as_str())
                    && (under.is_empty() || e.path.starts_with(under))
            })
            .collect()
    }

    pub fn get(&self, m: &MoRef) -> Option<&Entity> {
        self.entities.iter().find(|e| &e.moref == m)
    }

    /// Picks one object of `kinds` under `under` (a path prefix ending in `/`): the one `wanted`
    /// names (full path, path relative to `under`, or name), or the only one when `wanted` is
    /// `None`. `what` and `option` word the errors.
    pub fn pick(
        &self,
        kinds: &[&str],
        under: &str,
        wanted: Option<&str>,
        what: &str,
        option: &str,
        scope: &str,
    ) -> Result<&Entity, DriverError> {
        let all: Vec<&Entity> = self.of_kinds(kinds, under);
        let listing = |v: &[&Entity]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.iter()
                    .map(|e| e.path.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        match wanted {
            Some(w) => {
                let w = w.trim_end_matches('/');
                let matches: Vec<&Entity> = all
                    .iter()
                    .copied()
                    .filter(|e| {
                        e.path == w
                            || e.path == format!("{under}{}", w.trim_start_matches('/'))
                            || e.path.ends_with(&format!("/{w}"))
                            || e.name == w
                    })
                    .collect();
                let exact: Vec<&Entity> = matches.iter().copied().filter(|e| e.path == w).collect();
                match (matches.len(), exact.len()) {
                    (_, 1) => Ok(exact[0]),
                    (1, _) => Ok(matches[0]),
                    (0, _) => Err(DriverError::not_found(format!(
                        "{what} {w:?} not found{scope}; there: {}",
                        listing(&all)
                    ))),
                    _ => Err(DriverError::invalid_option(format!(
                        "{what} {w:?} is ambiguous{scope}: it matches {}; give its full path with --{option}",
                        listing(&matches)
                    ))),
                }
            }
            None => match all.len() {
                1 => Ok(all[0]),
                0 => Err(DriverError::not_found(format!("no {what} found{scope}"))),
                _ => Err(DriverError::invalid_option(format!(
                    "several {what}s exist{scope}, choose one with --{option}: {}",
                    listing(&all)
                ))),
            },
        }
    }
}

/// vCenter escapes `%`, `/` and `\` in names.
pub fn decode_name(s: &str) -> String {
    s.replace("%2f", "/")
        .replace("%2F", "/")
        .replace("%5c", "\\")
        .replace("%5C", "\\")
        .replace("%25", "%")
}

/// What create needs, resolved.
#[derive(Debug, Clone)]
pub struct Placement {
    pub datacenter: Entity,
    /// The datacenter's path without the leading `/`, for datastore file URLs (`dcPath`).
    pub dc_path: String,
    pub folder: MoRef,
    pub pool: MoRef,
    pub host: Option<MoRef>,
    pub datastore: Entity,
    /// Empty on a clone that keeps its template's networks.
    pub networks: Vec<Entity>,
    pub template: Option<Entity>,
}

/// Resolves everything create needs; every error names what was asked and lists what exists.
pub async fn resolve(s: &Session, cfg: &Config) -> Result<Placement, DriverError> {
    let clone = cfg.creation == crate::options::Creation::Clone;
    let inv = Inventory::load(s, clone).await?;
    let dc = inv
        .pick(
            &["Datacenter"],
            "",
            cfg.datacenter.as_deref(),
            "datacenter",
            "vmwarevsphere-datacenter",
            "",
        )?
        .clone();
    let under = format!("{}/", dc.path);
    let scope = format!(" in datacenter {}", dc.path.trim_start_matches('/'));
    let host = match cfg.hostsystem.as_deref() {
        Some(h) => Some(
            inv.pick(
                &["HostSystem"],
                &under,
                Some(h),
                "host",
                "vmwarevsphere-hostsystem",
                &scope,
            )?
            .clone(),
        ),
        None => None,
    };
    let pool_kinds = ["ResourcePool", "VirtualApp"];
    let pool = match (cfg.pool.as_deref(), &host) {
        (Some(p), _) => inv
            .pick(
                &pool_kinds,
                &under,
                Some(p),
                "resource pool",
                "vmwarevsphere-pool",
                &scope,
            )?
            .moref
            .clone(),
        (None, Some(h)) => {
            // the root pool of the host's compute resource
            let cr = h.parent.clone();
            inv.entities
                .iter()
                .find(|e| e.moref.kind == "ResourcePool" && e.parent == cr)
                .map(|e| e.moref.clone())
                .ok_or_else(|| {
                    DriverError::not_found(format!(
                        "host {} has no resource pool; choose one with --vmwarevsphere-pool",
                        h.path
                    ))
                })?
        }
        (None, None) => inv
            .pick(
                &pool_kinds,
                &under,
                None,
                "resource pool",
                "vmwarevsphere-pool",
                &scope,
            )?
            .moref
            .clone(),
    };
    let datastore = inv
        .pick(
            &["Datastore"],
            &under,
            cfg.datastore.as_deref(),
            "datastore",
            "vmwarevsphere-datastore",
            &scope,
        )?
        .clone();
    let net_kinds = ["Network", "DistributedVirtualPortgroup", "OpaqueNetwork"];
    let mut networks = Vec::new();
    for n in &cfg.networks {
        networks.push(
            inv.pick(
                &net_kinds,
                &under,
                Some(n),
                "network",
                "vmwarevsphere-network",
                &scope,
            )?
            .clone(),
        );
    }
    if networks.is_empty() {
        let all: Vec<&Entity> = inv
            .of_kinds(&net_kinds, &under)
            .into_iter()
            .filter(|e| !is_uplink(e))
            .collect();
        match all.len() {
            1 => networks.push(all[0].clone()),
            _ if clone => {} // a clone keeps its template's networks
            0 => {
                return Err(DriverError::not_found(format!("no network found{scope}")));
            }
            _ => {
                return Err(DriverError::invalid_option(format!(
                    "several networks exist{scope}, choose one (or more) with --vmwarevsphere-network: {}",
                    all.iter().map(|e| e.path.as_str()).collect::<Vec<_>>().join(", ")
                )))
            }
        }
    }
    let vm_root = format!("{}/vm", dc.path);
    let folder = match cfg.folder.as_deref() {
        Some(f) => {
            let f = f.trim_end_matches('/');
            let full = if f.starts_with('/') {
                f.to_string()
            } else {
                format!("{vm_root}/{f}")
            };
            inv.entities
                .iter()
                .find(|e| e.moref.kind == "Folder" && e.path == full)
                .ok_or_else(|| {
                    let there: Vec<&str> = inv
                        .entities
                        .iter()
                        .filter(|e| e.moref.kind == "Folder" && e.path.starts_with(&vm_root))
                        .map(|e| e.path.as_str())
                        .collect();
                    DriverError::not_found(format!(
                        "VM folder {f:?} ({full}) not found{scope}; there: {}",
                        there.join(", ")
                    ))
                })?
                .moref
                .clone()
        }
        None => inv
            .entities
            .iter()
            .find(|e| e.moref.kind == "Folder" && e.path == vm_root)
            .ok_or_else(|| {
                DriverError::not_found(format!("datacenter {} has no VM folder", dc.path))
            })?
            .moref
            .clone(),
    };
    let template = match (clone, cfg.clone_from.as_deref()) {
        (true, Some(t)) => Some(
            inv.pick(&["VirtualMachine"], &under, Some(t), "VM or template to clone", "vmwarevsphere-clone-from", &scope)
                .map_err(|e| {
                    if e.kind == ErrorKind::NotFound {
                        DriverError::not_found(format!(
                            "VM or template {t:?} to clone (--vmwarevsphere-clone-from) not found{scope}; VMs there: {}",
                            listing(&inv, &["VirtualMachine"], &under, 30)
                        ))
                    } else {
                        e
                    }
                })?
                .clone(),
        ),
        _ => None,
    };
    Ok(Placement {
        dc_path: dc.path.trim_start_matches('/').to_string(),
        datacenter: dc,
        folder,
        pool,
        host: host.map(|h| h.moref),
        datastore,
        networks,
        template,
    })
}

fn listing(inv: &Inventory, kinds: &[&str], under: &str, max: usize) -> String {
    let all: Vec<&str> = inv
        .of_kinds(kinds, under)
        .into_iter()
        .map(|e| e.path.as_str())
        .collect();
    let mut s = all.iter().take(max).copied().collect::<Vec<_>>().join(", ");
    if all.len() > max {
        s.push_str(&format!(" and {} more", all.len() - max));
    }
    if s.is_empty() {
        s = "none".into();
    }
    s
}

/// A distributed switch's uplink port group is no network for VMs.
fn is_uplink(e: &Entity) -> bool {
    e.moref.kind == "DistributedVirtualPortgroup" && e.name.contains("DVUplinks")
}
