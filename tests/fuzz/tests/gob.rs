//! Fuzzes the plugin bridge's `encoding/gob` decoder: whatever bytes a Docker Machine plugin
//! writes on its RPC connection, [`Decoder`] returns values or an error, never a panic or a
//! hang; and what it decodes is well-formed:
//!
//! - value by value, each value cut short first asks for more (`Ok(None)`) and takes in
//!   nothing: the same stream then decodes to the same values, or fails the same way;
//! - no value is nested deeper than [`MAX_DEPTH`]; an interface's name is not empty and at most
//!   1,024 bytes;
//! - an interface value with a type holds a value of that type, and encoded again by our own
//!   [`Encoder`] it decodes back the same (less the struct fields holding their zero value,
//!   which gob leaves out).

use machine_fuzz::Fuzz;
use machine_plugin_bridge::gob::{Decoder, Encoder, Iface, Type, Value, MAX_DEPTH};
use std::collections::HashSet;

const DICTIONARY: &[&str] = &[
    "*mcnflag.StringFlag",
    "*mcnflag.IntFlag",
    "*mcnflag.BoolFlag",
    "*mcnflag.StringSliceFlag",
    "*rpcdriver.RPCFlags",
    "*rpcdriver.RpcFlags",
    "[]string",
    "[]interface {}",
    "map[string]interface {}",
    "string",
    "int",
    "bool",
    "Response",
    "ServiceMethod",
    "Seq",
    "Error",
    "Name",
    "Value",
    "RPCServerDriver.GetCreateFlags",
];

/// Gob's own bytes: type ids (a definition of 65 is -65, `ff 81`; a use of it is `ff 82`), the
/// predefined ids as sent (interface is 8, sent as `10`), extreme and impossible counts, and
/// whole messages (definitions of a slice, a map and a struct; an interface's header).
const TOKENS: &[&[u8]] = &[
    b"\xff\x81",
    b"\xff\x82",
    b"\xff\x83",
    b"\xff\x84",
    b"\xff\x85",
    b"\xff\x86",
    b"\xff\x87",
    b"\xff\x88",
    b"\xff\x8b",
    b"\xff\x8c",
    b"\xfe\x4e\x21", // -10,001: past the most types a stream may define
    b"\xff\x7f",     // -64: a predefined id defined
    b"\x10",         // interface
    b"\x0c",         // string
    b"\x02",         // bool
    b"\x04",         // int
    b"\x06",         // uint
    b"\x08",         // float
    b"\x0a",         // []byte
    b"\x0e",         // complex
    b"\x00",
    b"\x01",
    b"\xff\x80",
    b"\xfe\xff\xff",
    b"\xfc\x7f\xff\xff\xff",
    b"\xfc\x01\x00\x00\x00", // 16 MiB + 1: a message over the limit
    b"\xf8\xff\xff\xff\xff\xff\xff\xff\xff",
    b"\xf8\x80\x00\x00\x00\x00\x00\x00\x00",
    b"\xf7", // a count of 9 bytes
    b"\x80",
    // 65 = []interface{}
    b"\x0c\xff\x81\x02\x01\x02\xff\x82\x00\x01\x10\x00\x00",
    // 66 = map[string]interface{}
    b"\x0e\xff\x83\x04\x01\x02\xff\x84\x00\x01\x0c\x01\x10\x00\x00",
    // 67 = struct { Name string; Value interface{} }
    b"\x1f\xff\x85\x03\x01\x02\xff\x86\x00\x01\x02\x01\x04Name\x01\x0c\x00\x01\x05Value\x01\x10\x00\x00\x00",
    // an interface holding a []interface{} (type 65)
    b"\x0e[]interface {}\xff\x82",
    b"\x13*mcnflag.StringFlag",
];

/// The kinds of values, one bit each.
fn kind(v: &Value) -> u32 {
    1 << match v {
        Value::Bool(_) => 0,
        Value::Int(_) => 1,
        Value::Uint(_) => 2,
        Value::Float(_) => 3,
        Value::Complex(..) => 4,
        Value::Bytes(_) => 5,
        Value::String(_) => 6,
        Value::List(_) => 7,
        Value::Map(_) => 8,
        Value::Struct(_) => 9,
        Value::Interface(None) => 10,
        Value::Interface(Some(_)) => 11,
        Value::Opaque(_) => 12,
    }
}

fn children(v: &Value) -> Vec<&Value> {
    match v {
        Value::List(items) => items.iter().collect(),
        Value::Map(pairs) => pairs.iter().flat_map(|(k, e)| [k, e]).collect(),
        Value::Struct(fields) => fields.iter().map(|(_, f)| f).collect(),
        Value::Interface(Some(i)) => vec![&i.value],
        _ => Vec::new(),
    }
}

/// What a check of one value found.
#[derive(Default)]
struct Seen {
    kinds: u32,
    round_trips: usize,
}

/// Checks `v`, at nesting depth `depth`.
fn check(v: &Value, depth: usize, seen: &mut Seen) {
    assert!(
        depth <= MAX_DEPTH,
        "a value nested {depth} deep (the limit is {MAX_DEPTH})"
    );
    seen.kinds |= kind(v);
    if let Value::Interface(Some(i)) = v {
        assert!(!i.name.is_empty(), "an interface with an empty name: {i:?}");
        assert!(
            i.name.chars().count() <= 1024,
            "an interface name of {} characters",
            i.name.chars().count()
        );
        if let Some(ty) = &i.ty {
            assert!(
                conforms(ty, &i.value),
                "an interface value that is not of its type: {i:?}"
            );
            if seen.round_trips < 8 && encodable(ty, &i.value) {
                round_trip(i);
                seen.round_trips += 1;
            }
        }
    }
    for c in children(v) {
        check(c, depth + 1, seen);
    }
}

/// Whether `v` has the shape of `ty`.
fn conforms(ty: &Type, v: &Value) -> bool {
    match (ty, v) {
        (Type::Bool, Value::Bool(_))
        | (Type::Int, Value::Int(_))
        | (Type::Uint, Value::Uint(_))
        | (Type::Float, Value::Float(_))
        | (Type::Bytes, Value::Bytes(_))
        | (Type::String, Value::String(_))
        | (Type::Interface, Value::Interface(_)) => true,
        (Type::Slice(elem), Value::List(items)) => items.iter().all(|i| conforms(elem, i)),
        (Type::Map(k, e), Value::Map(pairs)) => pairs
            .iter()
            .all(|(kv, ev)| conforms(k, kv) && conforms(e, ev)),
        (Type::Struct(_, fields), Value::Struct(values)) => {
            // the fields sent, in the order of the type's fields (whose names a stream may
            // repeat)
            let mut next = 0;
            values.iter().all(|(name, fv)| {
                match (next..fields.len())
                    .find(|&j| fields[j].0 == *name && conforms(&fields[j].1, fv))
                {
                    Some(j) => {
                        next = j + 1;
                        true
                    }
                    None => false,
                }
            })
        }
        _ => false,
    }
}

/// Whether our encoder can write `v` as `ty` so that it reads back the same: every interface
/// inside has a type, and no struct type has two fields of one name (which a stream may define
/// but a value cannot tell apart).
fn encodable(ty: &Type, v: &Value) -> bool {
    fn unique_fields(ty: &Type) -> bool {
        match ty {
            Type::Slice(e) => unique_fields(e),
            Type::Map(k, e) => unique_fields(k) && unique_fields(e),
            Type::Struct(_, fields) => {
                let mut names = HashSet::new();
                fields
                    .iter()
                    .all(|(n, f)| names.insert(n.as_str()) && unique_fields(f))
            }
            _ => true,
        }
    }
    fn typed(v: &Value) -> bool {
        match v {
            Value::Interface(Some(i)) => {
                i.ty.as_ref()
                    .is_some_and(|t| unique_fields(t) && typed(&i.value))
            }
            _ => children(v).into_iter().all(typed),
        }
    }
    unique_fields(ty) && typed(v)
}

/// `v` without the struct fields holding their zero value (as our encoder and Go's leave them
/// out), for comparing.
fn without_zero_fields(v: &Value) -> Value {
    match v {
        Value::List(items) => Value::List(items.iter().map(without_zero_fields).collect()),
        Value::Map(pairs) => Value::Map(
            pairs
                .iter()
                .map(|(k, e)| (without_zero_fields(k), without_zero_fields(e)))
                .collect(),
        ),
        Value::Struct(fields) => Value::Struct(
            fields
                .iter()
                .filter(|(_, f)| !Value::is_zero(f))
                .map(|(n, f)| (n.clone(), without_zero_fields(f)))
                .collect(),
        ),
        Value::Interface(Some(i)) => Value::Interface(Some(Box::new(Iface {
            name: i.name.clone(),
            ty: i.ty.clone(),
            value: without_zero_fields(&i.value),
        }))),
        other => other.clone(),
    }
}

/// The interface value `i`, encoded by our encoder on a new stream, decodes back the same.
fn round_trip(i: &Iface) {
    let original = Value::Interface(Some(Box::new(i.clone())));
    let bytes = Encoder::new()
        .encode(&Type::Interface, &original)
        .unwrap_or_else(|e| panic!("a decoded value does not encode ({e}): {i:?}"));
    let back = Decoder::new()
        .decode_all(&bytes)
        .unwrap_or_else(|e| panic!("what we encoded does not decode ({e}): {i:?}"));
    assert_eq!(back.len(), 1, "one value encoded, {} decoded", back.len());
    // compared as text: a NaN equals itself there
    let (want, got) = (
        format!("{:?}", without_zero_fields(&original)),
        format!("{:?}", without_zero_fields(&back[0])),
    );
    assert_eq!(
        got, want,
        "a decoded value encoded and decoded again changed"
    );
}

/// A cut of the first `used` bytes that depends on the input (so runs are reproducible).
fn some_cut(bytes: &[u8], used: usize) -> usize {
    let h = bytes.iter().take(64).fold(used as u64, |h, &b| {
        h.wrapping_mul(31).wrapping_add(b as u64)
    });
    (h % used as u64) as usize
}

/// The outcome of `bytes` as a gob stream.
fn decode(bytes: &[u8]) -> String {
    // the reference: value by value on one decoder (what decode_all does)
    let mut reference = Decoder::new();
    // the same stream, each value first offered cut short
    let mut cut_short = Decoder::new();
    let mut rest = bytes;
    let mut values = 0usize;
    let mut seen = Seen::default();
    let end = loop {
        if rest.is_empty() {
            break "ok".to_string();
        }
        let result = reference.decode(rest);
        if let Ok(Some((_, used))) = &result {
            let used = *used;
            assert!(
                used > 0 && used <= rest.len(),
                "a value of {used} bytes out of {}",
                rest.len()
            );
            if values < 64 {
                for cut in [used - 1, some_cut(rest, used)] {
                    let r = cut_short.decode(&rest[..cut]);
                    assert!(
                        matches!(r, Ok(None)),
                        "value {values} ({used} bytes) cut at {cut} did not ask for more: {r:?}"
                    );
                }
            }
        }
        let again = cut_short.decode(rest);
        // as text: the errors are not comparable, and a NaN is not equal to itself
        assert_eq!(
            format!("{again:?}"),
            format!("{result:?}"),
            "value {values}: the stream decoded differently after values cut short"
        );
        match result {
            Ok(Some((v, used))) => {
                check(&v, 0, &mut seen);
                values += 1;
                rest = &rest[used..];
            }
            Ok(None) => break "cut short".to_string(),
            Err(e) => {
                // the error without its figures: one outcome per kind
                let kind: String = e
                    .to_string()
                    .chars()
                    .filter(|c| !c.is_ascii_digit())
                    .take(50)
                    .collect();
                break format!("error {kind}");
            }
        }
    };
    // decode_all agrees
    let all = Decoder::new().decode_all(bytes);
    assert_eq!(
        all.is_ok(),
        end == "ok",
        "decode_all said {all:?} where decoding value by value ended {end}"
    );
    format!(
        "{end}; {} values, kinds {:x}, {} round trips",
        values.min(3),
        seen.kinds,
        seen.round_trips.min(2)
    )
}

fn s(v: &str) -> Value {
    Value::String(v.into())
}

/// Streams our own encoder writes: the values a host sends a plugin and more.
fn encoder_seeds() -> Vec<Vec<u8>> {
    let strings = Type::Slice(Box::new(Type::String));
    let flags_type = Type::Struct(
        "RPCFlags".into(),
        vec![(
            "Values".into(),
            Type::Map(Box::new(Type::String), Box::new(Type::Interface)),
        )],
    );
    let flags = Value::iface(
        "*rpcdriver.RPCFlags",
        flags_type,
        Value::Struct(vec![(
            "Values".into(),
            Value::Map(vec![
                (
                    s("l"),
                    Value::iface(
                        "[]string",
                        strings.clone(),
                        Value::List(vec![s("p"), s("q")]),
                    ),
                ),
                (s("n"), Value::iface("int", Type::Int, Value::Int(-3))),
                (s("b"), Value::iface("bool", Type::Bool, Value::Bool(true))),
                (
                    s("f"),
                    Value::iface("float64", Type::Float, Value::Float(1.5)),
                ),
                (
                    s("u"),
                    Value::iface("uint", Type::Uint, Value::Uint(1 << 40)),
                ),
                (
                    s("y"),
                    Value::iface("[]uint8", Type::Bytes, Value::Bytes(vec![0, 255])),
                ),
                (s("nil"), Value::Interface(None)),
            ]),
        )]),
    );
    let request = Type::Struct(
        "Request".into(),
        vec![
            ("ServiceMethod".into(), Type::String),
            ("Seq".into(), Type::Uint),
        ],
    );
    let unit = Type::Struct(String::new(), Vec::new());
    // a slice of interfaces, each holding the next: as deep as the decoder takes, and deeper
    let nested = |levels: usize| {
        let mut v = Value::Interface(None);
        for _ in 0..levels {
            v = Value::iface(
                "[]interface {}",
                Type::Slice(Box::new(Type::Interface)),
                Value::List(vec![v]),
            );
        }
        v
    };
    let mut seeds = Vec::new();
    // a call on one stream: request, argument, request, argument (types defined once)
    let mut e = Encoder::new();
    let mut call = Vec::new();
    for (seq, method) in [
        (0u64, "RPCServerDriver.SetConfigRaw"),
        (1, "RPCServerDriver.Create"),
    ] {
        let head = Value::Struct(vec![
            ("ServiceMethod".into(), s(method)),
            ("Seq".into(), Value::Uint(seq)),
        ]);
        call.extend(e.encode(&request, &head).unwrap());
        call.extend(e.encode(&Type::Interface, &flags).unwrap());
        call.extend(e.encode(&unit, &Value::unit()).unwrap());
    }
    seeds.push(call);
    let mut e = Encoder::new();
    seeds.push(
        e.encode(
            &Type::Bytes,
            &Value::Bytes(b"{\"MachineName\":\"m\"}".to_vec()),
        )
        .unwrap(),
    );
    let map = Type::Map(Box::new(Type::String), Box::new(strings));
    let m = Value::Map(vec![(s("k"), Value::List(vec![s("v"), s("")]))]);
    seeds.push(Encoder::new().encode(&map, &m).unwrap());
    seeds.push(
        Encoder::new()
            .encode(&Type::Interface, &nested(MAX_DEPTH / 2 - 1))
            .unwrap(),
    );
    seeds.push(
        Encoder::new()
            .encode(&Type::Interface, &nested(MAX_DEPTH))
            .unwrap(),
    );
    seeds
}

#[test]
fn fuzz_gob_decoder() {
    let mut fuzz = Fuzz::new("gob", DICTIONARY).tokens(TOKENS);
    for seed in encoder_seeds() {
        fuzz = fuzz.seed(seed);
    }
    fuzz.run(decode);
}

/// The streams Go wrote decode whole, and their flags read back through our encoder.
#[test]
fn go_streams_decode_and_encode_again() {
    let dir = machine_fuzz::root().join("corpus/gob");
    for name in [
        "go-flags.gob",
        "go-flags-then-options-same-stream.gob",
        "go-options-fresh-stream.gob",
        "sshhost-GetCreateFlags-first-reply.gob",
        "sshhost-GetCreateFlags-after-GetVersion.gob",
    ] {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let outcome = decode(&bytes);
        assert!(
            outcome.starts_with("ok;") && !outcome.ends_with(" 0 round trips"),
            "{name}: {outcome}"
        );
    }
}
