//! Glue's input constraints: name patterns and the lengths of descriptions, locations, types,
//! comments and parameters. Input that breaks one is `InvalidInput`, and nothing is written.

use crate::model::{Column, Database, Parameters, Partition, StorageDescriptor, Table};
use crate::{Error, Result};

const NAME_MAX: usize = 255;
const DESCRIPTION_MAX: usize = 2048;
const LOCATION_MAX: usize = 2056;
const COLUMN_TYPE_MAX: usize = 131_072;
const COMMENT_MAX: usize = 255;
const PARAMETER_KEY_MAX: usize = 255;
const PARAMETER_VALUE_MAX: usize = 512_000;
const PARTITION_VALUE_MAX: usize = 1024;
/// The most tags one resource may have.
pub const MAX_TAGS: usize = 50;

fn invalid(msg: String) -> Error {
    Error::InvalidInput(msg)
}

/// Glue's single-line string pattern: printable characters and tabs, no line breaks.
fn single_line(what: &str, value: &str) -> Result<()> {
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(invalid(format!("{what} {value:?} contains control characters")));
    }
    Ok(())
}

fn at_most(what: &str, value: &str, max: usize) -> Result<()> {
    if value.chars().count() > max {
        return Err(invalid(format!("{what} must be at most {max} characters long")));
    }
    Ok(())
}

/// Checks a database, table or column name against Glue's rules and lowercases it.
pub fn normalize_name(what: &str, name: &str) -> Result<String> {
    let name = name.trim_matches('`');
    if name.is_empty() || name.chars().count() > NAME_MAX {
        return Err(invalid(format!("{what} name must be between 1 and {NAME_MAX} characters long")));
    }
    single_line(&format!("{what} name"), name)?;
    Ok(name.to_lowercase())
}

fn parameters(what: &str, params: &Parameters) -> Result<()> {
    for (k, v) in params {
        if k.is_empty() || k.chars().count() > PARAMETER_KEY_MAX {
            return Err(invalid(format!("{what} parameter keys must be between 1 and {PARAMETER_KEY_MAX} characters long")));
        }
        at_most(&format!("{what} parameter {k}"), v, PARAMETER_VALUE_MAX)?;
    }
    Ok(())
}

fn column(c: &mut Column) -> Result<()> {
    c.name = normalize_name("column", &c.name)?;
    if let Some(t) = &c.r#type {
        at_most(&format!("the type of column {}", c.name), t, COLUMN_TYPE_MAX)?;
        single_line("column type", t)?;
    }
    if let Some(comment) = &c.comment {
        at_most(&format!("the comment of column {}", c.name), comment, COMMENT_MAX)?;
    }
    parameters("column", &c.parameters)
}

fn storage_descriptor(sd: &mut StorageDescriptor) -> Result<()> {
    for c in &mut sd.columns {
        column(c)?;
    }
    if let Some(l) = &sd.location {
        at_most("the location", l, LOCATION_MAX)?;
    }
    parameters("storage descriptor", &sd.parameters)?;
    if let Some(serde) = &sd.serde_info {
        parameters("SerDe", &serde.parameters)?;
    }
    Ok(())
}

pub fn database(db: &mut Database) -> Result<()> {
    db.name = normalize_name("database", &db.name)?;
    if let Some(d) = &db.description {
        at_most("the description", d, DESCRIPTION_MAX)?;
    }
    if let Some(l) = &db.location_uri {
        at_most("the location URI", l, 1024)?;
    }
    parameters("database", &db.parameters)
}

pub fn table(t: &mut Table) -> Result<()> {
    t.name = normalize_name("table", &t.name)?;
    if let Some(d) = &t.description {
        at_most("the description", d, DESCRIPTION_MAX)?;
    }
    if let Some(sd) = &mut t.storage_descriptor {
        storage_descriptor(sd)?;
    }
    for c in &mut t.partition_keys {
        column(c)?;
    }
    let mut seen = std::collections::HashSet::new();
    for c in t.columns().iter().chain(&t.partition_keys) {
        if !seen.insert(c.name.clone()) {
            return Err(invalid(format!("column {} is named twice", c.name)));
        }
    }
    parameters("table", &t.parameters)
}

pub fn partition(p: &mut Partition, keys: usize) -> Result<()> {
    if p.values.len() != keys {
        return Err(invalid(format!("the partition has {} values but the table has {keys} partition keys", p.values.len())));
    }
    for v in &p.values {
        at_most("a partition value", v, PARTITION_VALUE_MAX)?;
    }
    if let Some(sd) = &mut p.storage_descriptor {
        storage_descriptor(sd)?;
    }
    parameters("partition", &p.parameters)
}

/// Tags, as Glue takes them: at most 50, keys of 1 to 128 characters that do not start with
/// `aws:`, values of at most 256.
pub fn tags(tags: &std::collections::BTreeMap<String, String>) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(invalid(format!("a resource can have at most {MAX_TAGS} tags, not {}", tags.len())));
    }
    for (key, value) in tags {
        if key.is_empty() || key.chars().count() > 128 {
            return Err(invalid(format!("the tag key {key:?} must be between 1 and 128 characters long")));
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(invalid(format!("the tag key {key} is reserved: keys may not start with aws:")));
        }
        at_most("a tag value", value, 256)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_sizes() {
        assert_eq!(normalize_name("table", "`Orders`").unwrap(), "orders");
        for bad in ["", "a\nb", &"x".repeat(256)] {
            assert!(normalize_name("table", bad).is_err(), "{bad:?}");
        }
        let mut t = Table { name: "t".into(), description: Some("d".repeat(2049)), ..Default::default() };
        assert!(table(&mut t).is_err());
        let mut t = Table { name: "t".into(), parameters: [("k".to_string(), "v".repeat(512_001))].into(), ..Default::default() };
        assert!(table(&mut t).is_err());
        let col = |n: &str| Column { name: n.into(), r#type: Some("int".into()), ..Default::default() };
        let mut t = Table {
            name: "t".into(),
            storage_descriptor: Some(StorageDescriptor { columns: vec![col("A"), col("a")], ..Default::default() }),
            ..Default::default()
        };
        assert!(table(&mut t).is_err(), "columns differing only in case collide");
    }
}
