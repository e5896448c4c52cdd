//! vCenter sessions: the service content, `Login`/`Logout`, the property collector (read
//! properties of one object, or of every object of some types under a container), and the
//! mapping of SOAP failures to the protocol's error kinds. When vCenter says the session is no
//! longer authenticated (it expired, or was terminated), the session logs in again and the failed
//! SOAP call is retried once.
//!
//! `task.rs` runs vCenter's tasks in a session (methods of [`Session`]); [`pool`] keeps the
//! sessions of a driver process, one per vCenter and credentials.

pub mod pool;
mod task;

use crate::options::Config;
use crate::soap::{MoRef, Soap, SoapError, Trust};
use crate::xml::{self, tag, Element};
use driver_protocol::{DriverError, ErrorKind};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The properties read from one object, by property path; values are the `val` elements.
pub type Props = HashMap<String, Element>;

/// The service's well-known objects.
#[derive(Debug, Clone)]
pub struct ServiceContent {
    pub root_folder: MoRef,
    pub property_collector: MoRef,
    pub view_manager: MoRef,
    pub search_index: MoRef,
    pub session_manager: MoRef,
    /// Absent on some ESXi versions.
    pub file_manager: Option<MoRef>,
}

/// The user and password a session logs in (and in again) with. Never printed.
struct Credentials {
    username: String,
    password: driver_protocol::Secret,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &self.password)
            .finish()
    }
}

/// A logged-in session, shared by every call with the same credentials.
pub struct Session {
    pub soap: Soap,
    pub sc: ServiceContent,
    /// `https://HOST:PORT`, for messages.
    pub url: String,
    creds: Credentials,
    /// Bumped by every login after the first: a call that failed on an older generation retries
    /// without logging in again when another call already did.
    generation: AtomicU64,
    relogin: tokio::sync::Mutex<()>,
    /// Counts every `Login` this session made (shared with its pool).
    logins: Arc<AtomicU64>,
}

/// Maps a SOAP failure to a driver error; `what` says what the driver was doing.
pub fn error(what: &str, e: SoapError) -> DriverError {
    let kind = match &e {
        SoapError::Transport(_) | SoapError::Certificate(_) => ErrorKind::Unreachable,
        SoapError::Fault { kind, .. } => match kind.as_str() {
            "InvalidLogin" | "NotAuthenticated" | "NoPermission" => ErrorKind::AuthFailed,
            "ManagedObjectNotFound" | "NotFound" | "FileNotFound" => ErrorKind::NotFound,
            "DuplicateName" | "FileAlreadyExists" | "AlreadyExists" => ErrorKind::AlreadyExists,
            "InvalidArgument" | "InvalidRequest" => ErrorKind::InvalidOption,
            _ => ErrorKind::Internal,
        },
        SoapError::Protocol(_) => ErrorKind::Internal,
    };
    DriverError::new(kind, format!("{what}: {e}"))
}

/// How this config trusts vCenter's certificate (reads the CA file).
pub fn trust(cfg: &Config) -> Result<Trust, DriverError> {
    let ca_pem = match &cfg.ca_cert {
        Some(path) => Some(std::fs::read(path).map_err(|e| {
            DriverError::invalid_option(format!("cannot read --vmwarevsphere-ca-cert {path}: {e}"))
        })?),
        None => None,
    };
    Ok(Trust {
        insecure: cfg.insecure,
        ca_pem,
        thumbprint: cfg.thumbprint.clone(),
    })
}

/// Whether an answer says the session is not (or no longer) authenticated without being a fault:
/// a property read whose every property is missing with `NotAuthenticated` (vcsim answers so).
fn not_authenticated(resp: &Element) -> bool {
    resp.children_named("returnval").any(|rv| {
        rv.children_named("objects").any(|o| {
            // missingSet/fault is a LocalizedMethodFault; its own `fault` holds the type
            o.children_named("missingSet").any(|m| {
                [m.child("fault"), m.at("fault/fault")]
                    .into_iter()
                    .flatten()
                    .any(|f| f.xsi_type() == Some("NotAuthenticated"))
            })
        })
    })
}

impl Session {
    /// Connects and logs in: a session of its own, outside any pool. Errors never contain the
    /// password.
    pub async fn login(cfg: &Config) -> Result<Session, DriverError> {
        Session::connect(cfg, &trust(cfg)?, Arc::new(AtomicU64::new(0))).await
    }

    /// Connects and logs in, counting the login in `logins`.
    async fn connect(
        cfg: &Config,
        trust: &Trust,
        logins: Arc<AtomicU64>,
    ) -> Result<Session, DriverError> {
        let url = cfg.base_url();
        let soap = Soap::new(url.clone(), trust).map_err(DriverError::invalid_option)?;
        let resp = soap
            .call(r#"<RetrieveServiceContent xmlns="urn:vim25"><_this type="ServiceInstance">ServiceInstance</_this></RetrieveServiceContent>"#)
            .await
            .map_err(|e| match e {
                SoapError::Certificate(m) => DriverError::unreachable(format!(
                    "vCenter at {url} has a certificate this machine does not trust ({m}). \
                     Trust it with --vmwarevsphere-ca-cert FILE or --vmwarevsphere-thumbprint SHA256, \
                     or skip the check with --vmwarevsphere-insecure"
                )),
                SoapError::Transport(m) => {
                    DriverError::unreachable(format!("cannot reach vCenter at {url}: {m}"))
                }
                other => error(&format!("{url} does not answer like vCenter"), other),
            })?;
        let rv = resp
            .child("returnval")
            .ok_or_else(|| DriverError::internal("vCenter's service content is empty"))?;
        let get = |name: &str| {
            rv.child(name).and_then(MoRef::from_element).ok_or_else(|| {
                DriverError::internal(format!("vCenter's service content lacks {name}"))
            })
        };
        let sc = ServiceContent {
            root_folder: get("rootFolder")?,
            property_collector: get("propertyCollector")?,
            view_manager: get("viewManager")?,
            search_index: get("searchIndex")?,
            session_manager: get("sessionManager")?,
            file_manager: get("fileManager").ok(),
        };
        let s = Session {
            soap,
            sc,
            url,
            creds: Credentials {
                username: cfg.username.clone(),
                password: cfg.password.clone(),
            },
            generation: AtomicU64::new(0),
            relogin: tokio::sync::Mutex::new(()),
            logins,
        };
        s.log_in().await?;
        Ok(s)
    }

    /// Sends `Login`. The error never echoes vCenter's fault message (some servers quote the
    /// request, password included).
    async fn log_in(&self) -> Result<(), DriverError> {
        let body = format!(
            r#"<Login xmlns="urn:vim25">{}{}{}</Login>"#,
            xml::moref("_this", &self.sc.session_manager),
            tag("userName", &self.creds.username),
            tag("password", self.creds.password.expose())
        );
        self.logins.fetch_add(1, Ordering::Relaxed);
        let url = &self.url;
        let user = &self.creds.username;
        self.soap
            .call(&body)
            .await
            .map_err(|e| match e.fault_kind() {
                Some("InvalidLogin") => DriverError::auth_failed(format!(
                "vCenter at {url} refused the login of user {user:?}: wrong user name or password \
                 (--vmwarevsphere-username, --vmwarevsphere-password)"
            )),
                _ => DriverError::new(
                    error("", e).kind,
                    format!("logging in to vCenter at {url} as {user:?} failed"),
                ),
            })?;
        tracing::debug!(url = %self.url, user = %self.creds.username, "logged in to vCenter");
        Ok(())
    }

    /// Logs in again after vCenter said the session of generation `seen` is not authenticated,
    /// unless another call already did.
    async fn log_in_again(&self, seen: u64) -> Result<(), DriverError> {
        let _one_at_a_time = self.relogin.lock().await;
        if self.generation.load(Ordering::SeqCst) != seen {
            return Ok(());
        }
        tracing::info!(url = %self.url, user = %self.creds.username, "the vCenter session expired; logging in again");
        self.soap.clear_cookie();
        self.log_in().await?;
        self.generation.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Ends the session (best effort).
    pub async fn logout(&self) {
        let body = format!(
            r#"<Logout xmlns="urn:vim25">{}</Logout>"#,
            xml::moref("_this", &self.sc.session_manager)
        );
        let _ = self.soap.call(&body).await;
    }

    /// Calls a method; when vCenter says the session is not authenticated (expired), logs in
    /// again and retries once. A call refused that way did not run, so retrying is safe.
    pub async fn raw(&self, body: &str) -> Result<Element, SoapError> {
        let seen = self.generation.load(Ordering::SeqCst);
        let expired = |r: &Result<Element, SoapError>| match r {
            Err(e) => e.fault_kind() == Some("NotAuthenticated"),
            Ok(resp) => not_authenticated(resp),
        };
        let first = self.soap.call(body).await;
        if !expired(&first) {
            return first;
        }
        if let Err(e) = self.log_in_again(seen).await {
            let message = format!("the session expired and {}", e.message);
            return Err(match e.kind {
                ErrorKind::Unreachable => SoapError::Transport(message),
                ErrorKind::AuthFailed => SoapError::Fault {
                    kind: "NotAuthenticated".into(),
                    message,
                },
                _ => SoapError::Fault {
                    kind: "LoginFailed".into(),
                    message,
                },
            });
        }
        let second = self.soap.call(body).await;
        if let Ok(resp) = &second {
            if not_authenticated(resp) {
                return Err(SoapError::Fault {
                    kind: "NotAuthenticated".into(),
                    message: "vCenter does not accept the session even after a new login".into(),
                });
            }
        }
        second
    }

    /// Calls a method, mapping failures to driver errors that say what was being done.
    pub async fn call(&self, what: &str, body: &str) -> Result<Element, DriverError> {
        self.raw(body).await.map_err(|e| error(what, e))
    }

    /// Reads properties of one object. `NotFound` when the object is gone.
    pub async fn props(&self, obj: &MoRef, paths: &[&str]) -> Result<Props, DriverError> {
        let path_set: String = paths.iter().map(|p| tag("pathSet", p)).collect();
        let body = format!(
            r#"<RetrievePropertiesEx xmlns="urn:vim25">{}<specSet><propSet><type>{}</type>{path_set}</propSet><objectSet>{}<skip>false</skip></objectSet></specSet><options></options></RetrievePropertiesEx>"#,
            xml::moref("_this", &self.sc.property_collector),
            xml::escape(&obj.kind),
            xml::moref("obj", obj),
        );
        let resp = self
            .raw(&body)
            .await
            .map_err(|e| error(&format!("reading {obj} from vCenter"), e))?;
        let objects = collect_objects(&resp);
        objects
            .into_iter()
            .next()
            .map(|(_, p)| p)
            .ok_or_else(|| DriverError::not_found(format!("{obj} does not exist in vCenter")))
    }

    /// Every object of `types` under `container` (recursively), with the properties `paths`
    /// (read through the common base type `ManagedEntity` when `base` says so).
    pub async fn list(
        &self,
        container: &MoRef,
        types: &[&str],
        base: &str,
        paths: &[&str],
    ) -> Result<Vec<(MoRef, Props)>, DriverError> {
        let type_set: String = types.iter().map(|t| tag("type", t)).collect();
        let body = format!(
            r#"<CreateContainerView xmlns="urn:vim25">{}{}{type_set}<recursive>true</recursive></CreateContainerView>"#,
            xml::moref("_this", &self.sc.view_manager),
            xml::moref("container", container),
        );
        let resp = self.call("listing vCenter's inventory", &body).await?;
        let view = resp
            .child("returnval")
            .and_then(MoRef::from_element)
            .ok_or_else(|| DriverError::internal("vCenter returned no container view"))?;
        let path_set: String = paths.iter().map(|p| tag("pathSet", p)).collect();
        let body = format!(
            r#"<RetrievePropertiesEx xmlns="urn:vim25">{}<specSet><propSet><type>{}</type>{path_set}</propSet><objectSet>{}<skip>true</skip><selectSet xsi:type="TraversalSpec"><name>view</name><type>ContainerView</type><path>view</path><skip>false</skip></selectSet></objectSet></specSet><options></options></RetrievePropertiesEx>"#,
            xml::moref("_this", &self.sc.property_collector),
            xml::escape(base),
            xml::moref("obj", &view),
        );
        let result = self.retrieve_all(&body).await;
        let destroy = format!(
            r#"<DestroyView xmlns="urn:vim25">{}</DestroyView>"#,
            xml::moref("_this", &view)
        );
        let _ = self.raw(&destroy).await;
        result
    }

    async fn retrieve_all(&self, body: &str) -> Result<Vec<(MoRef, Props)>, DriverError> {
        let mut resp = self.call("listing vCenter's inventory", body).await?;
        let mut out = collect_objects(&resp);
        while let Some(token) = resp.text_at("returnval/token").map(str::to_string) {
            let body = format!(
                r#"<ContinueRetrievePropertiesEx xmlns="urn:vim25">{}{}</ContinueRetrievePropertiesEx>"#,
                xml::moref("_this", &self.sc.property_collector),
                tag("token", token)
            );
            resp = self.call("listing vCenter's inventory", &body).await?;
            // the continuation's returnval holds objects directly
            out.extend(collect_objects(&resp));
        }
        Ok(out)
    }
}

/// Reads `returnval/objects` (or a continuation's `returnval/objects`) into (object, props).
fn collect_objects(resp: &Element) -> Vec<(MoRef, Props)> {
    let mut out = Vec::new();
    for rv in resp.children_named("returnval") {
        for o in rv.children_named("objects") {
            let Some(obj) = o.child("obj").and_then(MoRef::from_element) else {
                continue;
            };
            let mut props = Props::new();
            for ps in o.children_named("propSet") {
                if let (Some(n), Some(v)) = (ps.text_at("name"), ps.child("val")) {
                    props.insert(n.to_string(), v.clone());
                }
            }
            out.push((obj, props));
        }
    }
    out
}

/// The text of a property, or "".
pub fn text<'a>(p: &'a Props, path: &str) -> &'a str {
    p.get(path).map(|e| e.text.trim()).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_properties_say_not_authenticated() {
        let resp = xml::parse(
            r#"<RetrievePropertiesExResponse xmlns:xsi="x"><returnval><objects>
<obj type="VirtualMachine">vm-1</obj><missingSet><path>runtime.powerState</path>
<fault><fault xsi:type="NotAuthenticated"><object type="VirtualMachine">vm-1</object>
<privilegeId>System.Read</privilegeId></fault><localizedMessage></localizedMessage></fault>
</missingSet></objects></returnval></RetrievePropertiesExResponse>"#,
        )
        .unwrap();
        assert!(not_authenticated(&resp));
        let ok = xml::parse(
            r#"<RetrievePropertiesExResponse><returnval><objects><obj type="VirtualMachine">vm-1</obj>
<propSet><name>name</name><val>x</val></propSet></objects></returnval></RetrievePropertiesExResponse>"#,
        )
        .unwrap();
        assert!(!not_authenticated(&ok));
    }
}
