//! Progress events: what a long operation is doing, for a CLI to print or a program to record.

use std::sync::Arc;

/// One progress line about one machine.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub machine: String,
    pub message: String,
}

/// Where progress goes. Cheap to clone; [`Events::none`] drops everything.
#[derive(Clone, Default)]
pub struct Events(Option<Arc<dyn Fn(Event) + Send + Sync>>);

impl Events {
    pub fn new(sink: impl Fn(Event) + Send + Sync + 'static) -> Events {
        Events(Some(Arc::new(sink)))
    }
    pub fn none() -> Events {
        Events(None)
    }
    pub fn emit(&self, machine: &str, message: impl Into<String>) {
        let message = message.into();
        tracing::debug!(machine, "{message}");
        if let Some(sink) = &self.0 {
            sink(Event {
                machine: machine.to_string(),
                message,
            });
        }
    }
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Events(sink)"
        } else {
            "Events(none)"
        })
    }
}
