//! A query's DataFusion session, and planning SQL the Athena way.
//!
//! Every session shares the engine's object stores, spill files and caches, and gets its own
//! memory pool (within the budget of all queries), a registry that counts what it reads, the
//! Glue catalog of the account it runs for, and the S3 permissions of its caller ([`Acting`]).
//! Views are planned by the same means, one session per view, nested at most [`MAX_VIEW_DEPTH`].

use std::sync::Arc;

use catalog::Catalog;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, SchemaError};
use datafusion::dataframe::DataFrame;
use datafusion::execution::context::{SQLOptions, SessionConfig, SessionContext};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::{Expr, LogicalPlan, cast};
use datafusion::sql::parser::{DFParserBuilder, Statement as DfStatement};
use storage::Store;

use crate::budget::{Budget, CountingRegistry, QueryPool, Scanned};
use crate::cancel::{CancelRule, CancelToken};
use crate::dialect::AthenaDialect;
use crate::error::{Error, Result};
use crate::sql::{self, Plan};
use crate::tables::{CATALOG_NAME, GlueCatalogProvider, LakeRegistry, ViewPlanner};

/// Views nest at most this deep: a view defined through itself must fail, not recurse forever.
const MAX_VIEW_DEPTH: usize = 32;

/// Queries with EXCEPT ALL or INTERSECT ALL one statement may hold.
const MAX_MULTISET_EXPANSIONS: usize = 64;

/// What every session is built from: the engine's shared runtime parts and limits.
#[derive(Debug)]
pub(crate) struct Sessions {
    pub store: Store,
    /// Object stores, the disk manager (spill files) and caches, shared by every query.
    pub shared: Arc<RuntimeEnv>,
    /// The filesystem spill files go to, when they go to a directory of ours: they may not eat
    /// into the reserve the index needs (see [`storage::Space`]).
    pub spill_space: Option<storage::Space>,
    /// What all running queries may hold together.
    pub budget: Arc<Budget>,
    /// What one query may hold.
    pub query_memory_limit: usize,
    /// DataFusion's target partitions.
    pub threads: usize,
}

/// Whose S3 permissions a session touches the lake with. Kept in the session's config, so that
/// what writes and lists outside DataFusion's object stores (result files, manifests, the checks
/// before a CTAS) checks the same permissions its scans and sinks are checked against.
#[derive(Debug, Clone, Default)]
pub(crate) struct Acting(pub Option<Arc<dyn storage::Permissions>>);

impl Acting {
    /// The permissions of the session a configuration belongs to.
    pub(crate) fn of(config: &SessionConfig) -> Acting {
        config.get_extension::<Acting>().map(|a| (*a).clone()).unwrap_or_default()
    }

    /// Checks an action on the lake; a refusal is Athena's "Permission denied on S3 path".
    pub(crate) fn check(&self, action: storage::Action, bucket: &str, key: Option<&str>) -> Result<()> {
        match &self.0 {
            Some(p) => Ok(storage::authorize(p.as_ref(), action, bucket, key)?),
            None => Ok(()),
        }
    }
}

/// What a session is for: whose catalog and permissions, which default database, what stops it
/// and what counts its reads.
pub(crate) struct SessionFor<'a> {
    pub catalog: &'a Catalog,
    pub acting: Acting,
    pub database: Option<&'a str>,
    /// With a token, every operator of its plans checks it (see [`crate::cancel`]).
    pub cancel: Option<CancelToken>,
    pub scanned: Arc<Scanned>,
    /// Other names of the same catalog: the account's registered `GLUE` data catalogs of its own
    /// Glue catalog, which SQL may name (`lake.db.table`).
    pub aliases: Vec<String>,
}

impl Sessions {
    /// A session over `for.catalog`, touching the lake with its caller's permissions.
    pub(crate) fn session(self: &Arc<Self>, of: SessionFor<'_>) -> Result<SessionContext> {
        let shared = &self.shared;
        // Spill files (of every query at once) may take what is spilled now and the room left.
        if let Some(room) = self.spill_space.as_ref().and_then(storage::Space::room) {
            let disks = &shared.disk_manager;
            disks.set_max_temp_directory_size(disks.used_disk_space().saturating_add(room).max(1))?;
        }
        let runtime = Arc::new(RuntimeEnv {
            memory_pool: Arc::new(datafusion::execution::memory_pool::TrackConsumersPool::new(
                QueryPool::new(self.query_memory_limit, self.budget.clone()),
                std::num::NonZeroUsize::new(4).expect("nonzero"),
            )),
            disk_manager: shared.disk_manager.clone(),
            cache_manager: shared.cache_manager.clone(),
            object_store_registry: Arc::new(CountingRegistry {
                inner: match &of.acting.0 {
                    Some(p) => Arc::new(LakeRegistry::acting_for(self.store.clone(), p.clone())),
                    None => shared.object_store_registry.clone(),
                },
                scanned: of.scanned.clone(),
            }),
        });
        let schema = of.database.map(|d| d.trim_matches('`').trim_matches('"').to_lowercase()).unwrap_or_else(|| "default".into());
        let mut config = SessionConfig::from(crate::tuning::options().clone())
            .with_extension(Arc::new(of.acting.clone()))
            .with_default_catalog_and_schema(CATALOG_NAME, schema)
            .with_create_default_catalog_and_schema(false)
            .with_information_schema(false)
            .with_target_partitions(self.threads.max(1));
        // Errors say where in the statement they are (`line 1:8:`), as Athena's do.
        config.options_mut().sql_parser.collect_spans = true;
        // A sort keeps this much back for merging what it spilled; DataFusion's 10 MB would
        // leave a small query budget nothing to sort with.
        config.options_mut().execution.sort_spill_reservation_bytes = (self.query_memory_limit / 16).clamp(256 << 10, 10 << 20);
        let mut state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            .with_type_planner(Arc::new(crate::types::TrinoTypes))
            .with_analyzer_rule(Arc::new(crate::lateral::LateralUnnest))
            .with_physical_optimizer_rule(Arc::new(crate::coalesce::CoalesceRule));
        if let Some(token) = of.cancel {
            state = state.with_physical_optimizer_rule(Arc::new(CancelRule::new(token, of.scanned)));
        }
        let ctx = SessionContext::new_with_state(state.build());
        let views = Arc::new(Views { sessions: self.clone(), catalog: of.catalog.clone(), acting: of.acting });
        let provider = Arc::new(GlueCatalogProvider::new(of.catalog.clone(), self.store.clone()).with_views(views));
        for alias in &of.aliases {
            ctx.register_catalog(alias.to_lowercase(), provider.clone());
        }
        ctx.register_catalog(CATALOG_NAME, provider);
        crate::functions::register(&ctx)?;
        Ok(ctx)
    }
}

/// `A EXCEPT ALL B` and `A INTERSECT ALL B` in a query's set operations, as Trino answers them
/// (multisets: `{1, 1, 2} EXCEPT ALL {1}` is `{1, 2}`), where DataFusion answers with sets: each
/// row numbered among its equals on both sides, the distinct operation over the numbered rows,
/// and the numbers dropped. The left side is planned alone first, for its columns' names.
fn expand_multisets<'a>(
    ctx: &'a SessionContext,
    with: &'a str,
    body: &'a mut datafusion::sql::sqlparser::ast::SetExpr,
) -> futures::future::BoxFuture<'a, Result<()>> {
    use datafusion::sql::sqlparser::ast::{SetExpr, SetOperator, SetQuantifier};
    Box::pin(async move {
        let SetExpr::SetOperation { op, set_quantifier, left, right } = body else { return Ok(()) };
        expand_multisets(ctx, with, left).await?;
        expand_multisets(ctx, with, right).await?;
        if !matches!(op, SetOperator::Except | SetOperator::Intersect) || *set_quantifier != SetQuantifier::All {
            return Ok(());
        }
        // Planned with the statement's WITH, which the left side may read.
        let names: Vec<String> = plan_query(ctx, &format!("{with}{left}")).await?.schema().fields().iter().map(|f| f.name().clone()).collect();
        let numbered: Vec<String> = (1..=names.len()).map(|i| format!("__c{i}")).collect();
        let columns = numbered.join(", ");
        let side = |q: &SetExpr, alias: &str| {
            format!("SELECT {alias}.*, row_number() OVER (PARTITION BY {columns}) AS __n FROM ({q}) AS {alias}({columns})")
        };
        let outputs: Vec<String> = numbered.iter().zip(&names).map(|(c, n)| format!("{c} AS \"{}\"", n.replace('"', "\"\""))).collect();
        let sql = format!(
            "SELECT {} FROM (SELECT {columns}, __n FROM ({}) AS __l {op} SELECT {columns}, __n FROM ({}) AS __r) AS __m",
            outputs.join(", "),
            side(left, "__a"),
            side(right, "__b"),
        );
        let parsed = datafusion::sql::sqlparser::parser::Parser::new(&AthenaDialect)
            .try_with_sql(&sql)
            .and_then(|mut p| p.parse_query())
            .map_err(|e| Error::Internal(format!("rewriting {op} ALL: {e}")))?;
        *body = SetExpr::Query(parsed);
        Ok(())
    })
}

/// Time travel by timestamp: the expression of each `"t$asof=<expression>"` name (see
/// `rewrite::time_travel`) evaluated to milliseconds since the epoch, `"t$asof_ms=<ms>"`; a
/// timestamp without a zone is read as UTC.
async fn resolve_as_of(ctx: &SessionContext, statement: &mut datafusion::sql::sqlparser::ast::Statement) -> Result<()> {
    use datafusion::sql::sqlparser::ast::{ObjectNamePart, visit_relations_mut};
    let mut found = std::collections::BTreeSet::new();
    let _ = visit_relations_mut(statement, |name| {
        if let Some(ObjectNamePart::Identifier(id)) = name.0.last()
            && let Some((_, e)) = id.value.split_once("$asof=")
        {
            found.insert(e.to_string());
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    if found.is_empty() {
        return Ok(());
    }
    let mut millis = std::collections::HashMap::new();
    for hex in found {
        let bytes: Option<Vec<u8>> = (0..hex.len()).step_by(2).map(|i| hex.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect();
        let e = bytes.and_then(|b| String::from_utf8(b).ok()).ok_or_else(|| Error::Internal(format!("a time travel name holds {hex}")))?;
        let batches = Box::pin(plan_query(ctx, &format!("SELECT {e}"))).await?.collect().await?;
        let value = batches
            .iter()
            .find(|b| b.num_rows() > 0)
            .map(|b| datafusion::common::ScalarValue::try_from_array(b.column(0), 0))
            .transpose()?
            .unwrap_or(datafusion::common::ScalarValue::Null);
        use datafusion::common::ScalarValue as S;
        let ms = match value {
            S::TimestampSecond(Some(v), _) => v * 1000,
            S::TimestampMillisecond(Some(v), _) => v,
            S::TimestampMicrosecond(Some(v), _) => v.div_euclid(1000),
            S::TimestampNanosecond(Some(v), _) => v.div_euclid(1_000_000),
            S::Date32(Some(d)) => i64::from(d) * 86_400_000,
            other => return Err(Error::Syntax(format!("line 1:1: FOR TIMESTAMP AS OF needs a timestamp, not {other} ({e})"))),
        };
        millis.insert(hex, ms);
    }
    let _ = visit_relations_mut(statement, |name| {
        if let Some(ObjectNamePart::Identifier(id)) = name.0.last_mut()
            && let Some((table, e)) = id.value.split_once("$asof=")
            && let Some(ms) = millis.get(e)
        {
            id.value = format!("{table}$asof_ms={ms}");
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    Ok(())
}

/// Plans a query the Athena way: `_colN` names, no DDL or DML through DataFusion, and no
/// unsigned types in the output (Athena has none).
pub(crate) async fn plan_query(ctx: &SessionContext, sql: &str) -> Result<DataFrame> {
    let state = ctx.state();
    let mut statements =
        DFParserBuilder::new(sql).with_dialect(&AthenaDialect).build()?.parse_statements().map_err(|e| crate::failure::parse_error(sql, e))?;
    if statements.len() != 1 {
        return Err(Error::Syntax("line 1:1: only one statement may run at a time".into()));
    }
    let mut statement = statements.pop_front().expect("one statement");
    if let DfStatement::Statement(s) = &mut statement {
        resolve_as_of(ctx, s).await?;
        // Innermost first, so that the sides planned for their names hold none left.
        for _ in 0..MAX_MULTISET_EXPANSIONS {
            let Some(crate::rewrite::Multiset { place, with, mut body, nested }) = crate::rewrite::find_multiset(s) else { break };
            // Its sides are planned on their own: a subquery that reads its outer query's
            // columns cannot be.
            expand_multisets(ctx, &with, &mut body).await.map_err(|e| match e {
                Error::DataFusion(d)
                    if nested && matches!(d.find_root(), DataFusionError::SchemaError(e, _) if matches!(**e, SchemaError::FieldNotFound { .. })) =>
                {
                    Error::InvalidInput("EXCEPT ALL or INTERSECT ALL in a subquery that reads its outer query's columns is not supported".into())
                }
                e => e,
            })?;
            crate::rewrite::replace_query_body(s, place, body);
        }
        crate::rewrite::rewrite(s)?;
        sql::name_unnamed_columns(s);
    }
    // Where each table named is, for an error about its schema (see `failure::place`).
    let mut named = Vec::new();
    if let DfStatement::Statement(s) = &statement {
        let _ = datafusion::sql::sqlparser::ast::visit_relations(s.as_ref(), |name| {
            named.push(crate::failure::Named::of(name));
            std::ops::ControlFlow::<()>::Continue(())
        });
    }
    let plan = state.statement_to_plan(statement).await.map_err(|e| crate::failure::place(e, &named))?;
    SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false).verify_plan(&plan)?;
    let df = ctx.execute_logical_plan(plan).await?;
    let needs_cast = df.schema().fields().iter().any(|f| signed_type(f.data_type()).is_some());
    if !needs_cast {
        return Ok(df);
    }
    let exprs: Vec<Expr> = df
        .schema()
        .iter()
        .map(|(qualifier, field)| {
            let column = Expr::Column(datafusion::common::Column::new(qualifier.cloned(), field.name()));
            match signed_type(field.data_type()) {
                Some(t) => cast(column, t).alias(field.name()),
                None => column,
            }
        })
        .collect();
    Ok(df.select(exprs)?)
}

/// Athena has no unsigned integers: each maps to the next signed type that holds it.
fn signed_type(t: &DataType) -> Option<DataType> {
    match t {
        DataType::UInt8 => Some(DataType::Int16),
        DataType::UInt16 => Some(DataType::Int32),
        DataType::UInt32 | DataType::UInt64 => Some(DataType::Int64),
        _ => None,
    }
}

tokio::task_local! {
    /// How deep the view being planned is nested in other views.
    static VIEW_DEPTH: usize;
}

/// Plans views for the catalog provider, with sessions of their own over the same catalog and
/// permissions.
#[derive(Debug)]
struct Views {
    sessions: Arc<Sessions>,
    catalog: Catalog,
    acting: Acting,
}

#[async_trait::async_trait]
impl ViewPlanner for Views {
    async fn plan_view(&self, database: &str, sql: &str) -> datafusion::common::Result<LogicalPlan> {
        let depth = VIEW_DEPTH.try_with(|d| *d).unwrap_or(0) + 1;
        if depth > MAX_VIEW_DEPTH {
            return Err(datafusion::error::DataFusionError::Plan(format!(
                "views nest more than {MAX_VIEW_DEPTH} deep (is a view defined through itself?)"
            )));
        }
        let planned = VIEW_DEPTH
            .scope(depth, async {
                let ctx = self.sessions.session(SessionFor {
                    catalog: &self.catalog,
                    acting: self.acting.clone(),
                    database: Some(database),
                    cancel: None,
                    scanned: Arc::new(Scanned::default()),
                    aliases: Vec::new(),
                })?;
                let sql = match sql::plan(sql)? {
                    Plan::Query(q) => q.sql,
                    _ => return Err(Error::InvalidInput("a view must be a query".into())),
                };
                let df = plan_query(&ctx, &sql).await?;
                Ok::<_, Error>(df.into_unoptimized_plan())
            })
            .await;
        planned.map_err(|e| match e {
            Error::DataFusion(e) => e,
            other => datafusion::error::DataFusionError::Plan(other.to_string()),
        })
    }
}
