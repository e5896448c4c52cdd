//! The codec against bytes Go's own `encoding/gob` (Go 1.19) wrote.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// `[]mcnflag.Flag{StringFlag{"s","u","E","v"}, IntFlag{Name:"i",Value:22}, BoolFlag{Name:"b"},
/// StringSliceFlag{Name:"l",Value:{"x","y"}}}`: each concrete type is defined where it first
/// appears, inside the value, which goes on in the next message.
const GO_FLAGS: &str = "0cff81020102ff82000110000058ff820004132a6d636e666c61672e537472696e67466c6167ff830301010a537472696e67466c616701ff8400010401044e616d65010c0001055573616765010c000106456e76566172010c00010556616c7565010c0000005eff840d01017301017501014501017600102a6d636e666c61672e496e74466c6167ff8503010107496e74466c616701ff8600010401044e616d65010c0001055573616765010c000106456e76566172010c00010556616c756501040000004fff8606010169032c00112a6d636e666c61672e426f6f6c466c6167ff8703010108426f6f6c466c616701ff8800010301044e616d65010c0001055573616765010c000106456e76566172010c00000066ff880401016200182a6d636e666c61672e537472696e67536c696365466c6167ff890301010f537472696e67536c696365466c616701ff8a00010401044e616d65010c0001055573616765010c000106456e76566172010c00010556616c756501ff8c00000016ff8b020101085b5d737472696e6701ff8c00010c00000dff8a0a01016c03020178017900";
/// Then, on the same stream, `DriverOptions(RPCFlags{Values: {"l": []string{"p","q"}}})`.
const GO_OPTIONS_SAME_STREAM: &str = "381000132a7270636472697665722e525043466c616773ff8d03010108525043466c61677301ff8e000101010656616c75657301ff9000000027ff8f040101176d61705b737472696e675d696e74657266616365207b7d01ff9000010c011000001aff8e170101016c085b5d737472696e67ff8c0600020170017100";
/// The same on a fresh stream: `[]string` is defined inside the map's interface value.
const GO_OPTIONS_FRESH: &str = "381000132a7270636472697665722e525043466c616773ff8d03010108525043466c61677301ff8e000101010656616c75657301ff9000000027ff8f040101176d61705b737472696e675d696e74657266616365207b7d01ff9000010c0110000031ff8e230101016c085b5d737472696e67ff8b020101085b5d737472696e6701ff8c00010c00000aff8c0600020170017100";

fn s(v: &str) -> Value {
    Value::String(v.into())
}

#[test]
fn decodes_the_create_flags_go_sends() {
    let mut d = Decoder::new();
    let values = d.decode_all(&hex(GO_FLAGS)).unwrap();
    assert_eq!(values.len(), 1);
    let Value::List(flags) = &values[0] else {
        panic!("{values:?}")
    };
    let names: Vec<&str> = flags
        .iter()
        .map(|f| f.as_iface().unwrap().name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "*mcnflag.StringFlag",
            "*mcnflag.IntFlag",
            "*mcnflag.BoolFlag",
            "*mcnflag.StringSliceFlag"
        ]
    );
    let f = |i: usize| &flags[i].as_iface().unwrap().value;
    assert_eq!(f(0).str_field("Name"), "s");
    assert_eq!(f(0).str_field("EnvVar"), "E");
    assert_eq!(f(0).str_field("Value"), "v");
    assert_eq!(f(1).field("Value"), Some(&Value::Int(22)));
    assert_eq!(f(2).str_field("Name"), "b");
    assert_eq!(
        f(3).field("Value"),
        Some(&Value::List(vec![s("x"), s("y")]))
    );

    // the next value on the stream uses the types defined so far
    let values = d.decode_all(&hex(GO_OPTIONS_SAME_STREAM)).unwrap();
    let opts = values[0].as_iface().unwrap();
    assert_eq!(opts.name, "*rpcdriver.RPCFlags");
    let Some(Value::Map(pairs)) = opts.value.field("Values") else {
        panic!("{opts:?}")
    };
    let l = pairs[0].1.as_iface().unwrap();
    assert_eq!((pairs[0].0.clone(), l.name.as_str()), (s("l"), "[]string"));
    assert_eq!(l.value, Value::List(vec![s("p"), s("q")]));
}

#[test]
fn decodes_a_type_defined_inside_an_interface_inside_a_map() {
    let values = Decoder::new().decode_all(&hex(GO_OPTIONS_FRESH)).unwrap();
    let opts = values[0].as_iface().unwrap();
    let Some(Value::Map(pairs)) = opts.value.field("Values") else {
        panic!("{opts:?}")
    };
    assert_eq!(
        pairs[0].1.as_iface().unwrap().value,
        Value::List(vec![s("p"), s("q")])
    );
}

#[test]
fn a_value_cut_short_asks_for_more_and_takes_in_nothing() {
    let all = hex(GO_FLAGS);
    let mut d = Decoder::new();
    for cut in [0, 1, 5, 13, 50, 100, all.len() - 1] {
        assert!(d.decode(&all[..cut]).unwrap().is_none(), "cut at {cut}");
    }
    let (v, used) = d.decode(&all).unwrap().unwrap();
    assert_eq!(used, all.len());
    assert!(matches!(v, Value::List(ref l) if l.len() == 4));
}

fn rpc_flags_type() -> Type {
    Type::Struct(
        "RPCFlags".into(),
        vec![(
            "Values".into(),
            Type::Map(Box::new(Type::String), Box::new(Type::Interface)),
        )],
    )
}

#[test]
fn what_we_encode_decodes_back() {
    let list = Type::Slice(Box::new(Type::String));
    let options = Value::Struct(vec![(
        "Values".into(),
        Value::Map(vec![
            (
                s("l"),
                Value::iface("[]string", list.clone(), Value::List(vec![s("p"), s("q")])),
            ),
            (s("n"), Value::iface("int", Type::Int, Value::Int(-3))),
            (s("b"), Value::iface("bool", Type::Bool, Value::Bool(true))),
            (s("s"), Value::iface("string", Type::String, s("x"))),
        ]),
    )]);
    let arg = Value::iface("*rpcdriver.RPCFlags", rpc_flags_type(), options);
    let mut e = Encoder::new();
    let mut d = Decoder::new();
    for _ in 0..2 {
        // the second time, on the same stream, no type is defined again
        let bytes = e.encode(&Type::Interface, &arg).unwrap();
        let back = d.decode_all(&bytes).unwrap();
        assert_eq!(back.len(), 1);
        let i = back[0].as_iface().unwrap();
        assert_eq!(i.name, "*rpcdriver.RPCFlags");
        assert_eq!(Some(&i.value), arg.as_iface().map(|a| &a.value));
    }
    let unit = e
        .encode(&Type::Struct(String::new(), vec![]), &Value::unit())
        .unwrap();
    assert_eq!(d.decode_all(&unit).unwrap(), [Value::unit()]);
    let bytes = e
        .encode(&Type::Bytes, &Value::Bytes(b"{}".to_vec()))
        .unwrap();
    assert_eq!(bytes, hex("050a00027b7d"), "as Go writes a []byte");
}

#[test]
fn hostile_input_is_an_error_not_an_allocation() {
    for input in [
        "02ff00",                 // a value of undefined type
        "05ff81020102",           // a definition cut inside its message
        "0affc1020102ff82000110", // a definition of a predefined id
        "0509fff0ffffffff",       // a slice count of billions
        "fbffffffff",             // a message of 4 GiB
    ] {
        let r = Decoder::new().decode_all(&hex(input));
        assert!(r.is_err(), "{input}: {r:?}");
    }
    // nesting deeper than the limit: a slice of interfaces, each holding the next
    let mut v = Value::Interface(None);
    for _ in 0..(MAX_DEPTH + 5) {
        v = Value::iface(
            "[]interface {}",
            Type::Slice(Box::new(Type::Interface)),
            Value::List(vec![v]),
        );
    }
    let bytes = Encoder::new().encode(&Type::Interface, &v).unwrap();
    let err = Decoder::new().decode_all(&bytes).unwrap_err();
    assert!(err.to_string().contains("deeper"), "{err}");
}
