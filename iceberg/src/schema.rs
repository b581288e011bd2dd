//! Iceberg schemas: types, fields with their ids, their JSON form in table metadata, and their
//! Arrow form (each field carrying its id as `PARQUET:field_id`, which Parquet writers store and
//! other engines match columns by).

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, TimeUnit};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value, json};

use crate::{Error, Result, invalid};

/// The Arrow field metadata key Parquet writers and readers keep a field's id under.
pub const FIELD_ID_KEY: &str = "PARQUET:field_id";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Primitive {
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Decimal { precision: u8, scale: u8 },
    Date,
    Time,
    Timestamp,
    Timestamptz,
    String,
    Uuid,
    Fixed(u64),
    Binary,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Type {
    Primitive(Primitive),
    Struct(Vec<NestedField>),
    List { element_id: i32, element_required: bool, element: Box<Type> },
    Map { key_id: i32, key: Box<Type>, value_id: i32, value_required: bool, value: Box<Type> },
}

#[derive(Debug, Clone, PartialEq)]
pub struct NestedField {
    pub id: i32,
    pub name: String,
    pub required: bool,
    pub field_type: Type,
    pub doc: Option<String>,
}

/// A table schema: a struct with an id.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub schema_id: i32,
    pub identifier_field_ids: Vec<i32>,
    pub fields: Vec<NestedField>,
}

impl Primitive {
    pub fn name(&self) -> String {
        match self {
            Primitive::Boolean => "boolean".into(),
            Primitive::Int => "int".into(),
            Primitive::Long => "long".into(),
            Primitive::Float => "float".into(),
            Primitive::Double => "double".into(),
            Primitive::Decimal { precision, scale } => format!("decimal({precision}, {scale})"),
            Primitive::Date => "date".into(),
            Primitive::Time => "time".into(),
            Primitive::Timestamp => "timestamp".into(),
            Primitive::Timestamptz => "timestamptz".into(),
            Primitive::String => "string".into(),
            Primitive::Uuid => "uuid".into(),
            Primitive::Fixed(n) => format!("fixed[{n}]"),
            Primitive::Binary => "binary".into(),
        }
    }

    pub fn parse(text: &str) -> Result<Primitive> {
        let t = text.trim();
        Ok(match t {
            "boolean" => Primitive::Boolean,
            "int" => Primitive::Int,
            "long" => Primitive::Long,
            "float" => Primitive::Float,
            "double" => Primitive::Double,
            "date" => Primitive::Date,
            "time" => Primitive::Time,
            "timestamp" => Primitive::Timestamp,
            "timestamptz" => Primitive::Timestamptz,
            "string" => Primitive::String,
            "uuid" => Primitive::Uuid,
            "binary" => Primitive::Binary,
            _ => {
                if let Some(inner) = t.strip_prefix("decimal(").and_then(|r| r.strip_suffix(')')) {
                    let (p, s) = inner.split_once(',').ok_or_else(|| invalid(format!("bad type {t}")))?;
                    let p = p.trim().parse().map_err(|_| invalid(format!("bad type {t}")))?;
                    let s = s.trim().parse().map_err(|_| invalid(format!("bad type {t}")))?;
                    Primitive::Decimal { precision: p, scale: s }
                } else if let Some(n) = t.strip_prefix("fixed[").and_then(|r| r.strip_suffix(']')) {
                    Primitive::Fixed(n.trim().parse().map_err(|_| invalid(format!("bad type {t}")))?)
                } else {
                    return Err(invalid(format!("unknown Iceberg type {t}")));
                }
            }
        })
    }
}

impl Type {
    pub fn to_json(&self) -> Value {
        match self {
            Type::Primitive(p) => Value::String(p.name()),
            Type::Struct(fields) => json!({"type": "struct", "fields": fields.iter().map(NestedField::to_json).collect::<Vec<_>>()}),
            Type::List { element_id, element_required, element } => {
                json!({"type": "list", "element-id": element_id, "element-required": element_required, "element": element.to_json()})
            }
            Type::Map { key_id, key, value_id, value_required, value } => json!({
                "type": "map", "key-id": key_id, "key": key.to_json(), "value-id": value_id, "value-required": value_required, "value": value.to_json()
            }),
        }
    }

    pub fn from_json(v: &Value) -> Result<Type> {
        if let Some(s) = v.as_str() {
            return Ok(Type::Primitive(Primitive::parse(s)?));
        }
        let o = v.as_object().ok_or_else(|| invalid(format!("a type is a string or an object, not {v}")))?;
        let int = |k: &str| o.get(k).and_then(Value::as_i64).map(|n| n as i32).ok_or_else(|| invalid(format!("type member {k} missing")));
        let boolean = |k: &str| o.get(k).and_then(Value::as_bool).unwrap_or(false);
        let sub = |k: &str| o.get(k).ok_or_else(|| invalid(format!("type member {k} missing"))).and_then(Type::from_json);
        match o.get("type").and_then(Value::as_str) {
            Some("struct") => {
                let fields = o.get("fields").and_then(Value::as_array).ok_or_else(|| invalid("a struct needs fields"))?;
                Ok(Type::Struct(fields.iter().map(NestedField::from_json).collect::<Result<_>>()?))
            }
            Some("list") => {
                Ok(Type::List { element_id: int("element-id")?, element_required: boolean("element-required"), element: Box::new(sub("element")?) })
            }
            Some("map") => Ok(Type::Map {
                key_id: int("key-id")?,
                key: Box::new(sub("key")?),
                value_id: int("value-id")?,
                value_required: boolean("value-required"),
                value: Box::new(sub("value")?),
            }),
            other => Err(invalid(format!("unknown nested type {other:?}"))),
        }
    }

    /// The type as Arrow reads it (Iceberg's timestamps are microseconds; `timestamptz` in UTC).
    pub fn to_arrow(&self) -> DataType {
        match self {
            Type::Primitive(p) => match p {
                Primitive::Boolean => DataType::Boolean,
                Primitive::Int => DataType::Int32,
                Primitive::Long => DataType::Int64,
                Primitive::Float => DataType::Float32,
                Primitive::Double => DataType::Float64,
                Primitive::Decimal { precision, scale } => DataType::Decimal128(*precision, *scale as i8),
                Primitive::Date => DataType::Date32,
                Primitive::Time => DataType::Time64(TimeUnit::Microsecond),
                Primitive::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
                Primitive::Timestamptz => DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
                Primitive::String => DataType::Utf8,
                Primitive::Uuid => DataType::FixedSizeBinary(16),
                Primitive::Fixed(n) => DataType::FixedSizeBinary(*n as i32),
                Primitive::Binary => DataType::Binary,
            },
            Type::Struct(fields) => DataType::Struct(Fields::from(fields.iter().map(NestedField::to_arrow).collect::<Vec<_>>())),
            Type::List { element_id, element_required, element } => {
                DataType::List(Arc::new(with_id(Field::new("element", element.to_arrow(), !element_required), *element_id)))
            }
            Type::Map { key_id, key, value_id, value_required, value } => {
                let entries = Field::new(
                    "key_value",
                    DataType::Struct(Fields::from(vec![
                        with_id(Field::new("key", key.to_arrow(), false), *key_id),
                        with_id(Field::new("value", value.to_arrow(), !value_required), *value_id),
                    ])),
                    false,
                );
                DataType::Map(Arc::new(entries), false)
            }
        }
    }

    /// The type as Hive (and so Glue's columns) names it.
    pub fn to_hive(&self) -> String {
        match self {
            Type::Primitive(p) => match p {
                Primitive::Boolean => "boolean".into(),
                Primitive::Int => "int".into(),
                Primitive::Long => "bigint".into(),
                Primitive::Float => "float".into(),
                Primitive::Double => "double".into(),
                Primitive::Decimal { precision, scale } => format!("decimal({precision},{scale})"),
                Primitive::Date => "date".into(),
                Primitive::Time | Primitive::String | Primitive::Uuid => "string".into(),
                Primitive::Timestamp | Primitive::Timestamptz => "timestamp".into(),
                Primitive::Fixed(_) | Primitive::Binary => "binary".into(),
            },
            Type::Struct(fields) => {
                format!("struct<{}>", fields.iter().map(|f| format!("{}:{}", f.name, f.field_type.to_hive())).collect::<Vec<_>>().join(","))
            }
            Type::List { element, .. } => format!("array<{}>", element.to_hive()),
            Type::Map { key, value, .. } => format!("map<{},{}>", key.to_hive(), value.to_hive()),
        }
    }
}

fn with_id(field: Field, id: i32) -> Field {
    field.with_metadata(HashMap::from([(FIELD_ID_KEY.to_string(), id.to_string())]))
}

impl NestedField {
    fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("id".into(), json!(self.id));
        o.insert("name".into(), json!(self.name));
        o.insert("required".into(), json!(self.required));
        o.insert("type".into(), self.field_type.to_json());
        if let Some(doc) = &self.doc {
            o.insert("doc".into(), json!(doc));
        }
        Value::Object(o)
    }

    fn from_json(v: &Value) -> Result<NestedField> {
        let id = v.get("id").and_then(Value::as_i64).ok_or_else(|| invalid("a field needs an id"))? as i32;
        let name = v.get("name").and_then(Value::as_str).ok_or_else(|| invalid("a field needs a name"))?.to_string();
        let required = v.get("required").and_then(Value::as_bool).unwrap_or(false);
        let field_type = Type::from_json(v.get("type").ok_or_else(|| invalid(format!("field {name} needs a type")))?)?;
        let doc = v.get("doc").and_then(Value::as_str).map(str::to_string);
        Ok(NestedField { id, name, required, field_type, doc })
    }

    pub fn to_arrow(&self) -> Field {
        with_id(Field::new(&self.name, self.field_type.to_arrow(), !self.required), self.id)
    }
}

impl Schema {
    pub fn to_json(&self) -> Value {
        json!({
            "type": "struct",
            "schema-id": self.schema_id,
            "identifier-field-ids": self.identifier_field_ids,
            "fields": self.fields.iter().map(NestedField::to_json).collect::<Vec<_>>(),
        })
    }

    pub fn from_json(v: &Value) -> Result<Schema> {
        let fields = v.get("fields").and_then(Value::as_array).ok_or_else(|| invalid("a schema needs fields"))?;
        Ok(Schema {
            schema_id: v.get("schema-id").and_then(Value::as_i64).unwrap_or(0) as i32,
            identifier_field_ids: v
                .get("identifier-field-ids")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_i64).map(|n| n as i32).collect())
                .unwrap_or_default(),
            fields: fields.iter().map(NestedField::from_json).collect::<Result<_>>()?,
        })
    }

    pub fn to_arrow(&self) -> arrow_schema::Schema {
        arrow_schema::Schema::new(self.fields.iter().map(NestedField::to_arrow).collect::<Vec<_>>())
    }

    /// A top-level field by id, or by name (without regard to case, as Athena names columns).
    pub fn field(&self, id: i32) -> Option<&NestedField> {
        self.fields.iter().find(|f| f.id == id)
    }

    pub fn field_by_name(&self, name: &str) -> Option<&NestedField> {
        self.fields.iter().find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The highest field id, nested ones included.
    pub fn highest_field_id(&self) -> i32 {
        fn of(t: &Type) -> i32 {
            match t {
                Type::Primitive(_) => 0,
                Type::Struct(fields) => fields.iter().map(|f| f.id.max(of(&f.field_type))).max().unwrap_or(0),
                Type::List { element_id, element, .. } => (*element_id).max(of(element)),
                Type::Map { key_id, key, value_id, value, .. } => (*key_id).max(*value_id).max(of(key)).max(of(value)),
            }
        }
        of(&Type::Struct(self.fields.clone()))
    }

    /// A schema for Arrow fields, with fresh ids as Iceberg assigns them: a struct's fields first,
    /// then what is inside each, from `1`.
    pub fn from_arrow(fields: &[Field], schema_id: i32) -> Result<Schema> {
        let mut next = 0;
        let fields = fresh_struct(fields, &mut next)?;
        Ok(Schema { schema_id, identifier_field_ids: Vec::new(), fields })
    }
}

fn fresh_struct(fields: &[impl AsRef<Field>], next: &mut i32) -> Result<Vec<NestedField>> {
    let ids: Vec<i32> = fields
        .iter()
        .map(|_| {
            *next += 1;
            *next
        })
        .collect();
    fields
        .iter()
        .zip(ids)
        .map(|(f, id)| {
            let f = f.as_ref();
            Ok(NestedField { id, name: f.name().to_lowercase(), required: !f.is_nullable(), field_type: fresh_type(f.data_type(), next)?, doc: None })
        })
        .collect()
}

fn fresh_type(t: &DataType, next: &mut i32) -> Result<Type> {
    let p = |p: Primitive| Ok(Type::Primitive(p));
    match t {
        DataType::Boolean => p(Primitive::Boolean),
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::UInt8 | DataType::UInt16 => p(Primitive::Int),
        DataType::Int64 | DataType::UInt32 => p(Primitive::Long),
        DataType::Float16 | DataType::Float32 => p(Primitive::Float),
        DataType::Float64 => p(Primitive::Double),
        DataType::Decimal32(pr, s) | DataType::Decimal64(pr, s) | DataType::Decimal128(pr, s) if *pr <= 38 => {
            p(Primitive::Decimal { precision: *pr, scale: (*s).max(0) as u8 })
        }
        DataType::Date32 | DataType::Date64 => p(Primitive::Date),
        DataType::Time32(_) | DataType::Time64(_) => p(Primitive::Time),
        DataType::Timestamp(_, None) => p(Primitive::Timestamp),
        DataType::Timestamp(_, Some(_)) => p(Primitive::Timestamptz),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => p(Primitive::String),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => p(Primitive::Binary),
        DataType::FixedSizeBinary(n) => p(Primitive::Fixed(*n as u64)),
        DataType::Struct(fields) => Ok(Type::Struct(fresh_struct(fields, next)?)),
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            *next += 1;
            let element_id = *next;
            Ok(Type::List { element_id, element_required: !f.is_nullable(), element: Box::new(fresh_type(f.data_type(), next)?) })
        }
        DataType::Map(entries, _) => {
            let DataType::Struct(kv) = entries.data_type() else { return Err(invalid("a map's entries must be a struct")) };
            *next += 2;
            let (key_id, value_id) = (*next - 1, *next);
            Ok(Type::Map {
                key_id,
                key: Box::new(fresh_type(kv[0].data_type(), next)?),
                value_id,
                value_required: !kv[1].is_nullable(),
                value: Box::new(fresh_type(kv[1].data_type(), next)?),
            })
        }
        other => Err(Error::Unsupported(format!("Iceberg tables cannot hold {other}"))),
    }
}

impl Serialize for Schema {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Schema {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Schema::from_json(&Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_fresh_ids() {
        let arrow = vec![
            Field::new("id", DataType::Int64, false),
            Field::new("Tags", DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))), true),
            Field::new(
                "m",
                DataType::Map(
                    Arc::new(Field::new(
                        "entries",
                        DataType::Struct(Fields::from(vec![Field::new("k", DataType::Utf8, false), Field::new("v", DataType::Float64, true)])),
                        false,
                    )),
                    false,
                ),
                true,
            ),
            Field::new("price", DataType::Decimal128(10, 2), true),
        ];
        let schema = Schema::from_arrow(&arrow, 0).unwrap();
        let ids: Vec<(i32, &str)> = schema.fields.iter().map(|f| (f.id, f.name.as_str())).collect();
        assert_eq!(ids, [(1, "id"), (2, "tags"), (3, "m"), (4, "price")]);
        assert!(matches!(schema.fields[1].field_type, Type::List { element_id: 5, .. }));
        assert!(matches!(schema.fields[2].field_type, Type::Map { key_id: 6, value_id: 7, .. }));
        assert_eq!(schema.highest_field_id(), 7);
        let text = serde_json::to_string(&schema).unwrap();
        assert!(text.contains(r#""type":"decimal(10, 2)""#), "{text}");
        let back: Schema = serde_json::from_str(&text).unwrap();
        assert_eq!(back, schema);
        let a = schema.to_arrow();
        assert_eq!(a.field(0).metadata()[FIELD_ID_KEY], "1");
        assert_eq!(schema.fields[2].field_type.to_hive(), "map<string,double>");
        assert!(Primitive::parse("decimal(x, 1)").is_err());
    }
}
