//! Swarm mode across machines: the engine's own swarm (not Docker Machine's dead classic
//! Swarm), set up through each machine's daemon over mutual TLS: `init` on a manager, `join`
//! of workers (or more managers) with the manager's join token, `leave`.
//!
//! Every step checks before it changes anything: a stopped machine is
//! [`Error::NotRunning`], a machine that is already in a swarm is [`Error::Swarm`], and a
//! machine asked to lead joins that is not a manager is refused the same way.

use serde_json::{json, Value};

use crate::docker_url::bracketed;
use crate::error::{Error, Result};
use crate::machine::DaemonAt;
use crate::manager::Manager;
use crate::Machine;

/// The port swarm's managers listen on for joins and cluster traffic.
pub const SWARM_PORT: u16 = 2377;

/// Where a machine's daemon is, and its swarm state as `/info` reports it.
struct Node {
    machine: Machine,
    daemon: DaemonAt,
    ip: String,
    info: Value,
}

impl Node {
    async fn load(manager: &Manager, name: &str) -> Result<Node> {
        let machine = manager.load(name).await?;
        let (access, daemon) = machine.checked_daemon().await?;
        let info = machine.daemon_get(&daemon, "/info").await?;
        Ok(Node {
            machine,
            daemon,
            ip: access.ip,
            info,
        })
    }

    fn name(&self) -> &str {
        self.machine.name()
    }

    /// `inactive`, `active`, `pending`, `error` or `locked`.
    fn state(&self) -> &str {
        self.info["Swarm"]["LocalNodeState"].as_str().unwrap_or("")
    }

    fn cluster_id(&self) -> &str {
        self.info["Swarm"]["Cluster"]["ID"].as_str().unwrap_or("")
    }

    fn is_manager(&self) -> bool {
        self.info["Swarm"]["ControlAvailable"].as_bool() == Some(true)
    }

    fn addr(&self) -> String {
        format!("{}:{SWARM_PORT}", bracketed(&self.ip))
    }

    fn refuse(&self, reason: impl Into<String>) -> Error {
        Error::Swarm {
            machine: self.name().to_string(),
            reason: reason.into(),
        }
    }

    async fn post(&self, path: &str, body: Option<&Value>) -> Result<Value> {
        self.machine.daemon_post(&self.daemon, path, body).await
    }
}

/// What a machine joins a swarm as ([`Manager::swarm_join`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SwarmRole {
    /// Runs tasks.
    Worker,
    /// Also manages the swarm (Raft member).
    Manager,
}

/// How a machine leaves its swarm ([`Manager::swarm_leave`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeaveOptions {
    /// Leave even as the last manager (which ends the swarm).
    pub force: bool,
}

impl Manager {
    /// Makes machine `name` the first manager of a new swarm, advertised on its IP; returns
    /// the swarm's node id for it.
    pub async fn swarm_init(&self, name: &str) -> Result<String> {
        let node = Node::load(self, name).await?;
        if node.state() != "inactive" {
            return Err(node.refuse(format!(
                "it is already in a swarm (state {}, cluster {})",
                node.state(),
                node.cluster_id()
            )));
        }
        let body = json!({
            "ListenAddr": format!("0.0.0.0:{SWARM_PORT}"),
            "AdvertiseAddr": node.addr(),
        });
        let id = node.post("/swarm/init", Some(&body)).await?;
        Ok(id.as_str().unwrap_or_default().to_string())
    }

    /// Joins machine `name` to the swarm `manager` leads, as `role`.
    pub async fn swarm_join(&self, manager: &str, name: &str, role: SwarmRole) -> Result<()> {
        let lead = Node::load(self, manager).await?;
        if !lead.is_manager() {
            return Err(lead.refuse(
                "it is not a swarm manager (run `swarm init` on it first, or name a manager)",
            ));
        }
        let node = Node::load(self, name).await?;
        match node.state() {
            "inactive" => {}
            "active" if node.cluster_id() == lead.cluster_id() => {
                return Err(node.refuse(format!("it is already in {manager}'s swarm")))
            }
            state => {
                return Err(node.refuse(format!(
                    "it is already in another swarm (state {state}, cluster {}): `swarm leave` \
                     it first",
                    node.cluster_id()
                )))
            }
        }
        let swarm = lead.machine.daemon_get(&lead.daemon, "/swarm").await?;
        let role = match role {
            SwarmRole::Manager => "Manager",
            SwarmRole::Worker => "Worker",
        };
        let token = swarm["JoinTokens"][role]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| lead.refuse("its daemon gave no join token"))?;
        let body = json!({
            "ListenAddr": format!("0.0.0.0:{SWARM_PORT}"),
            "AdvertiseAddr": node.addr(),
            "RemoteAddrs": [lead.addr()],
            "JoinToken": token,
        });
        node.post("/swarm/join", Some(&body)).await?;
        Ok(())
    }

    /// Takes machine `name` out of its swarm.
    pub async fn swarm_leave(&self, name: &str, opts: &LeaveOptions) -> Result<()> {
        let node = Node::load(self, name).await?;
        if node.state() == "inactive" {
            return Err(node.refuse("it is not in a swarm"));
        }
        node.post(&format!("/swarm/leave?force={}", opts.force), None)
            .await?;
        Ok(())
    }
}
