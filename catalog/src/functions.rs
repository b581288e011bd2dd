//! User-defined functions (Glue's Create, Get, GetUserDefinedFunctions, Update and Delete), as
//! the Hive and Spark metastore clients list them: kept in Glue's shape under `f/<db>\0<name>`
//! and deleted with their database. Athena runs none of them; they are the catalog's record.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use storage::KvOp;

use crate::model::{self, Timestamp};
use crate::{Catalog, Error, Result, db_key, decode, encode, matches_expression, validate};

/// A function as Glue stores it; members Minerva does not read are kept.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserDefinedFunction {
    #[serde(default)]
    pub function_name: String,
    #[serde(default)]
    pub database_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

pub(crate) fn function_prefix(db: &str) -> Vec<u8> {
    format!("f/{db}\0").into_bytes()
}

fn function_key(db: &str, name: &str) -> Vec<u8> {
    format!("f/{db}\0{name}").into_bytes()
}

fn check(f: &mut UserDefinedFunction) -> Result<()> {
    f.function_name = validate::normalize_name("function", &f.function_name)?;
    if f.class_name.as_deref().is_none_or(str::is_empty) {
        return Err(Error::InvalidInput("a function needs its ClassName".into()));
    }
    if let Some(kind) = f.extra.get("FunctionType").and_then(Value::as_str)
        && !["REGULAR_FUNCTION", "AGGREGATE_FUNCTION", "STORED_PROCEDURE"].contains(&kind)
    {
        return Err(Error::InvalidInput(format!("{kind} is not a function type (REGULAR_FUNCTION, AGGREGATE_FUNCTION, STORED_PROCEDURE)")));
    }
    Ok(())
}

impl Catalog {
    pub async fn create_function(&self, db: &str, mut f: UserDefinedFunction) -> Result<()> {
        let db = self.get_database(db)?.name;
        check(&mut f)?;
        f.database_name = db.clone();
        f.create_time = Some(model::now());
        let _writes = self.writes.lock().await;
        if self.tree.get(&db_key(&db))?.is_none() {
            return Err(Error::NotFound(format!("Database {db} not found.")));
        }
        let key = function_key(&db, &f.function_name);
        if self.tree.get(&key)?.is_some() {
            return Err(Error::AlreadyExists(format!("Function {} already exists.", f.function_name)));
        }
        self.commit(vec![KvOp::Put(key, encode(&f))]).await
    }

    pub fn get_function(&self, db: &str, name: &str) -> Result<UserDefinedFunction> {
        let db = self.get_database(db)?.name;
        match self.tree.get(&function_key(&db, &name.to_lowercase()))? {
            Some(v) => decode(&v),
            None => Err(Error::NotFound(format!("Function {name} not found."))),
        }
    }

    /// Functions whose names match a Glue pattern, in one database or all, of one type or any.
    pub fn list_functions(&self, db: Option<&str>, pattern: &str, kind: Option<&str>) -> Result<Vec<UserDefinedFunction>> {
        let prefix = match db {
            Some(db) => function_prefix(&self.get_database(db)?.name),
            None => b"f/".to_vec(),
        };
        let mut out = Vec::new();
        for entry in self.tree.scan_prefix(&prefix) {
            let (_, v) = entry?;
            let f: UserDefinedFunction = decode(&v)?;
            let of_kind = kind.is_none_or(|k| f.extra.get("FunctionType").and_then(Value::as_str).unwrap_or("REGULAR_FUNCTION") == k);
            if of_kind && matches_expression(pattern, &f.function_name) {
                out.push(f);
            }
        }
        Ok(out)
    }

    /// Replaces a function's definition (renaming it if the input names another).
    pub async fn update_function(&self, db: &str, name: &str, mut f: UserDefinedFunction) -> Result<()> {
        let _writes = self.writes.lock().await;
        let old = self.get_function(db, name)?;
        check(&mut f)?;
        f.database_name = old.database_name.clone();
        f.create_time = old.create_time;
        let mut ops = vec![KvOp::Delete(function_key(&old.database_name, &old.function_name))];
        let key = function_key(&old.database_name, &f.function_name);
        if f.function_name != old.function_name && self.tree.get(&key)?.is_some() {
            return Err(Error::AlreadyExists(format!("Function {} already exists.", f.function_name)));
        }
        ops.push(KvOp::Put(key, encode(&f)));
        self.commit(ops).await
    }

    pub async fn delete_function(&self, db: &str, name: &str) -> Result<()> {
        let _writes = self.writes.lock().await;
        let f = self.get_function(db, name)?;
        self.commit(vec![KvOp::Delete(function_key(&f.database_name, &f.function_name))]).await
    }
}
