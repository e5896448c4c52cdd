//! A logged-in vCenter session: the service content, `Login`/`Logout`, the property collector
//! (read properties of one object, or of every object of some types under a container), tasks,
//! and the mapping of SOAP failures to the protocol's error kinds.

use crate::options::Config;
use crate::soap::{MoRef, Soap, SoapError, Trust};
use crate::xml::{self, tag, Element};
use driver_protocol::{DriverError, ErrorKind};
use std::collections::HashMap;
use std::time::{Duration, Instant};

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
}

/// A logged-in session.
pub struct Session {
    pub soap: Soap,
    pub sc: ServiceContent,
    /// `https://HOST:PORT`, for messages.
    pub url: String,
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

impl Session {
    /// Connects and logs in. Errors never contain the password.
    pub async fn login(cfg: &Config) -> Result<Session, DriverError> {
        let url = cfg.base_url();
        let ca_pem = match &cfg.ca_cert {
            Some(path) => Some(std::fs::read(path).map_err(|e| {
                DriverError::invalid_option(format!(
                    "cannot read --vmwarevsphere-ca-cert {path}: {e}"
                ))
            })?),
            None => None,
        };
        let trust = Trust {
            insecure: cfg.insecure,
            ca_pem,
            thumbprint: cfg.thumbprint.clone(),
        };
        let soap = Soap::new(url.clone(), &trust).map_err(DriverError::invalid_option)?;
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
        };
        let body = format!(
            r#"<Login xmlns="urn:vim25">{}{}{}</Login>"#,
            xml::moref("_this", &sc.session_manager),
            tag("userName", &cfg.username),
            tag("password", &cfg.password)
        );
        soap.call(&body).await.map_err(|e| match e.fault_kind() {
            Some("InvalidLogin") => DriverError::auth_failed(format!(
                "vCenter at {url} refused the login of user {:?}: wrong user name or password \
                 (--vmwarevsphere-username, --vmwarevsphere-password)",
                cfg.username
            )),
            // never echo the fault message: some servers quote the request
            _ => DriverError::new(
                error("", e).kind,
                format!(
                    "logging in to vCenter at {url} as {:?} failed",
                    cfg.username
                ),
            ),
        })?;
        Ok(Session { soap, sc, url })
    }

    /// Ends the session (best effort).
    pub async fn logout(&self) {
        let body = format!(
            r#"<Logout xmlns="urn:vim25">{}</Logout>"#,
            xml::moref("_this", &self.sc.session_manager)
        );
        let _ = self.soap.call(&body).await;
    }

    /// Calls a method, mapping failures to driver errors that say what was being done.
    pub async fn call(&self, what: &str, body: &str) -> Result<Element, DriverError> {
        self.soap.call(body).await.map_err(|e| error(what, e))
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
            .soap
            .call(&body)
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
        let _ = self.soap.call(&destroy).await;
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

    /// Waits for a task to finish; returns its result element (if any).
    pub async fn wait_task(
        &self,
        task: &MoRef,
        what: &str,
        timeout: Duration,
    ) -> Result<Option<Element>, DriverError> {
        let deadline = Instant::now() + timeout;
        let mut delay = Duration::from_millis(100);
        loop {
            let p = self
                .props(task, &["info.state", "info.error", "info.result"])
                .await?;
            match p.get("info.state").map(|e| e.text.as_str()) {
                Some("success") => return Ok(p.get("info.result").cloned()),
                Some("error") => {
                    let err = p.get("info.error");
                    let kind = err
                        .and_then(|e| e.child("fault"))
                        .and_then(|f| f.xsi_type())
                        .unwrap_or("error")
                        .to_string();
                    let msg = err
                        .and_then(|e| e.text_at("localizedMessage"))
                        .unwrap_or("")
                        .to_string();
                    return Err(error(
                        what,
                        SoapError::Fault {
                            kind,
                            message: if msg.is_empty() {
                                "the task failed".into()
                            } else {
                                msg
                            },
                        },
                    ));
                }
                _ => {}
            }
            if Instant::now() > deadline {
                return Err(DriverError::timeout(format!(
                    "{what}: vCenter's task {} did not finish within {timeout:?}",
                    task.value
                )));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    /// Calls a `..._Task` method and waits for it.
    pub async fn run_task(
        &self,
        what: &str,
        body: &str,
        timeout: Duration,
    ) -> Result<Option<Element>, DriverError> {
        let resp = self.call(what, body).await?;
        let task = resp
            .child("returnval")
            .and_then(MoRef::from_element)
            .ok_or_else(|| DriverError::internal(format!("{what}: vCenter returned no task")))?;
        self.wait_task(&task, what, timeout).await
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
