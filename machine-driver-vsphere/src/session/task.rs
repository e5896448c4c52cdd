//! vCenter's tasks, run in a session: start a `..._Task` method, wait for its end, cancel it, and
//! run one for a call the host may cancel.

use super::{error, Session};
use crate::soap::{MoRef, SoapError};
use crate::xml::{self, Element};
use driver_protocol::{Context, DriverError};
use std::time::{Duration, Instant};

impl Session {
    /// Waits for a task to finish; returns its result element (if any).
    async fn wait_task(
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

    /// Calls a `..._Task` method; returns the task.
    async fn start_task(&self, what: &str, body: &str) -> Result<MoRef, DriverError> {
        let resp = self.call(what, body).await?;
        resp.child("returnval")
            .and_then(MoRef::from_element)
            .ok_or_else(|| DriverError::internal(format!("{what}: vCenter returned no task")))
    }

    /// Calls a `..._Task` method and waits for it.
    pub async fn run_task(
        &self,
        what: &str,
        body: &str,
        timeout: Duration,
    ) -> Result<Option<Element>, DriverError> {
        let task = self.start_task(what, body).await?;
        self.wait_task(&task, what, timeout).await
    }

    /// Asks vCenter to cancel a task (best effort: not every task can be cancelled, and a
    /// simulator may not implement it).
    async fn cancel_task(&self, task: &MoRef) {
        let body = format!(
            r#"<CancelTask xmlns="urn:vim25">{}</CancelTask>"#,
            xml::moref("_this", task)
        );
        let _ = self.raw(&body).await;
    }

    /// Runs a task for a call that the host may cancel. When it does, vCenter is asked to cancel
    /// the task, and the task is still waited for to its end, so that nothing the driver started
    /// goes on after it answered and whatever the task made is known (to be undone). Returns the
    /// task's outcome and whether the call was cancelled.
    pub async fn run_task_cancellable(
        &self,
        cx: &Context,
        what: &str,
        body: &str,
        timeout: Duration,
    ) -> (Result<Option<Element>, DriverError>, bool) {
        if cx.is_cancelled() {
            return (
                Err(DriverError::cancelled(format!("{what}: cancelled"))),
                true,
            );
        }
        let task = match self.start_task(what, body).await {
            Ok(t) => t,
            Err(e) => return (Err(e), cx.is_cancelled()),
        };
        tokio::select! {
            r = self.wait_task(&task, what, timeout) => {
                let cancelled = cx.is_cancelled();
                (r, cancelled)
            }
            _ = cx.cancelled() => {
                self.cancel_task(&task).await;
                (self.wait_task(&task, what, timeout).await, true)
            }
        }
    }
}
