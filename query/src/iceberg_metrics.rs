//! A data file's column metrics as Iceberg's manifests keep them (sizes, value and null counts,
//! lower and upper bounds per field id), read off the footer of the Parquet file just written.
//! Readers (Minerva's scans, pyiceberg, DuckDB, Trino) skip files whose bounds rule a filter out.

use datafusion::parquet::file::metadata::ParquetMetaDataReader;
use datafusion::parquet::file::statistics::Statistics;
use iceberg::manifest::DataFile;
use iceberg::schema::{Primitive, Schema, Type};
use iceberg::values::Literal;

use crate::iceberg_scan::compare_literals;

/// String and binary bounds keep this many characters (bytes), as Iceberg's default
/// `truncate(16)` metrics mode does: a cut lower bound still bounds; a cut upper bound would not,
/// so a longer maximum is left out.
const TRUNCATE: usize = 16;

/// One row group's minimum and maximum of a column, as the column's Iceberg type.
fn bounds(stats: &Statistics, t: &Primitive) -> (Option<Literal>, Option<Literal>) {
    use Primitive as P;
    let int = |x: i64| -> Option<Literal> {
        Some(match t {
            P::Int => Literal::Int(i32::try_from(x).ok()?),
            P::Long => Literal::Long(x),
            P::Date => Literal::Date(i32::try_from(x).ok()?),
            P::Time => Literal::Time(x),
            P::Timestamp => Literal::Timestamp(x),
            P::Timestamptz => Literal::TimestampTz(x),
            P::Decimal { .. } => Literal::Decimal(i128::from(x)),
            _ => return None,
        })
    };
    let text = |b: &[u8], lower: bool| -> Option<Literal> {
        match t {
            P::String => {
                let s = std::str::from_utf8(b).ok()?;
                match s.char_indices().nth(TRUNCATE) {
                    None => Some(Literal::String(s.to_string())),
                    Some((cut, _)) if lower => Some(Literal::String(s[..cut].to_string())),
                    Some(_) => None,
                }
            }
            P::Binary if b.len() <= TRUNCATE => Some(Literal::Binary(b.to_vec())),
            P::Binary if lower => Some(Literal::Binary(b[..TRUNCATE].to_vec())),
            P::Decimal { .. } if b.len() <= 16 => {
                // Big-endian two's complement.
                let fill = if b.first().is_some_and(|x| x & 0x80 != 0) { 0xff } else { 0 };
                let mut full = [fill; 16];
                full[16 - b.len()..].copy_from_slice(b);
                Some(Literal::Decimal(i128::from_be_bytes(full)))
            }
            _ => None,
        }
    };
    match stats {
        Statistics::Boolean(v) if *t == P::Boolean => (v.min_opt().map(|x| Literal::Boolean(*x)), v.max_opt().map(|x| Literal::Boolean(*x))),
        Statistics::Int32(v) => (v.min_opt().and_then(|x| int(i64::from(*x))), v.max_opt().and_then(|x| int(i64::from(*x)))),
        Statistics::Int64(v) => (v.min_opt().and_then(|x| int(*x)), v.max_opt().and_then(|x| int(*x))),
        Statistics::Float(v) if *t == P::Float => (v.min_opt().map(|x| Literal::Float(*x)), v.max_opt().map(|x| Literal::Float(*x))),
        Statistics::Double(v) if *t == P::Double => (v.min_opt().map(|x| Literal::Double(*x)), v.max_opt().map(|x| Literal::Double(*x))),
        Statistics::ByteArray(v) => (
            v.min_opt().and_then(|x| text(x.data(), true)),
            if stats.max_is_exact() { v.max_opt().and_then(|x| text(x.data(), false)) } else { None },
        ),
        Statistics::FixedLenByteArray(v) => (
            v.min_opt().and_then(|x| text(x.data(), true)),
            if stats.max_is_exact() { v.max_opt().and_then(|x| text(x.data(), false)) } else { None },
        ),
        _ => (None, None),
    }
}

/// A column's running bound over row groups: `None` once a row group with values had none.
struct Bound {
    value: Option<Literal>,
    known: bool,
}

impl Bound {
    fn merge(&mut self, v: Option<Literal>, keep: std::cmp::Ordering) {
        match (v, &self.value) {
            (None, _) => self.known = false,
            (Some(v), None) => self.value = Some(v),
            (Some(v), Some(old)) => {
                if compare_literals(&v, old) == Some(keep) {
                    self.value = Some(v);
                }
            }
        }
    }
}

/// Fills a data file's metrics from its Parquet bytes: for each top-level primitive column of
/// the table's schema, its size, value and null counts, and bounds. A file whose footer cannot
/// be read keeps no metrics (they are optional).
pub(crate) fn add_metrics(file: &mut DataFile, bytes: &bytes::Bytes, schema: &Schema) {
    let Ok(meta) = ParquetMetaDataReader::new().parse_and_finish(bytes) else { return };
    let mut lower: std::collections::BTreeMap<i32, Bound> = Default::default();
    let mut upper: std::collections::BTreeMap<i32, Bound> = Default::default();
    for group in meta.row_groups() {
        for column in group.columns() {
            let path = column.column_path().parts();
            if path.len() != 1 {
                continue;
            }
            let Some(field) = schema.fields.iter().find(|f| f.name.eq_ignore_ascii_case(&path[0])) else { continue };
            let Type::Primitive(t) = &field.field_type else { continue };
            *file.column_sizes.entry(field.id).or_default() += column.compressed_size();
            *file.value_counts.entry(field.id).or_default() += column.num_values();
            let stats = column.statistics();
            let nulls = stats.and_then(|s| s.null_count_opt());
            match nulls {
                Some(n) => *file.null_value_counts.entry(field.id).or_default() += n as i64,
                None => {
                    file.null_value_counts.insert(field.id, i64::MIN);
                }
            }
            let all_null = nulls.is_some_and(|n| n as i64 == column.num_values());
            if all_null {
                continue;
            }
            let (lo, hi) = stats.map(|s| bounds(s, t)).unwrap_or((None, None));
            lower.entry(field.id).or_insert(Bound { value: None, known: true }).merge(lo, std::cmp::Ordering::Less);
            upper.entry(field.id).or_insert(Bound { value: None, known: true }).merge(hi, std::cmp::Ordering::Greater);
        }
    }
    // A count some row group did not give is no count.
    file.null_value_counts.retain(|_, n| *n >= 0);
    for (id, b) in lower {
        if let (true, Some(v)) = (b.known, b.value) {
            file.lower_bounds.insert(id, v.to_bytes());
        }
    }
    for (id, b) in upper {
        if let (true, Some(v)) = (b.known, b.value) {
            file.upper_bounds.insert(id, v.to_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field};
    use datafusion::parquet::arrow::ArrowWriter;

    use super::*;

    #[test]
    fn metrics_come_from_the_footer() {
        let schema = Schema::from_json(&serde_json::json!({"type": "struct", "schema-id": 0, "fields": [
            {"id": 1, "name": "id", "required": false, "type": "long"},
            {"id": 2, "name": "name", "required": false, "type": "string"},
            {"id": 3, "name": "empty", "required": false, "type": "string"},
        ]}))
        .unwrap();
        let arrow = Arc::new(datafusion::arrow::datatypes::Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("empty", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            arrow.clone(),
            vec![
                Arc::new(Int64Array::from(vec![Some(7), None, Some(-3)])),
                Arc::new(StringArray::from(vec![Some("b"), Some("a"), Some("z very long name, longer than sixteen")])),
                Arc::new(StringArray::from(vec![None::<&str>, None, None])),
            ],
        )
        .unwrap();
        let mut writer = ArrowWriter::try_new(Vec::new(), arrow, None).unwrap();
        writer.write(&batch).unwrap();
        let bytes = bytes::Bytes::from(writer.into_inner().unwrap());
        let mut file = DataFile::parquet("s3://b/f.parquet".into(), Vec::new(), 3, bytes.len() as i64);
        add_metrics(&mut file, &bytes, &schema);
        assert_eq!(file.value_counts[&1], 3);
        assert_eq!(file.null_value_counts[&1], 1);
        assert_eq!(file.lower_bounds[&1], Literal::Long(-3).to_bytes());
        assert_eq!(file.upper_bounds[&1], Literal::Long(7).to_bytes());
        // "z very long name, …" is the greatest: cut, it would not bound, so no upper bound.
        assert_eq!(file.lower_bounds[&2], Literal::String("a".into()).to_bytes());
        assert!(!file.upper_bounds.contains_key(&2));
        // A column of nulls only has counts and no bounds.
        assert_eq!(file.null_value_counts[&3], 3);
        assert!(!file.lower_bounds.contains_key(&3));
    }
}
