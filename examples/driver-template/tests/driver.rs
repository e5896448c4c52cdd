//! The template driver's binary against the fake cloud (tests/support): the whole lifecycle,
//! `made` before create's answer, cancel, remove after an interrupted create, errors by kind.

mod support;

use driver_protocol::calls::*;
use driver_protocol::request::{
    Create, GetAccess, GetState, Kill, PreCreateCheck, Remove, Restart, Start, Stop,
};
use driver_protocol::{CancellationToken, ClientNotification, ErrorKind};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::{bounded, machine, Driver, FakeCloud, PUBLIC_KEY, TOKEN};

const BOOT: Duration = Duration::from_millis(300);

/// Polls `state` until it is `want` (at most 10 s).
async fn state_becomes(d: &Driver, p: &MachineParams, want: State) {
    let t0 = Instant::now();
    loop {
        let s = d.call::<GetState>(p).await.unwrap().state;
        if s == want {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "state {s}, not {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_lifecycle_against_the_fake_cloud() {
    let cloud = FakeCloud::start(BOOT).await;
    let mut d = Driver::launch().await;
    let base = d.set_config("web1", Driver::options(&cloud)).await.unwrap();
    assert_eq!(
        base,
        json!({"api_url": cloud.url, "template-token": TOKEN, "size": "small",
               "image": "debian-12", "ssh_user": "root"}),
        "the defaults come from the schema; the token under its secret option's name"
    );
    let cid = "5f0c2a9e4b7d4e21a1c3d5e7f9012345";
    let p = machine("web1", &base, cid);
    let e = d.call::<GetState>(&p).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound, "never made: {e}");
    d.call::<PreCreateCheck>(&p).await.unwrap();

    // create: `made` comes while it still waits for the server to boot
    let client = d.client.clone();
    let params = CreateParams::new("web1", base.clone(), cid, PUBLIC_KEY);
    let create = tokio::spawn(async move { bounded(client.request::<Create>(&params)).await });
    let made = loop {
        let note = tokio::time::timeout(Duration::from_secs(10), d.notes.recv())
            .await
            .expect("a made notification")
            .expect("the driver runs");
        if let ClientNotification::Made(m) = note {
            break m;
        }
    };
    assert!(!create.is_finished(), "made came before create's answer");
    let id = made.config["server_id"].as_str().unwrap().to_string();
    let created = create.await.unwrap().unwrap();
    assert_eq!(created.config, made.config);
    assert!(created.bootstrap.is_none(), "cloud-init installs the key");
    assert!(
        !d.drain()
            .iter()
            .any(|n| matches!(n, ClientNotification::Made(_))),
        "no made after the answer"
    );

    // what the cloud got: the key in cloud-init for the SSH user, the tag, the token
    let server = cloud.server(&id).unwrap();
    let spec = &server.spec;
    assert_eq!(
        (
            spec["name"].as_str(),
            spec["size"].as_str(),
            spec["image"].as_str()
        ),
        (Some("web1"), Some("small"), Some("debian-12"))
    );
    assert_eq!(spec["tags"]["machine-creation-id"], cid);
    let user_data = spec["user_data"].as_str().unwrap();
    assert!(user_data.starts_with("#cloud-config\n"), "{user_data}");
    assert!(
        user_data.contains(&format!("[\"{PUBLIC_KEY}\"]")),
        "{user_data}"
    );
    assert!(user_data.contains("- name: \"root\""), "{user_data}");
    let requests = cloud.requests();
    assert!(requests
        .iter()
        .all(|r| r.authorization.as_deref() == Some(&format!("Bearer {TOKEN}"))));
    assert!(requests
        .iter()
        .any(|r| r.method == "POST" && r.target == "/servers"));

    let p = machine("web1", &created.config, cid);
    assert_eq!(d.call::<GetState>(&p).await.unwrap().state, State::Running);
    let a = d.call::<GetAccess>(&p).await.unwrap();
    let ip = server.ip.clone().unwrap();
    assert_eq!(a.ip, ip);
    assert_eq!(a.ssh, Some(SshEndpoint::new(&ip, 22, "root")));
    assert_eq!(a.docker_url, format!("tcp://{ip}:2376"));

    // stop and kill return once the server is stopped; start and restart once it boots
    d.call::<Stop>(&p).await.unwrap();
    assert_eq!(cloud.server(&id).unwrap().status, "stopped");
    assert_eq!(d.call::<GetState>(&p).await.unwrap().state, State::Stopped);
    d.call::<Start>(&p).await.unwrap();
    state_becomes(&d, &p, State::Running).await;
    d.call::<Restart>(&p).await.unwrap();
    state_becomes(&d, &p, State::Running).await;
    d.call::<Kill>(&p).await.unwrap();
    assert_eq!(d.call::<GetState>(&p).await.unwrap().state, State::Stopped);

    // remove, and again: already gone is done
    d.call::<Remove>(&p).await.unwrap();
    assert!(cloud.servers().is_empty());
    d.call::<Remove>(&p).await.unwrap();
    for e in [
        d.call::<GetState>(&p).await.unwrap_err(),
        d.call::<GetAccess>(&p).await.map(drop).unwrap_err(),
    ] {
        assert_eq!(e.kind, ErrorKind::NotFound, "{e}");
    }
}

#[tokio::test]
async fn cancel_during_create_deletes_the_server() {
    let cloud = FakeCloud::start(Duration::from_secs(120)).await;
    let mut d = Driver::launch().await;
    let base = d.set_config("web2", Driver::options(&cloud)).await.unwrap();
    let client = d.client.clone();
    let token = CancellationToken::new();
    let cancel = token.clone();
    let params = CreateParams::new("web2", base, "cid-cancel", PUBLIC_KEY);
    let create = tokio::spawn(async move {
        bounded(client.request_cancellable::<Create>(&params, &cancel)).await
    });
    let made = loop {
        if let Some(ClientNotification::Made(m)) = d.notes.recv().await {
            break m;
        }
    };
    let id = made.config["server_id"].as_str().unwrap().to_string();
    assert!(cloud.server(&id).is_some());
    let t0 = Instant::now();
    token.cancel();
    let e = create.await.unwrap().unwrap_err();
    assert_eq!(e.kind, ErrorKind::Cancelled, "{e}");
    assert!(e.message.contains(&id), "{e}");
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert!(cloud.servers().is_empty(), "the server is deleted");
    assert!(cloud
        .requests()
        .iter()
        .any(|r| r.method == "DELETE" && r.target == format!("/servers/{id}")));
}

#[tokio::test]
async fn remove_finds_an_interrupted_creates_server_by_its_tag() {
    let cloud = FakeCloud::start(BOOT).await;
    let d = Driver::launch().await;
    let base = d.set_config("web3", Driver::options(&cloud)).await.unwrap();
    for (name, cid) in [("web3", "cid-3"), ("other", "cid-other")] {
        let params = CreateParams::new(name, base.clone(), cid, PUBLIC_KEY);
        d.call::<Create>(&params).await.unwrap();
    }
    // the host never stored the made config: only the creation id finds the server
    d.call::<Remove>(&machine("web3", &base, "cid-3"))
        .await
        .unwrap();
    let left: Vec<Value> = cloud
        .servers()
        .iter()
        .map(|s| s.spec["name"].clone())
        .collect();
    assert_eq!(left, vec![json!("other")]);
    assert!(cloud
        .requests()
        .iter()
        .any(|r| r.method == "GET" && r.target == "/servers?tag=cid-3"));
}

#[tokio::test]
async fn a_server_deleted_elsewhere_is_not_found_and_removed() {
    let cloud = FakeCloud::start(BOOT).await;
    let d = Driver::launch().await;
    let base = d.set_config("web4", Driver::options(&cloud)).await.unwrap();
    let created = d
        .call::<Create>(&CreateParams::new("web4", base, "cid-4", PUBLIC_KEY))
        .await
        .unwrap();
    let p = machine("web4", &created.config, "cid-4");
    cloud.delete(created.config["server_id"].as_str().unwrap());
    let e = d.call::<GetState>(&p).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound, "{e}");
    let e = d.call::<Start>(&p).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound, "{e}");
    d.call::<Remove>(&p).await.unwrap();
}

#[tokio::test]
async fn a_wrong_token_is_auth_failed_before_anything_is_made() {
    let cloud = FakeCloud::start(BOOT).await;
    let d = Driver::launch().await;
    let options = json!({"template-api-url": cloud.url, "template-token": "wrong"});
    let base = d.set_config("web5", options).await.unwrap();
    let p = machine("web5", &base, "cid-5");
    let e = d.call::<PreCreateCheck>(&p).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::AuthFailed, "{e}");
    assert!(e.message.contains("--template-token"), "{e}");
    let e = d
        .call::<Create>(&CreateParams::new("web5", base, "cid-5", PUBLIC_KEY))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::AuthFailed, "{e}");
    assert!(cloud.servers().is_empty());
    assert!(cloud
        .requests()
        .iter()
        .all(|r| r.authorization.as_deref() == Some("Bearer wrong")));
}

#[tokio::test]
async fn an_api_that_does_not_answer_is_unreachable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener); // nothing listens there now
    let d = Driver::launch().await;
    let options = json!({"template-api-url": url, "template-token": TOKEN});
    let mut config = d.set_config("web6", options).await.unwrap();
    config["server_id"] = json!("srv-1");
    let e = d
        .call::<GetState>(&machine("web6", &config, "cid-6"))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unreachable, "{e}");
    assert!(e.message.contains("--template-api-url"), "{e}");
    assert!(e.message.contains("refused"), "the cause: {e}");
}

#[tokio::test]
async fn options_schema_and_capabilities() {
    let d = Driver::launch().await;
    assert_eq!(d.info.name, "template");
    let c = d.info.capabilities;
    assert!(c.start && c.stop && c.restart && c.kill && !c.keeps_host);
    let token = d.info.option("template-token").unwrap();
    assert!(token.secret);
    assert_eq!(token.env.as_deref(), Some("TEMPLATE_TOKEN"));
    assert_eq!(
        d.info.option("template-api-url").unwrap().env.as_deref(),
        Some("TEMPLATE_API_URL")
    );

    let bad = [
        (
            json!({"template-token": TOKEN}),
            ["--template-api-url", "required"],
        ),
        (
            json!({"template-api-url": "http://127.0.0.1:1"}),
            ["--template-token", "required"],
        ),
        (
            json!({"template-api-url": "http://api.example.com", "template-token": TOKEN}),
            ["--template-api-url", "must be https://"],
        ),
        (
            json!({"template-api-url": "not a url", "template-token": TOKEN}),
            ["--template-api-url", "is not a URL"],
        ),
    ];
    for (options, says) in bad {
        let e = d.set_config("web7", options).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidOption, "{e}");
        assert!(says.iter().all(|s| e.message.contains(s)), "{e}");
    }
    for ok in [
        "https://api.example.com/v1",
        "http://localhost:8080",
        "http://[::1]:80",
    ] {
        let options = json!({"template-api-url": ok, "template-token": TOKEN});
        d.set_config("web7", options).await.unwrap();
    }
    let schema: Vec<String> = d.info.options.iter().map(|o| o.name.clone()).collect();
    assert_eq!(
        schema,
        [
            "template-api-url",
            "template-token",
            "template-size",
            "template-image",
            "template-ssh-user"
        ]
    );
}
