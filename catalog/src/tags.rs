//! Tags on databases, tables and crawlers (Glue's TagResource, UntagResource, GetTags, and the
//! `Tags` of CreateDatabase and CreateCrawler). They are kept beside what they tag, under
//! `g/d/<db>`, `g/t/<db>\0<table>` and `g/c/<crawler>`, and deleted with it.

use std::collections::BTreeMap;

use storage::KvOp;

use crate::{Catalog, Result, decode, encode, validate};

/// Tags: key to value.
pub type Tags = BTreeMap<String, String>;

/// What can be tagged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tagged {
    Database(String),
    Table { database: String, table: String },
    Crawler(String),
}

pub(crate) fn database_tags_key(db: &str) -> Vec<u8> {
    format!("g/d/{db}").into_bytes()
}

pub(crate) fn table_tags_key(db: &str, table: &str) -> Vec<u8> {
    format!("g/t/{db}\0{table}").into_bytes()
}

/// The tags of every table of a database.
pub(crate) fn table_tags_prefix(db: &str) -> Vec<u8> {
    format!("g/t/{db}\0").into_bytes()
}

pub(crate) fn crawler_tags_key(name: &str) -> Vec<u8> {
    format!("g/c/{name}").into_bytes()
}

/// Checks tags against Glue's constraints: keys of 1 to 128 characters not starting with
/// `aws:`, values of at most 256, at most 50 tags.
pub fn check_tags(tags: &Tags) -> Result<()> {
    validate::tags(tags)
}

impl Catalog {
    /// The key of what a resource's tags are stored under, once the resource is known to exist
    /// (Glue's EntityNotFoundException otherwise).
    fn tags_key(&self, of: &Tagged) -> Result<Vec<u8>> {
        Ok(match of {
            Tagged::Database(db) => database_tags_key(&self.get_database(db)?.name),
            Tagged::Table { database, table } => {
                let t = self.get_table(database, table)?;
                table_tags_key(&t.database_name, &t.name)
            }
            Tagged::Crawler(name) => crawler_tags_key(&self.get_crawler(name)?.name),
        })
    }

    pub fn tags(&self, of: &Tagged) -> Result<Tags> {
        match self.tree.get(&self.tags_key(of)?)? {
            Some(v) => decode(&v),
            None => Ok(Tags::new()),
        }
    }

    /// Adds tags (a key that is there takes the new value).
    pub async fn tag(&self, of: &Tagged, add: Tags) -> Result<()> {
        let _writes = self.writes.lock().await;
        let key = self.tags_key(of)?;
        let mut tags: Tags = match self.tree.get(&key)? {
            Some(v) => decode(&v)?,
            None => Tags::new(),
        };
        tags.extend(add);
        check_tags(&tags)?;
        self.commit(vec![KvOp::Put(key, encode(&tags))]).await
    }

    /// Removes tags by key; keys that are not there are ignored.
    pub async fn untag(&self, of: &Tagged, keys: &[String]) -> Result<()> {
        let _writes = self.writes.lock().await;
        let key = self.tags_key(of)?;
        let mut tags: Tags = match self.tree.get(&key)? {
            Some(v) => decode(&v)?,
            None => return Ok(()),
        };
        for k in keys {
            tags.remove(k);
        }
        self.commit(vec![if tags.is_empty() { KvOp::Delete(key) } else { KvOp::Put(key, encode(&tags)) }]).await
    }
}
