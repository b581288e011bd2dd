//! Partition specs: which source columns, through which transform, make a file's partition
//! tuple (hidden partitioning: the query filters the column, never the partition).

use serde::{Deserialize, Serialize};

use crate::schema::{Primitive, Schema, Type};
use crate::values::Literal;
use crate::{Error, Result, invalid};

/// The first id partition fields get.
pub const FIRST_FIELD_ID: i32 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transform {
    Identity,
    Bucket(u32),
    Truncate(u32),
    Year,
    Month,
    Day,
    Hour,
    Void,
}

impl Transform {
    pub fn parse(text: &str) -> Result<Transform> {
        let t = text.trim().to_ascii_lowercase();
        let arg = |prefix: &str| -> Option<Result<u32>> {
            t.strip_prefix(prefix)
                .and_then(|r| r.strip_suffix(']'))
                .map(|n| n.trim().parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| invalid(format!("bad transform {text}"))))
        };
        Ok(match t.as_str() {
            "identity" => Transform::Identity,
            "year" => Transform::Year,
            "month" => Transform::Month,
            "day" => Transform::Day,
            "hour" => Transform::Hour,
            "void" => Transform::Void,
            _ => {
                if let Some(n) = arg("bucket[") {
                    Transform::Bucket(n?)
                } else if let Some(n) = arg("truncate[") {
                    Transform::Truncate(n?)
                } else {
                    return Err(Error::Unsupported(format!("unknown partition transform {text}")));
                }
            }
        })
    }

    pub fn name(&self) -> String {
        match self {
            Transform::Identity => "identity".into(),
            Transform::Bucket(n) => format!("bucket[{n}]"),
            Transform::Truncate(n) => format!("truncate[{n}]"),
            Transform::Year => "year".into(),
            Transform::Month => "month".into(),
            Transform::Day => "day".into(),
            Transform::Hour => "hour".into(),
            Transform::Void => "void".into(),
        }
    }

    /// The type of the transform's result for a source type.
    pub fn result_type(&self, source: &Primitive) -> Result<Primitive> {
        let ok_time = matches!(source, Primitive::Date | Primitive::Timestamp | Primitive::Timestamptz);
        Ok(match self {
            Transform::Identity | Transform::Void => source.clone(),
            Transform::Bucket(_) => Primitive::Int,
            Transform::Truncate(_) => match source {
                Primitive::Int | Primitive::Long | Primitive::String | Primitive::Binary | Primitive::Decimal { .. } => source.clone(),
                _ => return Err(Error::Unsupported(format!("truncate cannot apply to {}", source.name()))),
            },
            Transform::Year | Transform::Month if ok_time => Primitive::Int,
            Transform::Day if ok_time => Primitive::Date,
            Transform::Hour if matches!(source, Primitive::Timestamp | Primitive::Timestamptz) => Primitive::Int,
            _ => return Err(Error::Unsupported(format!("{} cannot apply to {}", self.name(), source.name()))),
        })
    }

    /// The transform of one value (`None` stays `None`).
    pub fn apply(&self, v: Option<&Literal>) -> Result<Option<Literal>> {
        let Some(v) = v else { return Ok(None) };
        const MICROS_PER_DAY: i64 = 86_400_000_000;
        let days = |v: &Literal| -> Option<i64> {
            match v {
                Literal::Date(d) => Some(i64::from(*d)),
                Literal::Timestamp(t) | Literal::TimestampTz(t) => Some(t.div_euclid(MICROS_PER_DAY)),
                _ => None,
            }
        };
        let bad = || Error::Unsupported(format!("{} cannot apply to {v:?}", self.name()));
        Ok(Some(match self {
            Transform::Identity => v.clone(),
            Transform::Void => return Ok(None),
            Transform::Bucket(n) => Literal::Int(((murmur3_32(&bucket_bytes(v)) & i32::MAX as u32) % n) as i32),
            Transform::Truncate(w) => {
                let w = i64::from(*w);
                match v {
                    Literal::Int(x) => Literal::Int((i64::from(*x) - (i64::from(*x) % w + w) % w) as i32),
                    Literal::Long(x) => Literal::Long(x - (x % w + w) % w),
                    Literal::Decimal(x) => Literal::Decimal(x - (x % i128::from(w) + i128::from(w)) % i128::from(w)),
                    Literal::String(s) => Literal::String(s.chars().take(w as usize).collect()),
                    Literal::Binary(b) => Literal::Binary(b.iter().take(w as usize).copied().collect()),
                    _ => return Err(bad()),
                }
            }
            Transform::Year | Transform::Month => {
                let d = days(v).ok_or_else(bad)?;
                let (y, m) = year_month(d);
                Literal::Int(if *self == Transform::Year { (y - 1970) as i32 } else { ((y - 1970) * 12 + (m - 1)) as i32 })
            }
            Transform::Day => Literal::Date(days(v).ok_or_else(bad)? as i32),
            Transform::Hour => match v {
                Literal::Timestamp(t) | Literal::TimestampTz(t) => Literal::Int(t.div_euclid(3_600_000_000) as i32),
                _ => return Err(bad()),
            },
        }))
    }
}

/// The year and month of days since 1970-01-01.
fn year_month(days: i64) -> (i64, i64) {
    let text = crate::values::civil_date(days);
    let y = text[..text.len() - 6].parse().unwrap_or(1970);
    let m = text[text.len() - 5..text.len() - 3].parse().unwrap_or(1);
    (y, m)
}

/// What the bucket transform hashes, as the specification says for each type.
fn bucket_bytes(v: &Literal) -> Vec<u8> {
    match v {
        Literal::Int(n) | Literal::Date(n) => i64::from(*n).to_le_bytes().to_vec(),
        Literal::Long(n) | Literal::Time(n) | Literal::Timestamp(n) | Literal::TimestampTz(n) => n.to_le_bytes().to_vec(),
        Literal::Boolean(b) => i64::from(*b).to_le_bytes().to_vec(),
        Literal::Float(f) => f64::from(*f).to_le_bytes().to_vec(),
        Literal::Double(f) => f.to_le_bytes().to_vec(),
        other => other.to_bytes(),
    }
}

/// MurmurHash3 (x86, 32 bits, seed 0), the bucket transform's hash.
pub fn murmur3_32(data: &[u8]) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mut h: u32 = 0;
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let mut k: u32 = 0;
    for (i, b) in tail.iter().enumerate() {
        k ^= u32::from(*b) << (8 * i);
    }
    if !tail.is_empty() {
        h ^= k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PartitionField {
    pub source_id: i32,
    pub field_id: i32,
    pub name: String,
    #[serde(with = "transform_text")]
    pub transform: Transform,
}

mod transform_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Transform;

    pub fn serialize<S: Serializer>(t: &Transform, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Transform, D::Error> {
        Transform::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PartitionSpec {
    pub spec_id: i32,
    pub fields: Vec<PartitionField>,
}

impl PartitionSpec {
    pub fn unpartitioned() -> PartitionSpec {
        PartitionSpec { spec_id: 0, fields: Vec::new() }
    }

    /// Each partition field's name and result type, for a schema.
    pub fn partition_type(&self, schema: &Schema) -> Result<Vec<(i32, String, Primitive)>> {
        self.fields
            .iter()
            .map(|f| {
                let source =
                    schema.field(f.source_id).ok_or_else(|| invalid(format!("partition field {} has no source column {}", f.name, f.source_id)))?;
                let Type::Primitive(p) = &source.field_type else {
                    return Err(Error::Unsupported(format!("cannot partition by the nested column {}", source.name)));
                };
                Ok((f.field_id, f.name.clone(), f.transform.result_type(p)?))
            })
            .collect()
    }

    /// A spec from Athena's `PARTITIONED BY` terms: `col`, `bucket(n, col)`, `truncate(w, col)`,
    /// `year(col)`, `month(col)`, `day(col)`, `hour(col)`; named as Iceberg names them
    /// (`col`, `col_bucket`, `col_trunc`, `col_year`, ...).
    pub fn from_terms(terms: &[(Transform, String)], schema: &Schema) -> Result<PartitionSpec> {
        let mut fields = Vec::new();
        for (i, (transform, column)) in terms.iter().enumerate() {
            let source = schema.field_by_name(column).ok_or_else(|| invalid(format!("Column '{column}' not found in table schema")))?;
            let Type::Primitive(p) = &source.field_type else {
                return Err(Error::Unsupported(format!("cannot partition by the nested column {column}")));
            };
            transform.result_type(p)?;
            let suffix = match transform {
                Transform::Identity => "",
                Transform::Bucket(_) => "_bucket",
                Transform::Truncate(_) => "_trunc",
                Transform::Year => "_year",
                Transform::Month => "_month",
                Transform::Day => "_day",
                Transform::Hour => "_hour",
                Transform::Void => "_null",
            };
            let name = format!("{}{suffix}", source.name);
            if fields.iter().any(|f: &PartitionField| f.name == name) {
                return Err(invalid(format!("Column '{column}' is partitioned twice the same way")));
            }
            fields.push(PartitionField { source_id: source.id, field_id: FIRST_FIELD_ID + i as i32, name, transform: *transform });
        }
        Ok(PartitionSpec { spec_id: 0, fields })
    }

    /// The `name=value/...` path of a partition tuple.
    pub fn path(&self, values: &[Option<Literal>]) -> String {
        self.fields
            .iter()
            .zip(values)
            .map(|(f, v)| {
                let text = v.as_ref().map(Literal::human).unwrap_or_else(|| "null".into());
                format!("{}={}", f.name, escape(&text))
            })
            .collect::<Vec<_>>()
            .join("/")
    }
}

fn escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transforms_as_the_specification_gives_them() {
        // The specification's own examples of the bucket hash.
        assert_eq!(murmur3_32(&bucket_bytes(&Literal::Int(34))), 2_017_239_379);
        assert_eq!(murmur3_32(&bucket_bytes(&Literal::Long(34))), 2_017_239_379);
        assert_eq!(murmur3_32(b"iceberg"), 1_210_000_089);
        assert_eq!(Transform::Truncate(10).apply(Some(&Literal::Int(-1))).unwrap(), Some(Literal::Int(-10)));
        assert_eq!(Transform::Truncate(3).apply(Some(&Literal::String("iceberg".into()))).unwrap(), Some(Literal::String("ice".into())));
        // 2024-02-29 is day 19782.
        assert_eq!(Transform::Year.apply(Some(&Literal::Date(19_782))).unwrap(), Some(Literal::Int(54)));
        assert_eq!(Transform::Month.apply(Some(&Literal::Date(19_782))).unwrap(), Some(Literal::Int(54 * 12 + 1)));
        let ts = 19_782 * 86_400_000_000 + 3_600_000_000 * 5;
        assert_eq!(Transform::Day.apply(Some(&Literal::Timestamp(ts))).unwrap(), Some(Literal::Date(19_782)));
        assert_eq!(Transform::Hour.apply(Some(&Literal::Timestamp(ts))).unwrap(), Some(Literal::Int(19_782 * 24 + 5)));
        assert_eq!(Transform::parse("bucket[16]").unwrap(), Transform::Bucket(16));
        assert!(Transform::parse("bucket[0]").is_err());
        assert!(Transform::Hour.result_type(&Primitive::Date).is_err());
    }
}
