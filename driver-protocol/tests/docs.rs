//! The driver guide (docs/drivers.md) cannot drift from the code: every JSON example in it is
//! read as the type the protocol gives that message, written back, and must come out the same;
//! and every call and notification has its examples there.

use driver_protocol::calls::{ConfigResult, MachineParams};
use driver_protocol::message::RpcError;
use driver_protocol::notification::{self, Notification};
use driver_protocol::request::{self, Request};
use driver_protocol::{DriverError, ErrorKind};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The ```json blocks of the guide, by their label (`set_config params`, `progress
/// notification`, ...).
fn examples() -> BTreeMap<String, Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/drivers.md");
    let text = std::fs::read_to_string(path).expect("docs/drivers.md");
    let mut out = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(label) = line.strip_prefix("```json ") else {
            continue;
        };
        let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        let value = serde_json::from_str(&body.join("\n"))
            .unwrap_or_else(|e| panic!("the example `{label}` is not JSON: {e}"));
        assert!(
            out.insert(label.trim().to_string(), value).is_none(),
            "two examples labelled {label}"
        );
    }
    out
}

/// `v` read as `T` and written back is `v` again: the example is exactly what the code sends.
fn round_trips<T: Serialize + DeserializeOwned>(label: &str, v: &Value) {
    let typed: T = serde_json::from_value(v.clone()).unwrap_or_else(|e| {
        panic!("the example `{label}` does not parse as the protocol's type: {e}")
    });
    let back = serde_json::to_value(&typed).unwrap();
    assert_eq!(
        &back, v,
        "the example `{label}` is not what the code writes"
    );
}

fn request<R: Request>(all: &BTreeMap<String, Value>) {
    for (part, check) in [
        ("params", round_trips::<R::Params> as fn(&str, &Value)),
        ("result", round_trips::<R::Result>),
    ] {
        let label = format!("{} {part}", R::METHOD);
        let v = all
            .get(&label)
            .unwrap_or_else(|| panic!("docs/drivers.md has no example `{label}`"));
        check(&label, v);
    }
}

fn notification<N: Notification>(all: &BTreeMap<String, Value>) {
    let label = format!("{} notification", N::METHOD);
    let v = all
        .get(&label)
        .unwrap_or_else(|| panic!("docs/drivers.md has no example `{label}`"));
    round_trips::<N::Params>(&label, v);
}

#[test]
fn every_message_in_the_driver_guide_is_what_the_code_sends() {
    let all = examples();
    request::<request::Initialize>(&all);
    request::<request::SetConfig>(&all);
    request::<request::PreCreateCheck>(&all);
    request::<request::Create>(&all);
    request::<request::Adopt>(&all);
    request::<request::Remove>(&all);
    request::<request::GetState>(&all);
    request::<request::GetAccess>(&all);
    notification::<notification::Progress>(&all);
    notification::<notification::Made>(&all);
    notification::<notification::Cancel>(&all);
    notification::<notification::Environment>(&all);
    // start, stop, restart and kill share remove's shapes, as the guide says (checked by the
    // compiler: each is a request of those params and that result)
    fn like_remove<R: Request<Params = MachineParams, Result = ConfigResult>>() {}
    like_remove::<request::Remove>();
    like_remove::<request::Start>();
    like_remove::<request::Stop>();
    like_remove::<request::Restart>();
    like_remove::<request::Kill>();
    let error = &all["error"];
    round_trips::<RpcError>("error", error);
    let e = DriverError::from_rpc(&serde_json::from_value(error.clone()).unwrap());
    assert_eq!(e.kind, ErrorKind::InvalidOption);
    // and nothing in the guide that is not a message of the protocol
    let checked = |label: &str| {
        let read = [
            "progress notification",
            "made notification",
            "$/cancel notification",
            "$/environment notification",
            "error",
        ];
        read.contains(&label)
            || ["params", "result"].iter().any(|part| {
                label.strip_suffix(&format!(" {part}")).is_some_and(|m| {
                    request::METHODS.contains(&m)
                        && !["start", "stop", "restart", "kill"].contains(&m)
                })
            })
    };
    let unchecked: Vec<&String> = all.keys().filter(|l| !checked(l)).collect();
    assert!(
        unchecked.is_empty(),
        "examples no test reads: {unchecked:?}"
    );
}
