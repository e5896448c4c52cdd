//! Live progress: typed events about what a long operation is doing, for a CLI's live display or
//! a program's UI.
//!
//! An [`Event`] names the machine, a [`Step`] a program can match on, a message, a [`Level`], and
//! units done of a total where there is one (bytes of an ISO upload). The output of the Docker
//! install streams as [`Level::Output`] events while it runs. No event shows the credentials of
//! a URL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// What an operation is doing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Step {
    /// Checking that create can work (options, driver pre-create check).
    Check,
    /// Making the machine's SSH key.
    SshKey,
    /// Making or reading the store's CA and client certificate, or a server certificate.
    Certificates,
    /// The driver making the host (or VM).
    CreateHost,
    /// Waiting until the machine accepts SSH logins.
    WaitForSsh,
    /// Reading the host's OS and preparing it.
    Provision,
    /// Installing or upgrading Docker.
    InstallDocker,
    /// Writing the daemon's configuration and restarting it.
    ConfigureDocker,
    /// Waiting until the daemon answers over mutual TLS.
    WaitForDocker,
    /// The operation finished.
    Done,
    /// Undoing what a failed or cancelled create made.
    Rollback,
    /// Starting the machine.
    Start,
    /// Stopping the machine.
    Stop,
    /// Restarting the machine.
    Restart,
    /// Killing the machine.
    Kill,
    /// Removing the machine.
    Remove,
    /// Keeping the machine's docker context in line ([`crate::ManagerBuilder::docker_contexts`]).
    DockerContext,
    /// A driver's own step (`clone`, `upload-iso`, `wait-ip`, ...), as the driver named it.
    Driver(String),
}

impl Step {
    /// A short word for the step (`wait-for-ssh`, `driver:clone`, ...).
    pub fn name(&self) -> String {
        match self {
            Step::Check => "check".into(),
            Step::SshKey => "ssh-key".into(),
            Step::Certificates => "certificates".into(),
            Step::CreateHost => "create-host".into(),
            Step::WaitForSsh => "wait-for-ssh".into(),
            Step::Provision => "provision".into(),
            Step::InstallDocker => "install-docker".into(),
            Step::ConfigureDocker => "configure-docker".into(),
            Step::WaitForDocker => "wait-for-docker".into(),
            Step::Done => "done".into(),
            Step::Rollback => "rollback".into(),
            Step::Start => "start".into(),
            Step::Stop => "stop".into(),
            Step::Restart => "restart".into(),
            Step::Kill => "kill".into(),
            Step::Remove => "remove".into(),
            Step::DockerContext => "docker-context".into(),
            Step::Driver(s) => format!("driver:{s}"),
        }
    }
}

/// How an event should be shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Level {
    /// A line of a remote command's output (the Docker install): detail, shown live.
    Output,
    /// A step of the operation.
    Info,
    /// Something went wrong but the operation goes on (or is being undone).
    Warn,
}

/// One progress event about one machine.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Event {
    /// The machine.
    pub machine: String,
    /// What is being done.
    pub step: Step,
    /// A line for people.
    pub message: String,
    /// How to show it.
    pub level: Level,
    /// Units done and in all, where the step has them.
    pub progress: Option<(u64, u64)>,
}

impl Event {
    /// An info event.
    pub fn new(machine: &str, step: Step, message: impl Into<String>) -> Event {
        Event {
            machine: machine.into(),
            step,
            message: message.into(),
            level: Level::Info,
            progress: None,
        }
    }

    /// The same event at `level`.
    pub fn at(mut self, level: Level) -> Event {
        self.level = level;
        self
    }
}

/// Where events go: a function called for each (from any task; keep it quick). Cheap to clone;
/// [`Events::none`] drops everything.
#[derive(Clone, Default)]
pub struct Events {
    sink: Option<Arc<dyn Fn(Event) + Send + Sync>>,
    /// The events of one machine, for those watching it (a [`crate::CreateHandle`]).
    watchers: Watchers,
}

type Watchers = Arc<Mutex<HashMap<String, Vec<(u64, mpsc::UnboundedSender<Event>)>>>>;

impl Events {
    /// Events go to `sink`.
    pub fn new(sink: impl Fn(Event) + Send + Sync + 'static) -> Events {
        Events {
            sink: Some(Arc::new(sink)),
            watchers: Watchers::default(),
        }
    }

    /// Events go nowhere.
    pub fn none() -> Events {
        Events {
            sink: None,
            watchers: Watchers::default(),
        }
    }

    /// Sends `event` (and logs it at debug level), credentials in URLs hidden
    /// (`https://user:token@host` becomes `https://***@host`).
    pub fn send(&self, mut event: Event) {
        if let std::borrow::Cow::Owned(hidden) = crate::download::redact(&event.message) {
            event.message = hidden;
        }
        tracing::debug!(machine = %event.machine, step = %event.step.name(), "{}", event.message);
        if let Some(watching) = self.watchers.lock().unwrap().get(&event.machine) {
            for (_, tx) in watching {
                let _ = tx.send(event.clone());
            }
        }
        if let Some(sink) = &self.sink {
            sink(event);
        }
    }

    /// Sends an info event.
    pub fn info(&self, machine: &str, step: Step, message: impl Into<String>) {
        self.send(Event::new(machine, step, message));
    }

    /// Receives machine `machine`'s events from now until the returned guard is dropped (then
    /// the receiver ends, once it has read what came before).
    pub(crate) fn watch(&self, machine: &str) -> (Watch, mpsc::UnboundedReceiver<Event>) {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = mpsc::unbounded_channel();
        self.watchers
            .lock()
            .unwrap()
            .entry(machine.to_string())
            .or_default()
            .push((id, tx));
        let watch = Watch {
            machine: machine.to_string(),
            id,
            watchers: self.watchers.clone(),
        };
        (watch, rx)
    }
}

/// A subscription to one machine's events; ends when dropped.
pub(crate) struct Watch {
    machine: String,
    id: u64,
    watchers: Watchers,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut w = self.watchers.lock().unwrap();
        if let Some(list) = w.get_mut(&self.machine) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                w.remove(&self.machine);
            }
        }
    }
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.sink.is_some() {
            "Events(sink)"
        } else {
            "Events(none)"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn events_never_carry_url_credentials() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = got.clone();
        let events = Events::new(move |e| sink.lock().unwrap().push(e.message));
        events.info(
            "m",
            Step::InstallDocker,
            "fetching https://nick:s3cret@h.example/i.sh",
        );
        assert_eq!(
            got.lock().unwrap().as_slice(),
            ["fetching https://***@h.example/i.sh"]
        );
    }
}
