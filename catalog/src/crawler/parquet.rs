//! Parquet: the schema and row count from the footer alone, read through `object_store`.

use std::sync::Arc;

use arrow_schema::{DataType, Field, TimeUnit};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::parquet_to_arrow_schema;
use parquet::file::metadata::ParquetMetaDataReader;

use super::infer::{Compression, FileSchema, Ty};

/// The Hive type Glue writes for an Arrow (Parquet) type.
pub fn hive_type(t: &DataType) -> String {
    match t {
        DataType::Boolean => "boolean".into(),
        DataType::Int8 => "tinyint".into(),
        DataType::Int16 => "smallint".into(),
        DataType::Int32 | DataType::UInt8 | DataType::UInt16 => "int".into(),
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => "bigint".into(),
        DataType::Float16 | DataType::Float32 => "float".into(),
        DataType::Float64 => "double".into(),
        DataType::Decimal32(p, s) | DataType::Decimal64(p, s) | DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => {
            format!("decimal({p},{s})")
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => "binary".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(_, _) => "timestamp".into(),
        DataType::Time32(_) | DataType::Time64(_) => "string".into(),
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) | DataType::ListView(f) | DataType::LargeListView(f) => {
            format!("array<{}>", hive_type(f.data_type()))
        }
        DataType::Struct(fields) => {
            let inner: Vec<String> = fields.iter().map(|f| format!("{}:{}", f.name().to_lowercase(), hive_type(f.data_type()))).collect();
            format!("struct<{}>", inner.join(","))
        }
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => format!("map<{},{}>", hive_type(kv[0].data_type()), hive_type(kv[1].data_type())),
            _ => "string".into(),
        },
        DataType::Dictionary(_, v) => hive_type(v),
        DataType::Duration(TimeUnit::Second | TimeUnit::Millisecond | TimeUnit::Microsecond | TimeUnit::Nanosecond) => "bigint".into(),
        _ => "string".into(),
    }
}

fn column(f: &Field) -> (String, Ty) {
    (f.name().to_lowercase(), Ty::Hive(hive_type(f.data_type())))
}

/// Reads a Parquet file's footer (its last eight bytes give the footer's length), nothing else.
/// A file that is not Parquet, or is cut short, is an inner error; a read that fails is the outer
/// one (the object may be readable next time).
pub async fn infer_parquet(store: Arc<dyn ObjectStore>, path: &Path, size: u64) -> Result<Result<FileSchema, String>, object_store::Error> {
    if size < 12 {
        return Ok(Err("too small to be Parquet".into()));
    }
    let tail = store.get_range(path, size - 8..size).await?;
    if &tail[4..] != b"PAR1" {
        return Ok(Err("not a Parquet file: no PAR1 magic at the end".into()));
    }
    let len = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as u64;
    if len + 12 > size {
        return Ok(Err(format!("a truncated Parquet file: its footer says {len} bytes, the file has {size}")));
    }
    let footer = store.get_range(path, size - 8 - len..size - 8).await?;
    Ok(schema_of_footer(&footer, size))
}

fn schema_of_footer(footer: &[u8], size: u64) -> Result<FileSchema, String> {
    let metadata = ParquetMetaDataReader::decode_metadata(footer).map_err(|e| format!("a corrupt Parquet footer: {e}"))?;
    let file = metadata.file_metadata();
    let schema = parquet_to_arrow_schema(file.schema_descr(), file.key_value_metadata()).map_err(|e| format!("an unreadable Parquet schema: {e}"))?;
    let records = file.num_rows().max(0) as u64;
    let columns = schema.fields().iter().map(|f| column(f)).collect();
    Ok(FileSchema { classification: "parquet".into(), compression: Compression::None, columns, csv: None, custom: None, records, size })
}
