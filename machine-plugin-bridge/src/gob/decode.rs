//! Reading a gob stream, exactly as Go's decoder does: type definitions are taken in before
//! the value that needs them, also in the middle of a value (an interface's concrete type may
//! be defined where it first appears, the value then continuing in the next message).

use super::wire;
use super::{GobError, Iface, Type, Value, MAX_DEPTH, MAX_MESSAGE};
use std::collections::HashMap;
use std::sync::Arc;

// Go's predefined type ids.
const BOOL: i64 = 1;
const INT: i64 = 2;
const UINT: i64 = 3;
const FLOAT: i64 = 4;
const BYTES: i64 = 5;
const STRING: i64 = 6;
const COMPLEX: i64 = 7;
const INTERFACE: i64 = 8;
/// The lowest id a stream may define (Go's `firstUserId`).
const FIRST_USER_ID: i64 = 64;
/// The most types one stream may define.
const MAX_TYPES: usize = 10_000;
/// The most items made room for before they are read (a count is only as true as the items
/// that follow it).
const PREALLOCATED: usize = 1024;
/// The longest interface type name Go accepts.
const MAX_NAME: u64 = 1024;
/// The most nodes of [`Type`]s built for the interfaces of one value (beyond, they have none):
/// types a stream defines may share parts (a struct of two fields of one struct type of two
/// fields...), and spelt out in full a type could be exponentially larger than its definitions.
const MAX_TYPE_NODES: usize = 10_000;

/// A type a stream defined.
#[derive(Debug, Clone)]
enum Wire {
    Array {
        elem: i64,
        len: u64,
    },
    Slice {
        elem: i64,
    },
    Struct {
        fields: Vec<(String, i64)>,
    },
    Map {
        key: i64,
        elem: i64,
    },
    /// A GobEncoder, BinaryMarshaler or TextMarshaler: its bytes.
    Opaque,
}

/// Why a decode stopped.
enum Stop {
    /// The input ends before the value does: read more and decode again.
    Incomplete,
    Failed(GobError),
}

impl From<GobError> for Stop {
    fn from(e: GobError) -> Stop {
        Stop::Failed(e)
    }
}

fn bad<T>(what: impl Into<String>) -> Result<T, Stop> {
    Err(Stop::Failed(GobError::Malformed(what.into())))
}

/// The input and the current message within it.
struct Cursor<'a> {
    input: &'a [u8],
    pos: usize,
    /// The end of the current message.
    end: usize,
}

impl Cursor<'_> {
    fn left(&self) -> usize {
        self.end - self.pos
    }

    fn next_message(&mut self) -> Result<(), Stop> {
        let (n, used) = match wire::read_uint(&self.input[self.pos..]) {
            Err(e) => return bad(e),
            Ok(None) => return Err(Stop::Incomplete),
            Ok(Some(x)) => x,
        };
        if n == 0 {
            return bad("an empty message");
        }
        if n > MAX_MESSAGE as u64 {
            return Err(Stop::Failed(GobError::TooBig {
                size: n,
                limit: MAX_MESSAGE,
            }));
        }
        if ((self.input.len() - self.pos - used) as u64) < n {
            return Err(Stop::Incomplete);
        }
        self.pos += used;
        self.end = self.pos + n as usize;
        Ok(())
    }

    fn uint(&mut self) -> Result<u64, Stop> {
        match wire::read_uint(&self.input[self.pos..self.end]) {
            Err(e) => bad(e),
            Ok(None) => bad("the data ends inside a number"),
            Ok(Some((x, used))) => {
                self.pos += used;
                Ok(x)
            }
        }
    }

    fn int(&mut self) -> Result<i64, Stop> {
        self.uint().map(wire::to_int)
    }

    fn bytes(&mut self) -> Result<&[u8], Stop> {
        let n = self.uint()?;
        if n > self.left() as u64 {
            return bad(format!(
                "a string of {n} bytes where {} are left",
                self.left()
            ));
        }
        let b = &self.input[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(b)
    }

    fn string(&mut self) -> Result<String, Stop> {
        Ok(String::from_utf8_lossy(self.bytes()?).into_owned())
    }

    /// A count of items that take at least `min_size` bytes each.
    fn count(&mut self, min_size: usize) -> Result<usize, Stop> {
        let n = self.uint()?;
        if n.saturating_mul(min_size as u64) > self.left() as u64 {
            return bad(format!(
                "a count of {n} items where {} bytes are left",
                self.left()
            ));
        }
        Ok(n as usize)
    }

    /// The fields of a struct encoding: `f(cursor, field number)` for each one sent.
    fn fields(
        &mut self,
        count: usize,
        mut f: impl FnMut(&mut Self, usize) -> Result<(), Stop>,
    ) -> Result<(), Stop> {
        let mut field: i64 = -1;
        loop {
            let delta = self.uint()?;
            if delta == 0 {
                return Ok(());
            }
            if delta > count as u64 || field + delta as i64 >= count as i64 {
                return bad(format!(
                    "field {} of a struct of {count} fields",
                    field.saturating_add(delta as i64)
                ));
            }
            field += delta as i64;
            f(self, field as usize)?;
        }
    }
}

/// Decodes the values of one gob stream (keeping the types it defines between values).
#[derive(Debug, Default)]
pub struct Decoder {
    types: HashMap<i64, Arc<Wire>>,
    /// What is left of [`MAX_TYPE_NODES`] for the value being decoded.
    type_budget: usize,
}

impl Decoder {
    /// A decoder for a new stream.
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Decodes the next value at the start of `input` (whole messages: the type definitions it
    /// needs, then the value). `Ok(None)`: `input` does not hold all of it yet (nothing is
    /// taken in; call again with more). `Ok(Some((value, bytes used)))` otherwise.
    pub fn decode(&mut self, input: &[u8]) -> Result<Option<(Value, usize)>, GobError> {
        let saved = self.types.clone();
        self.type_budget = MAX_TYPE_NODES;
        let mut c = Cursor {
            input,
            pos: 0,
            end: 0,
        };
        match self.top(&mut c) {
            Ok(v) if c.pos == c.end => Ok(Some((v, c.pos))),
            Ok(_) => Err(GobError::Malformed(format!(
                "{} bytes left in a message after its value",
                c.left()
            ))),
            Err(Stop::Incomplete) => {
                self.types = saved;
                Ok(None)
            }
            Err(Stop::Failed(e)) => Err(e),
        }
    }

    /// Every value in `input`, which must end with the last one's last message.
    pub fn decode_all(&mut self, mut input: &[u8]) -> Result<Vec<Value>, GobError> {
        let mut values = Vec::new();
        while !input.is_empty() {
            match self.decode(input)? {
                Some((v, used)) => {
                    values.push(v);
                    input = &input[used..];
                }
                None => return Err(GobError::Malformed("the data ends inside a value".into())),
            }
        }
        Ok(values)
    }

    fn top(&mut self, c: &mut Cursor) -> Result<Value, Stop> {
        let id = loop {
            if c.left() == 0 {
                c.next_message()?;
            }
            let id = c.int()?;
            if id >= 0 {
                break id;
            }
            self.define(c, id)?;
            if c.left() != 0 {
                return bad("data after a type definition");
            }
        };
        self.value_at_top(c, id, 0)
    }

    /// A value that stands alone (at the top, or inside an interface): a struct as itself,
    /// anything else after a zero field delta.
    fn value_at_top(&mut self, c: &mut Cursor, id: i64, depth: usize) -> Result<Value, Stop> {
        if !matches!(self.types.get(&id).map(|w| &**w), Some(Wire::Struct { .. })) && c.uint()? != 0
        {
            return bad("a value that is not a struct must start with a zero delta");
        }
        self.value(c, id, depth)
    }

    /// A type definition for `-neg_id`.
    fn define(&mut self, c: &mut Cursor, neg_id: i64) -> Result<(), Stop> {
        let id = neg_id
            .checked_neg()
            .ok_or(Stop::Failed(GobError::Malformed(
                "type id out of range".into(),
            )))?;
        if id < FIRST_USER_ID {
            return bad(format!("a definition of predefined type id {id}"));
        }
        if self.types.contains_key(&id) {
            return bad(format!("type id {id} defined twice"));
        }
        if self.types.len() >= MAX_TYPES {
            return bad(format!("more than {MAX_TYPES} types"));
        }
        let wire = wire_type(c)?;
        self.types.insert(id, Arc::new(wire));
        Ok(())
    }

    fn value(&mut self, c: &mut Cursor, id: i64, depth: usize) -> Result<Value, Stop> {
        if depth > MAX_DEPTH {
            return bad(format!("values nested deeper than {MAX_DEPTH}"));
        }
        Ok(match id {
            BOOL => Value::Bool(c.uint()? != 0),
            INT => Value::Int(c.int()?),
            UINT => Value::Uint(c.uint()?),
            FLOAT => Value::Float(wire::to_float(c.uint()?)),
            COMPLEX => {
                let re = wire::to_float(c.uint()?);
                Value::Complex(re, wire::to_float(c.uint()?))
            }
            BYTES => Value::Bytes(c.bytes()?.to_vec()),
            STRING => Value::String(c.string()?),
            INTERFACE => self.interface(c, depth)?,
            _ => match self.types.get(&id).cloned().as_deref() {
                None => return bad(format!("a value of undefined type id {id}")),
                Some(&Wire::Array { elem, len }) => {
                    let n = c.count(1)?;
                    if n as u64 != len {
                        return bad(format!("an array of {n} items for a type of {len}"));
                    }
                    Value::List(self.items(c, elem, n, depth)?)
                }
                Some(&Wire::Slice { elem }) => {
                    let n = c.count(1)?;
                    Value::List(self.items(c, elem, n, depth)?)
                }
                Some(&Wire::Map { key, elem }) => {
                    let n = c.count(2)?;
                    let mut pairs = Vec::with_capacity(n.min(PREALLOCATED));
                    for _ in 0..n {
                        let k = self.value(c, key, depth + 1)?;
                        pairs.push((k, self.value(c, elem, depth + 1)?));
                    }
                    Value::Map(pairs)
                }
                Some(Wire::Struct { fields }) => {
                    let mut values = Vec::new();
                    c.fields(fields.len(), |c, i| {
                        let v = self.value(c, fields[i].1, depth + 1)?;
                        values.push((fields[i].0.clone(), v));
                        Ok(())
                    })?;
                    Value::Struct(values)
                }
                Some(Wire::Opaque) => Value::Opaque(c.bytes()?.to_vec()),
            },
        })
    }

    fn items(
        &mut self,
        c: &mut Cursor,
        elem: i64,
        n: usize,
        depth: usize,
    ) -> Result<Vec<Value>, Stop> {
        let mut items = Vec::with_capacity(n.min(PREALLOCATED));
        for _ in 0..n {
            items.push(self.value(c, elem, depth + 1)?);
        }
        Ok(items)
    }

    /// An interface: its concrete type's name, the definitions of types not seen yet (which
    /// may end the message: the value goes on in the next), the type id, a byte count, then
    /// the value as if at the top.
    fn interface(&mut self, c: &mut Cursor, depth: usize) -> Result<Value, Stop> {
        let n = c.uint()?;
        if n > MAX_NAME || n > c.left() as u64 {
            return bad(format!("an interface type name of {n} bytes"));
        }
        let name = String::from_utf8_lossy(&c.input[c.pos..c.pos + n as usize]).into_owned();
        c.pos += n as usize;
        if name.is_empty() {
            return Ok(Value::Interface(None));
        }
        let id = loop {
            if c.left() == 0 {
                c.next_message()?;
            }
            let id = c.int()?;
            if id >= 0 {
                break id;
            }
            self.define(c, id)?;
            if c.left() != 0 {
                c.uint()?; // the count of a delimited value, as Go skips it
            }
        };
        c.uint()?; // the value's byte count
        let value = self.value_at_top(c, id, depth + 1)?;
        let mut budget = self.type_budget;
        let ty = self.type_of(id, 0, &mut budget);
        self.type_budget = budget;
        Ok(Value::Interface(Some(Box::new(Iface { name, ty, value }))))
    }

    /// The [`Type`] of id `id`, when it has one of its shapes (not arrays, self-encoding or
    /// recursive types) in at most `budget` nodes.
    fn type_of(&self, id: i64, depth: usize, budget: &mut usize) -> Option<Type> {
        if depth > MAX_DEPTH || *budget == 0 {
            return None;
        }
        *budget -= 1;
        Some(match id {
            BOOL => Type::Bool,
            INT => Type::Int,
            UINT => Type::Uint,
            FLOAT => Type::Float,
            BYTES => Type::Bytes,
            STRING => Type::String,
            INTERFACE => Type::Interface,
            _ => match &**self.types.get(&id)? {
                Wire::Slice { elem } => {
                    Type::Slice(Box::new(self.type_of(*elem, depth + 1, budget)?))
                }
                Wire::Map { key, elem } => Type::Map(
                    Box::new(self.type_of(*key, depth + 1, budget)?),
                    Box::new(self.type_of(*elem, depth + 1, budget)?),
                ),
                Wire::Struct { fields } => Type::Struct(
                    String::new(),
                    fields
                        .iter()
                        .map(|(n, f)| Some((n.clone(), self.type_of(*f, depth + 1, budget)?)))
                        .collect::<Option<_>>()?,
                ),
                Wire::Array { .. } | Wire::Opaque => return None,
            },
        })
    }
}

/// A `wireType` struct: exactly one of ArrayT, SliceT, StructT, MapT, GobEncoderT,
/// BinaryMarshalerT, TextMarshalerT.
fn wire_type(c: &mut Cursor) -> Result<Wire, Stop> {
    let mut found = None;
    c.fields(7, |c, field| {
        found = Some(match field {
            0 => {
                let (mut elem, mut len) = (0, 0u64);
                c.fields(3, |c, f| {
                    match f {
                        0 => common_type(c)?,
                        1 => elem = c.int()?,
                        _ => len = u64::try_from(c.int()?).unwrap_or(u64::MAX),
                    }
                    Ok(())
                })?;
                Wire::Array { elem, len }
            }
            1 => {
                let mut elem = 0;
                c.fields(2, |c, f| {
                    match f {
                        0 => common_type(c)?,
                        _ => elem = c.int()?,
                    }
                    Ok(())
                })?;
                Wire::Slice { elem }
            }
            2 => {
                let mut fields = Vec::new();
                c.fields(2, |c, f| {
                    match f {
                        0 => common_type(c)?,
                        _ => {
                            let n = c.count(1)?;
                            for _ in 0..n {
                                let (mut name, mut id) = (String::new(), 0);
                                c.fields(2, |c, f| {
                                    match f {
                                        0 => name = c.string()?,
                                        _ => id = c.int()?,
                                    }
                                    Ok(())
                                })?;
                                fields.push((name, id));
                            }
                        }
                    }
                    Ok(())
                })?;
                Wire::Struct { fields }
            }
            3 => {
                let (mut key, mut elem) = (0, 0);
                c.fields(3, |c, f| {
                    match f {
                        0 => common_type(c)?,
                        1 => key = c.int()?,
                        _ => elem = c.int()?,
                    }
                    Ok(())
                })?;
                Wire::Map { key, elem }
            }
            _ => {
                c.fields(1, |c, _| common_type(c))?;
                Wire::Opaque
            }
        });
        Ok(())
    })?;
    found.map_or_else(|| bad("an empty type definition"), Ok)
}

/// A `CommonType` (the type's Go name and id: informational).
fn common_type(c: &mut Cursor) -> Result<(), Stop> {
    c.fields(2, |c, f| {
        match f {
            0 => {
                c.string()?;
            }
            _ => {
                c.int()?;
            }
        }
        Ok(())
    })
}
