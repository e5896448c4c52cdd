//! One vCenter session per vCenter and credentials for everything a driver process serves,
//! against govmomi's vCenter simulator. Logins are counted by vCenter itself (its
//! `UserLoginSessionEvent`s) and sessions read from its SessionManager, so the driver under test
//! is the real executable.

mod common;

use common::*;
use driver_protocol::calls::*;
use driver_protocol::request::{GetAccess, GetState};
use driver_protocol::ErrorKind;
use serde_json::{json, Value};
use std::sync::Arc;

/// Lists every machine (state, then access) concurrently, as `machine ls` does.
async fn list_all(d: &Driver, machines: &[(String, Value)]) -> Vec<(State, Access)> {
    let mut set = tokio::task::JoinSet::new();
    for (i, (name, config)) in machines.iter().enumerate() {
        let client = Arc::clone(&d.client);
        let (name, config) = (name.clone(), config.clone());
        set.spawn(async move {
            let p = MachineParams::new(&name, config);
            let st = client.request::<GetState>(&p).await.expect("state");
            let access = client.request::<GetAccess>(&p).await.expect("access");
            (i, st.state, access)
        });
    }
    let mut out: Vec<(usize, State, Access)> = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.unwrap());
    }
    out.sort_by_key(|(i, _, _)| *i);
    out.into_iter().map(|(_, s, a)| (s, a)).collect()
}

/// 100 machines of one vCenter, listed concurrently and again: one login, one session, which
/// served every call. When vCenter ends that session (an expiry), the next calls log in once more
/// and succeed, whether vCenter says so with a fault (CreateContainerView) or with properties
/// missing as `NotAuthenticated` (vcsim's RetrievePropertiesEx).
#[tokio::test(flavor = "multi_thread")]
async fn many_machines_one_login_and_a_new_one_after_expiry() {
    let sim = Vcsim::start("one", 1);
    let d = Driver::launch().await;
    let probe = sim.session().await;
    let vms = make_vms(&probe, "listed", 100, |i| {
        (i % 2 == 0).then(|| format!("10.1.{}.{}", i / 200, i % 200 + 1))
    })
    .await;
    // set_config does not log in
    let base = d.set_config("base", sim.options()).await.unwrap();
    let machines: Vec<(String, Value)> = vms
        .iter()
        .enumerate()
        .map(|(i, (name, vm))| {
            // every other VM reports no IP now: access falls back to the last known one
            (
                name.clone(),
                config_for(&base, name, vm, &format!("192.168.7.{}", i + 1)),
            )
        })
        .collect();
    let logins_before = logins(&probe).await.len();
    assert!(other_sessions(&probe).await.is_empty());

    let listed = list_all(&d, &machines).await;
    let listed_again = list_all(&d, &machines).await;
    for (i, (st, access)) in listed.iter().enumerate() {
        assert_eq!(*st, State::Stopped, "{i}");
        let want = if i % 2 == 0 {
            format!("10.1.{}.{}", i / 200, i % 200 + 1)
        } else {
            format!("192.168.7.{}", i + 1)
        };
        assert_eq!(access.ip, want, "{i}");
        let ssh = access.ssh.as_ref().expect("a VM has SSH");
        assert_eq!(ssh.host, want);
        assert_eq!((ssh.port, ssh.user.as_str()), (22, "docker"));
        assert_eq!(access.docker_url, format!("tcp://{want}:2376"));
    }
    assert_eq!(listed, listed_again);

    let all_logins = logins(&probe).await;
    assert_eq!(
        all_logins.len() - logins_before,
        1,
        "400 calls for 100 machines log in once: {all_logins:?}"
    );
    let sessions = other_sessions(&probe).await;
    assert_eq!(sessions.len(), 1, "one driver session: {sessions:?}");
    let first = sessions[0].clone();
    assert_eq!(first.user, USER);
    // (vcsim counts a session's calls without a lock, so concurrent calls undercount: the count
    // only shows the session was used; the single login shows no call had another)
    assert!(
        first.call_count > 0,
        "that session served the calls: {first:?}"
    );

    // vCenter ends the session; the next (concurrent) calls log in again, once, and succeed
    terminate_sessions(&probe, std::slice::from_ref(&first.key)).await;
    assert!(other_sessions(&probe).await.is_empty());
    let relisted = list_all(&d, &machines[..20]).await;
    assert_eq!(relisted, listed[..20].to_vec());
    assert_eq!(
        logins(&probe).await.len() - logins_before,
        2,
        "one login after the expiry"
    );
    let sessions = other_sessions(&probe).await;
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_ne!(sessions[0].key, first.key, "a new session");

    // the same when vCenter answers with a NotAuthenticated fault
    terminate_sessions(&probe, &[sessions[0].key.clone()]).await;
    let iso = tempfile::NamedTempFile::new().unwrap();
    let mut o = sim.options();
    o.insert(
        "vmwarevsphere-boot2docker-url".into(),
        json!(iso.path().to_string_lossy()),
    );
    let fresh = unique("fresh");
    let config = d.set_config(&fresh, o).await.unwrap();
    d.pre_create_check(&fresh, &config).await.unwrap();
    assert_eq!(logins(&probe).await.len() - logins_before, 3);
    assert_eq!(other_sessions(&probe).await.len(), 1);

    probe.logout().await;
    d.shutdown().await;
}

/// Machines with different credentials never share a session: two users of one vCenter, the
/// same user trusting the certificate another way, two vCenters. A wrong password fails even
/// while the right one's session is open, and never reaches the other machines.
#[tokio::test(flavor = "multi_thread")]
async fn each_credential_set_has_its_own_session() {
    // a vCenter that lets any user in, to have two users
    let open = Vcsim::start_open("one");
    let d = Driver::launch().await;
    let probe = open.session().await;
    let vms = make_vms(&probe, "shared", 2, |_| None).await;
    let as_user = |user: &str, password: &str, insecure: bool| {
        let mut o = open.options();
        o.insert("vmwarevsphere-username".into(), json!(user));
        o.insert("vmwarevsphere-password".into(), json!(password));
        if insecure {
            o.remove("vmwarevsphere-ca-cert");
            o.insert("vmwarevsphere-insecure".into(), json!(true));
        }
        o
    };
    let alice = d
        .set_config("a", as_user("alice", "pw-alice", false))
        .await
        .unwrap();
    let bob = d
        .set_config("b", as_user("bob", "pw-bob", false))
        .await
        .unwrap();
    let alice_insecure = d
        .set_config("ai", as_user("alice", "pw-alice", true))
        .await
        .unwrap();
    // two machines of alice's on the same VM as one of bob's
    let a1 = config_for(&alice, "a1", &vms[0].1, "");
    let a2 = config_for(&alice, "a2", &vms[1].1, "");
    let b1 = config_for(&bob, "b1", &vms[0].1, "");
    let ai = config_for(&alice_insecure, "ai", &vms[0].1, "");
    let before = logins(&probe).await.len();
    for _ in 0..3 {
        for (n, c) in [("a1", &a1), ("a2", &a2), ("b1", &b1), ("ai", &ai)] {
            assert_eq!(d.state(n, c).await.unwrap(), State::Stopped, "{n}");
        }
    }
    let mut users = logins(&probe).await[before..].to_vec();
    users.sort();
    assert_eq!(
        users,
        vec!["alice", "alice", "bob"],
        "alice with the CA file, alice insecure, bob: three sessions"
    );
    let sessions = other_sessions(&probe).await;
    assert_eq!(sessions.len(), 3, "{sessions:?}");
    // each machine is served by its own credentials' session: ten calls for bob's machine
    // count on bob's session only
    let counts = |v: &[SessionInfo]| {
        let mut c: Vec<(String, String, u64)> = v
            .iter()
            .map(|s| (s.user.clone(), s.key.clone(), s.call_count))
            .collect();
        c.sort();
        c
    };
    let was = counts(&sessions);
    for _ in 0..10 {
        d.state("b1", &b1).await.unwrap();
    }
    let now = counts(&other_sessions(&probe).await);
    for ((user, key, then), (_, key2, count)) in was.iter().zip(now.iter()) {
        assert_eq!(key, key2);
        if user == "bob" {
            assert!(*count >= then + 10, "bob's session served bob: {now:?}");
        } else {
            assert_eq!(count, then, "{user}'s session served nothing: {now:?}");
        }
    }

    // a vCenter with one user: the right password's session does not serve a wrong password
    let strict = Vcsim::start("one", 1);
    let sprobe = strict.session().await;
    let svms = make_vms(&sprobe, "strict", 1, |_| None).await;
    let good = config_for(
        &d.set_config("good", strict.options()).await.unwrap(),
        "good",
        &svms[0].1,
        "",
    );
    let mut wrong = strict.options();
    wrong.insert("vmwarevsphere-password".into(), json!("not-the-password"));
    let bad = config_for(
        &d.set_config("bad", wrong).await.unwrap(),
        "bad",
        &svms[0].1,
        "10.0.0.9",
    );
    let sbefore = logins(&sprobe).await.len();
    assert_eq!(d.state("good", &good).await.unwrap(), State::Stopped);
    for _ in 0..2 {
        let e = d.state("bad", &bad).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::AuthFailed, "{e}");
        assert!(!e.message.contains("not-the-password"), "{e}");
        // access does not fall back to the last IP when the credentials are refused
        let e = d.access("bad", &bad).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::AuthFailed, "{e}");
    }
    assert_eq!(d.state("good", &good).await.unwrap(), State::Stopped);
    assert_eq!(
        logins(&sprobe).await.len() - sbefore,
        1,
        "one successful login on the strict vCenter"
    );
    // and the open vCenter's sessions are untouched by all this
    assert_eq!(other_sessions(&probe).await.len(), 3);

    sprobe.logout().await;
    probe.logout().await;
    d.shutdown().await;
}
