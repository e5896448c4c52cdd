//! What gob carries: values, and the types the encoder describes them with.

/// A gob type, for encoding: the builtins and the composite types a stream defines.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Type {
    /// `bool`.
    Bool,
    /// Every signed whole number (`int`, `int64`, ...).
    Int,
    /// Every unsigned whole number.
    Uint,
    /// `float64` and `float32`.
    Float,
    /// `[]byte`.
    Bytes,
    /// `string`.
    String,
    /// `interface{}` (any interface type).
    Interface,
    /// `[]T`.
    Slice(Box<Type>),
    /// `map[K]V`.
    Map(Box<Type>, Box<Type>),
    /// A struct: its Go name (informational) and its exported fields in order.
    Struct(String, Vec<(String, Type)>),
}

/// A decoded (or to be encoded) gob value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A `bool`.
    Bool(bool),
    /// A signed whole number.
    Int(i64),
    /// An unsigned whole number.
    Uint(u64),
    /// A float.
    Float(f64),
    /// A complex number (real, imaginary).
    Complex(f64, f64),
    /// A `[]byte`.
    Bytes(Vec<u8>),
    /// A `string` (Go strings are bytes; invalid UTF-8 is replaced).
    String(String),
    /// An array or a slice.
    List(Vec<Value>),
    /// A map, in the order sent.
    Map(Vec<(Value, Value)>),
    /// A struct: the fields sent (gob omits fields holding their zero value).
    Struct(Vec<(String, Value)>),
    /// An interface value: `None` is a nil interface.
    Interface(Option<Box<Iface>>),
    /// The bytes of a type that encodes itself (GobEncoder, BinaryMarshaler, TextMarshaler).
    Opaque(Vec<u8>),
}

/// The concrete value inside an interface.
#[derive(Debug, Clone, PartialEq)]
pub struct Iface {
    /// The name Go registered the concrete type under (`*mcnflag.StringFlag`, `string`).
    pub name: String,
    /// The concrete type (needed to encode it; decoded values have it when it is one of
    /// [`Type`]'s shapes).
    pub ty: Option<Type>,
    /// The value.
    pub value: Value,
}

impl Value {
    /// An interface holding `value` of type `ty`, registered in Go as `name`.
    pub fn iface(name: &str, ty: Type, value: Value) -> Value {
        Value::Interface(Some(Box::new(Iface {
            name: name.into(),
            ty: Some(ty),
            value,
        })))
    }

    /// An empty struct (`struct{}{}`), the argument of most libmachine calls.
    pub fn unit() -> Value {
        Value::Struct(Vec::new())
    }

    /// Field `name` of a struct; `None` when it was not sent (it holds its zero value) or this
    /// is not a struct.
    pub fn field(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Struct(fields) => fields.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The text of a string (`""` for anything else, as Go's zero value).
    pub fn as_str(&self) -> &str {
        match self {
            Value::String(s) => s,
            _ => "",
        }
    }

    /// A string field, `""` when absent.
    pub fn str_field(&self, name: &str) -> &str {
        self.field(name).map(Value::as_str).unwrap_or("")
    }

    /// A whole number (signed or not, saturated), if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Uint(u) => Some(i64::try_from(*u).unwrap_or(i64::MAX)),
            _ => None,
        }
    }

    /// Whether this is its type's zero value, which gob leaves out of a struct.
    pub fn is_zero(&self) -> bool {
        match self {
            Value::Bool(b) => !b,
            Value::Int(i) => *i == 0,
            Value::Uint(u) => *u == 0,
            Value::Float(f) => *f == 0.0,
            Value::Bytes(b) => b.is_empty(),
            Value::String(s) => s.is_empty(),
            Value::List(l) => l.is_empty(),
            Value::Map(m) => m.is_empty(),
            Value::Interface(i) => i.is_none(),
            _ => false,
        }
    }

    /// The concrete value of an interface.
    pub fn as_iface(&self) -> Option<&Iface> {
        match self {
            Value::Interface(Some(i)) => Some(i),
            _ => None,
        }
    }
}
