//! Gob's primitive encodings: unsigned numbers (one byte below 128, else a negated byte count
//! and big-endian bytes), signed numbers (the sign in the low bit), floats (byte-reversed),
//! and byte strings (a count, then the bytes).

/// Appends `x`.
pub fn put_uint(out: &mut Vec<u8>, x: u64) {
    if x < 0x80 {
        out.push(x as u8);
        return;
    }
    let bytes = x.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    out.push((skip as u8).wrapping_sub(8)); // -(8 - skip) as a byte
    out.extend_from_slice(&bytes[skip..]);
}

/// Appends `i`.
pub fn put_int(out: &mut Vec<u8>, i: i64) {
    let u = if i < 0 {
        ((!i as u64) << 1) | 1
    } else {
        (i as u64) << 1
    };
    put_uint(out, u);
}

/// Appends a byte string.
pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_uint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Appends a float.
pub fn put_float(out: &mut Vec<u8>, f: f64) {
    put_uint(out, f.to_bits().swap_bytes());
}

/// The signed number of an unsigned encoding.
pub fn to_int(u: u64) -> i64 {
    let x = (u >> 1) as i64;
    if u & 1 != 0 {
        !x
    } else {
        x
    }
}

/// The float of an unsigned encoding.
pub fn to_float(u: u64) -> f64 {
    f64::from_bits(u.swap_bytes())
}

/// Reads an unsigned number at the start of `data`: `Some((value, bytes used))`, `None` when
/// `data` ends first, `Err` when the count byte is impossible.
pub fn read_uint(data: &[u8]) -> Result<Option<(u64, usize)>, String> {
    let Some(&first) = data.first() else {
        return Ok(None);
    };
    if first < 0x80 {
        return Ok(Some((first as u64, 1)));
    }
    let n = (first as i8).unsigned_abs() as usize;
    if n > 8 {
        return Err(format!("a number of {n} bytes (at most 8)"));
    }
    if data.len() < 1 + n {
        return Ok(None);
    }
    let x = data[1..=n]
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | *b as u64);
    Ok(Some((x, 1 + n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_encode_as_go_does() {
        let enc = |x: u64| {
            let mut v = Vec::new();
            put_uint(&mut v, x);
            v
        };
        assert_eq!(enc(0), [0]);
        assert_eq!(enc(127), [0x7f]);
        assert_eq!(enc(128), [0xff, 0x80]);
        assert_eq!(enc(256), [0xfe, 0x01, 0x00]);
        assert_eq!(
            enc(u64::MAX),
            [0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
        let mut v = Vec::new();
        put_int(&mut v, -65);
        assert_eq!(v, [0xff, 0x81]); // the id of a type definition, from Go
        for x in [0, 1, 127, 128, 255, 256, 65535, 1 << 40, u64::MAX] {
            assert_eq!(read_uint(&enc(x)).unwrap(), Some((x, enc(x).len())));
        }
        for i in [0i64, -1, 1, -65, 65, i64::MIN, i64::MAX] {
            let mut v = Vec::new();
            put_int(&mut v, i);
            assert_eq!(to_int(read_uint(&v).unwrap().unwrap().0), i);
        }
        assert_eq!(read_uint(&[0xfe, 0x01]).unwrap(), None);
        assert!(read_uint(&[0xf0]).is_err());
    }
}
