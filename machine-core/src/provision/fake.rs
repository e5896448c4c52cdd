//! A scripted [`Remote`] for unit tests: rules map a fragment of a command to canned outputs,
//! everything that ran or was uploaded is recorded.

use std::sync::Mutex;

use super::{Output, ProvisionError, Remote};

struct Rule {
    fragment: String,
    /// Returned in turn; the last one repeats.
    outputs: Vec<Output>,
    used: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Upload {
    pub path: String,
    pub contents: String,
    pub mode: u32,
    pub sudo: bool,
}

/// A host that answers commands from rules. The most recently added matching rule wins; a
/// command no rule matches succeeds with no output.
#[derive(Default)]
pub(crate) struct FakeRemote {
    rules: Mutex<Vec<Rule>>,
    commands: Mutex<Vec<String>>,
    uploads: Mutex<Vec<Upload>>,
    /// Commands containing this fragment fail as a lost connection would.
    pub broken: Option<String>,
}

impl FakeRemote {
    pub fn new() -> FakeRemote {
        FakeRemote::default()
    }

    /// Commands containing `fragment` print `stdout` and succeed.
    pub fn ok(self, fragment: &str, stdout: &str) -> FakeRemote {
        self.on(fragment, vec![Output::ok(stdout)])
    }

    /// Commands containing `fragment` fail with `status` and `stderr`.
    pub fn fail(self, fragment: &str, status: u32, stderr: &str) -> FakeRemote {
        self.on(fragment, vec![Output::failed(status, stderr)])
    }

    /// Commands containing `fragment` get `outputs` in turn, the last one repeating.
    pub fn on(self, fragment: &str, outputs: Vec<Output>) -> FakeRemote {
        assert!(!outputs.is_empty());
        self.rules.lock().unwrap().push(Rule {
            fragment: fragment.to_string(),
            outputs,
            used: 0,
        });
        self
    }

    pub fn commands(&self) -> Vec<String> {
        self.commands.lock().unwrap().clone()
    }

    pub fn uploads(&self) -> Vec<Upload> {
        self.uploads.lock().unwrap().clone()
    }

    pub fn upload_of(&self, path: &str) -> Option<Upload> {
        self.uploads().into_iter().rev().find(|u| u.path == path)
    }

    /// How many commands contained `fragment`.
    pub fn count(&self, fragment: &str) -> usize {
        self.commands()
            .iter()
            .filter(|c| c.contains(fragment))
            .count()
    }

    pub fn ran(&self, fragment: &str) -> bool {
        self.count(fragment) > 0
    }

    /// Asserts that commands containing `fragments` ran, in this order (others may run between).
    #[track_caller]
    pub fn assert_order(&self, fragments: &[&str]) {
        let commands = self.commands();
        let mut at = 0;
        for f in fragments {
            match commands[at..].iter().position(|c| c.contains(f)) {
                Some(i) => at += i + 1,
                None => panic!(
                    "no command containing {f:?} after position {at}; commands:\n{}",
                    commands.join("\n")
                ),
            }
        }
    }
}

#[async_trait::async_trait]
impl Remote for FakeRemote {
    async fn run(&self, command: &str) -> Result<Output, ProvisionError> {
        self.commands.lock().unwrap().push(command.to_string());
        if let Some(b) = &self.broken {
            if command.contains(b.as_str()) {
                return Err(ProvisionError::transport("connection reset by peer"));
            }
        }
        let mut rules = self.rules.lock().unwrap();
        if let Some(rule) = rules
            .iter_mut()
            .rev()
            .find(|r| command.contains(&r.fragment))
        {
            let i = rule.used.min(rule.outputs.len() - 1);
            rule.used += 1;
            return Ok(rule.outputs[i].clone());
        }
        Ok(Output::ok(""))
    }

    async fn upload(
        &self,
        path: &str,
        contents: &[u8],
        mode: u32,
        sudo: bool,
    ) -> Result<(), ProvisionError> {
        self.uploads.lock().unwrap().push(Upload {
            path: path.to_string(),
            contents: String::from_utf8_lossy(contents).into_owned(),
            mode,
            sudo,
        });
        Ok(())
    }
}
