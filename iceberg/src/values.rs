//! Single values of Iceberg's primitive types: partition values (in manifests, as Avro), and
//! bounds (in manifests, as Iceberg's binary single-value serialization).

use apache_avro::types::Value as Avro;

use crate::schema::Primitive;
use crate::{Result, invalid};

/// A value of a primitive type, as Iceberg represents it: days, microseconds, unscaled decimals.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Boolean(bool),
    Int(i32),
    Long(i64),
    Float(f32),
    Double(f64),
    Decimal(i128),
    Date(i32),
    Time(i64),
    Timestamp(i64),
    TimestampTz(i64),
    String(String),
    Uuid([u8; 16]),
    Fixed(Vec<u8>),
    Binary(Vec<u8>),
}

impl Literal {
    /// The value as a manifest's Avro holds it (without the union of an optional field).
    pub fn to_avro(&self) -> Avro {
        match self {
            Literal::Boolean(b) => Avro::Boolean(*b),
            Literal::Int(n) => Avro::Int(*n),
            Literal::Date(n) => Avro::Date(*n),
            Literal::Long(n) => Avro::Long(*n),
            Literal::Time(n) => Avro::TimeMicros(*n),
            Literal::Timestamp(n) | Literal::TimestampTz(n) => Avro::TimestampMicros(*n),
            Literal::Float(f) => Avro::Float(*f),
            Literal::Double(f) => Avro::Double(*f),
            Literal::Decimal(n) => Avro::Bytes(n.to_be_bytes().to_vec()),
            Literal::String(s) => Avro::String(s.clone()),
            Literal::Uuid(u) => Avro::Fixed(16, u.to_vec()),
            Literal::Fixed(b) => Avro::Fixed(b.len(), b.clone()),
            Literal::Binary(b) => Avro::Bytes(b.clone()),
        }
    }

    /// A value read from a manifest's Avro, as the field's type says it is.
    pub fn from_avro(v: &Avro, t: &Primitive) -> Result<Option<Literal>> {
        let v = match v {
            Avro::Union(_, inner) => inner.as_ref(),
            v => v,
        };
        let bad = || invalid(format!("a {} partition value cannot be {v:?}", t.name()));
        Ok(Some(match (t, v) {
            (_, Avro::Null) => return Ok(None),
            (Primitive::Boolean, Avro::Boolean(b)) => Literal::Boolean(*b),
            (Primitive::Int, Avro::Int(n)) => Literal::Int(*n),
            (Primitive::Long, Avro::Long(n)) => Literal::Long(*n),
            (Primitive::Long, Avro::Int(n)) => Literal::Long(i64::from(*n)),
            (Primitive::Float, Avro::Float(f)) => Literal::Float(*f),
            (Primitive::Double, Avro::Double(f)) => Literal::Double(*f),
            (Primitive::Double, Avro::Float(f)) => Literal::Double(f64::from(*f)),
            (Primitive::Date, Avro::Date(n) | Avro::Int(n)) => Literal::Date(*n),
            (Primitive::Time, Avro::TimeMicros(n) | Avro::Long(n)) => Literal::Time(*n),
            (Primitive::Timestamp, Avro::TimestampMicros(n) | Avro::LocalTimestampMicros(n) | Avro::Long(n)) => Literal::Timestamp(*n),
            (Primitive::Timestamptz, Avro::TimestampMicros(n) | Avro::LocalTimestampMicros(n) | Avro::Long(n)) => Literal::TimestampTz(*n),
            (Primitive::String, Avro::String(s)) => Literal::String(s.clone()),
            (Primitive::Uuid, Avro::Uuid(u)) => Literal::Uuid(*u.as_bytes()),
            (Primitive::Uuid, Avro::Fixed(16, b)) => Literal::Uuid(b.as_slice().try_into().map_err(|_| bad())?),
            (Primitive::Fixed(_), Avro::Fixed(_, b)) => Literal::Fixed(b.clone()),
            (Primitive::Binary, Avro::Bytes(b)) => Literal::Binary(b.clone()),
            (Primitive::Decimal { .. }, Avro::Decimal(d)) => {
                let bytes: Vec<u8> = Vec::try_from(d.clone()).map_err(|_| bad())?;
                Literal::Decimal(signed_be(&bytes))
            }
            (Primitive::Decimal { .. }, Avro::Bytes(b) | Avro::Fixed(_, b)) => Literal::Decimal(signed_be(b)),
            _ => return Err(bad()),
        }))
    }

    /// Iceberg's binary single-value serialization (manifest bounds).
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Literal::Boolean(b) => vec![u8::from(*b)],
            Literal::Int(n) | Literal::Date(n) => n.to_le_bytes().to_vec(),
            Literal::Long(n) | Literal::Time(n) | Literal::Timestamp(n) | Literal::TimestampTz(n) => n.to_le_bytes().to_vec(),
            Literal::Float(f) => f.to_le_bytes().to_vec(),
            Literal::Double(f) => f.to_le_bytes().to_vec(),
            Literal::Decimal(n) => minimal_be(*n),
            Literal::String(s) => s.as_bytes().to_vec(),
            Literal::Uuid(u) => u.to_vec(),
            Literal::Fixed(b) | Literal::Binary(b) => b.clone(),
        }
    }

    /// A bound read back from its binary serialization.
    pub fn from_bytes(b: &[u8], t: &Primitive) -> Result<Literal> {
        let bad = || invalid(format!("a {} bound of {} bytes", t.name(), b.len()));
        let arr4 = || <[u8; 4]>::try_from(b).map_err(|_| bad());
        let arr8 = || <[u8; 8]>::try_from(b).map_err(|_| bad());
        Ok(match t {
            Primitive::Boolean => Literal::Boolean(b.first().is_some_and(|x| *x != 0)),
            Primitive::Int => Literal::Int(i32::from_le_bytes(arr4()?)),
            Primitive::Date => Literal::Date(i32::from_le_bytes(arr4()?)),
            // A long bound may be stored as an int's four bytes after a promotion.
            Primitive::Long => Literal::Long(if b.len() == 4 { i64::from(i32::from_le_bytes(arr4()?)) } else { i64::from_le_bytes(arr8()?) }),
            Primitive::Time => Literal::Time(i64::from_le_bytes(arr8()?)),
            Primitive::Timestamp => Literal::Timestamp(i64::from_le_bytes(arr8()?)),
            Primitive::Timestamptz => Literal::TimestampTz(i64::from_le_bytes(arr8()?)),
            Primitive::Float => Literal::Float(f32::from_le_bytes(arr4()?)),
            Primitive::Double => Literal::Double(if b.len() == 4 { f64::from(f32::from_le_bytes(arr4()?)) } else { f64::from_le_bytes(arr8()?) }),
            Primitive::Decimal { .. } => Literal::Decimal(signed_be(b)),
            Primitive::String => Literal::String(String::from_utf8_lossy(b).into_owned()),
            Primitive::Uuid => Literal::Uuid(b.try_into().map_err(|_| bad())?),
            Primitive::Fixed(_) => Literal::Fixed(b.to_vec()),
            Primitive::Binary => Literal::Binary(b.to_vec()),
        })
    }

    /// The value as a partition path segment shows it (`2024-01-31`, `42`, `abc`).
    pub fn human(&self) -> String {
        match self {
            Literal::Boolean(b) => b.to_string(),
            Literal::Int(n) => n.to_string(),
            Literal::Long(n) => n.to_string(),
            Literal::Float(f) => f.to_string(),
            Literal::Double(f) => f.to_string(),
            Literal::Decimal(n) => n.to_string(),
            Literal::Date(d) => civil_date(i64::from(*d)),
            Literal::Time(t) => t.to_string(),
            Literal::Timestamp(t) | Literal::TimestampTz(t) => t.to_string(),
            Literal::String(s) => s.clone(),
            Literal::Uuid(u) => uuid::Uuid::from_bytes(*u).to_string(),
            Literal::Fixed(b) | Literal::Binary(b) => b.iter().map(|x| format!("{x:02x}")).collect(),
        }
    }
}

/// A big-endian two's complement integer of any length.
fn signed_be(b: &[u8]) -> i128 {
    if b.is_empty() {
        return 0;
    }
    let fill = if b[0] & 0x80 != 0 { 0xff } else { 0 };
    let mut full = [fill; 16];
    let take = b.len().min(16);
    full[16 - take..].copy_from_slice(&b[b.len() - take..]);
    i128::from_be_bytes(full)
}

/// The fewest big-endian bytes that hold a two's complement integer.
fn minimal_be(n: i128) -> Vec<u8> {
    let bytes = n.to_be_bytes();
    let mut start = 0;
    while start < 15 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        if (b == 0 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    bytes[start..].to_vec()
}

/// `YYYY-MM-DD` of days since 1970-01-01 (the proleptic Gregorian calendar).
pub fn civil_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip() {
        let cases = [
            (Literal::Int(-5), Primitive::Int),
            (Literal::Long(1 << 40), Primitive::Long),
            (Literal::Double(2.5), Primitive::Double),
            (Literal::String("ab".into()), Primitive::String),
            (Literal::Decimal(-12345), Primitive::Decimal { precision: 10, scale: 2 }),
            (Literal::Decimal(255), Primitive::Decimal { precision: 10, scale: 2 }),
            (Literal::Date(19_000), Primitive::Date),
        ];
        for (lit, t) in cases {
            assert_eq!(Literal::from_bytes(&lit.to_bytes(), &t).unwrap(), lit);
        }
        assert_eq!(minimal_be(255), vec![0, 255]);
        assert_eq!(minimal_be(-1), vec![255]);
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(19_782), "2024-02-29");
    }
}
