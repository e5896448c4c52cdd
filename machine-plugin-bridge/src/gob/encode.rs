//! Writing a gob stream: each type a value needs is defined once per stream, in a message of
//! its own before the value's message (Go's decoder takes definitions there as well as where
//! Go's encoder puts them).

use super::wire;
use super::{GobError, Type, Value, MAX_MESSAGE};
use std::collections::HashMap;

/// Encodes the values of one gob stream (remembering the types it defined).
#[derive(Debug)]
pub struct Encoder {
    sent: HashMap<Type, i64>,
    next_id: i64,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder {
            sent: HashMap::new(),
            next_id: 65,
        }
    }
}

/// A value that does not fit its type (named by kinds only: values may be secrets).
fn mismatch<T>(ty: &Type, v: &Value) -> Result<T, GobError> {
    let kind = match v {
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Uint(_) => "uint",
        Value::Float(_) => "float",
        Value::Complex(..) => "complex",
        Value::Bytes(_) => "bytes",
        Value::String(_) => "string",
        Value::List(_) => "list",
        Value::Map(_) => "map",
        Value::Struct(_) => "struct",
        Value::Interface(_) => "interface",
        Value::Opaque(_) => "opaque",
    };
    Err(GobError::Malformed(format!(
        "cannot encode a {kind} value as type {ty:?}"
    )))
}

impl Encoder {
    /// An encoder for a new stream.
    pub fn new() -> Encoder {
        Encoder::default()
    }

    /// The messages carrying `value` of type `ty`: the definitions of the types it needs that
    /// this stream has not defined yet, then the value.
    pub fn encode(&mut self, ty: &Type, value: &Value) -> Result<Vec<u8>, GobError> {
        let mut out = Vec::new();
        self.define_for(ty, value, &mut out)?;
        let mut msg = Vec::new();
        wire::put_int(&mut msg, self.id(ty));
        if !matches!(ty, Type::Struct(..)) {
            msg.push(0);
        }
        self.value(ty, value, &mut msg)?;
        frame(&mut out, &msg)?;
        Ok(out)
    }

    fn id(&self, ty: &Type) -> i64 {
        match ty {
            Type::Bool => 1,
            Type::Int => 2,
            Type::Uint => 3,
            Type::Float => 4,
            Type::Bytes => 5,
            Type::String => 6,
            Type::Interface => 8,
            composite => self.sent[composite],
        }
    }

    /// Defines `ty` and the concrete types of the interfaces inside `value`.
    fn define_for(&mut self, ty: &Type, value: &Value, out: &mut Vec<u8>) -> Result<(), GobError> {
        self.define(ty, out)?;
        match (ty, value) {
            (Type::Interface, Value::Interface(Some(i))) => {
                let Some(concrete) = &i.ty else {
                    return Err(GobError::Malformed(format!(
                        "the interface value {:?} has no type to encode it with",
                        i.name
                    )));
                };
                self.define_for(concrete, &i.value, out)
            }
            (Type::Slice(elem), Value::List(items)) => {
                items.iter().try_for_each(|v| self.define_for(elem, v, out))
            }
            (Type::Map(k, e), Value::Map(pairs)) => pairs.iter().try_for_each(|(kv, ev)| {
                self.define_for(k, kv, out)?;
                self.define_for(e, ev, out)
            }),
            (Type::Struct(_, fields), Value::Struct(values)) => {
                for (name, v) in values {
                    let Some((_, fty)) = fields.iter().find(|(n, _)| n == name) else {
                        return Err(GobError::Malformed(format!(
                            "field {name:?} is not in the struct type"
                        )));
                    };
                    self.define_for(fty, v, out)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Sends the definition of `ty` (and of the types inside it first) unless sent.
    fn define(&mut self, ty: &Type, out: &mut Vec<u8>) -> Result<(), GobError> {
        if self.sent.contains_key(ty) {
            return Ok(());
        }
        // (field of wireType, the definition's own fields)
        let mut def = Vec::new();
        let kind_field = match ty {
            Type::Slice(elem) => {
                self.define(elem, out)?;
                def.push(1); // Elem
                wire::put_int(&mut def, self.id(elem));
                1
            }
            Type::Map(k, e) => {
                self.define(k, out)?;
                self.define(e, out)?;
                def.push(1); // Key
                wire::put_int(&mut def, self.id(k));
                def.push(1); // Elem
                wire::put_int(&mut def, self.id(e));
                3
            }
            Type::Struct(_, fields) => {
                for (_, f) in fields {
                    self.define(f, out)?;
                }
                def.push(1); // Field
                wire::put_uint(&mut def, fields.len() as u64);
                for (name, f) in fields {
                    def.push(1);
                    wire::put_bytes(&mut def, name.as_bytes());
                    def.push(1);
                    wire::put_int(&mut def, self.id(f));
                    def.push(0);
                }
                2
            }
            _ => return Ok(()), // predefined
        };
        let id = self.next_id;
        self.next_id += 1;
        self.sent.insert(ty.clone(), id);
        let name = match ty {
            Type::Struct(name, _) => name.as_str(),
            _ => "",
        };
        let mut msg = Vec::new();
        wire::put_int(&mut msg, -id);
        wire::put_uint(&mut msg, kind_field + 1); // delta from -1 to the wireType field
        msg.push(1); // CommonType
        if !name.is_empty() {
            msg.push(1);
            wire::put_bytes(&mut msg, name.as_bytes());
            msg.push(1);
        } else {
            msg.push(2);
        }
        wire::put_int(&mut msg, id);
        msg.push(0); // end of CommonType
        msg.extend_from_slice(&def);
        msg.push(0); // end of the definition
        msg.push(0); // end of wireType
        frame(out, &msg)
    }

    fn value(&self, ty: &Type, v: &Value, out: &mut Vec<u8>) -> Result<(), GobError> {
        match (ty, v) {
            (Type::Bool, Value::Bool(b)) => wire::put_uint(out, *b as u64),
            (Type::Int, Value::Int(i)) => wire::put_int(out, *i),
            (Type::Uint, Value::Uint(u)) => wire::put_uint(out, *u),
            (Type::Float, Value::Float(f)) => wire::put_float(out, *f),
            (Type::Bytes, Value::Bytes(b)) => wire::put_bytes(out, b),
            (Type::String, Value::String(s)) => wire::put_bytes(out, s.as_bytes()),
            (Type::Slice(elem), Value::List(items)) => {
                wire::put_uint(out, items.len() as u64);
                for item in items {
                    self.value(elem, item, out)?;
                }
            }
            (Type::Map(k, e), Value::Map(pairs)) => {
                wire::put_uint(out, pairs.len() as u64);
                for (kv, ev) in pairs {
                    self.value(k, kv, out)?;
                    self.value(e, ev, out)?;
                }
            }
            (Type::Struct(_, fields), Value::Struct(values)) => {
                let mut last: i64 = -1;
                for (i, (name, fty)) in fields.iter().enumerate() {
                    let Some((_, fv)) = values.iter().find(|(n, _)| n == name) else {
                        continue;
                    };
                    if fv.is_zero() {
                        continue;
                    }
                    wire::put_uint(out, (i as i64 - last) as u64);
                    last = i as i64;
                    self.value(fty, fv, out)?;
                }
                out.push(0);
            }
            (Type::Interface, Value::Interface(None)) => out.push(0),
            (Type::Interface, Value::Interface(Some(i))) => {
                let concrete = i.ty.as_ref().expect("checked when defining");
                wire::put_bytes(out, i.name.as_bytes());
                wire::put_int(out, self.id(concrete));
                let mut data = Vec::new();
                if !matches!(concrete, Type::Struct(..)) {
                    data.push(0);
                }
                self.value(concrete, &i.value, &mut data)?;
                wire::put_bytes(out, &data);
            }
            _ => return mismatch(ty, v),
        }
        Ok(())
    }
}

/// Appends `msg` as one message: its byte count, then it.
fn frame(out: &mut Vec<u8>, msg: &[u8]) -> Result<(), GobError> {
    if msg.len() > MAX_MESSAGE {
        return Err(GobError::TooBig {
            size: msg.len() as u64,
            limit: MAX_MESSAGE,
        });
    }
    wire::put_uint(out, msg.len() as u64);
    out.extend_from_slice(msg);
    Ok(())
}
