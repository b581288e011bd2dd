//! `CROSS JOIN UNNEST(t.column)`: DataFusion plans an UNNEST that reads the columns of the tables
//! before it as a join with a correlated subquery, which it cannot execute. This analyzer rule
//! turns that join into the UNNEST of a projection of the left side: every left row is repeated
//! once per element, and rows whose arrays are empty or NULL disappear, as in Trino.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{Column, Result, TableReference};
use datafusion::logical_expr::{Expr, JoinType, LogicalPlan, LogicalPlanBuilder};
use datafusion::optimizer::AnalyzerRule;

#[derive(Debug, Default)]
pub struct LateralUnnest;

impl AnalyzerRule for LateralUnnest {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(rewrite).data()
    }

    fn name(&self) -> &str {
        "minerva_lateral_unnest"
    }
}

/// The nodes of a lateral UNNEST, from the top down to its one-row input, and its alias.
fn unnest_chain(plan: &LogicalPlan) -> Option<(Option<TableReference>, Vec<&LogicalPlan>)> {
    let (alias, mut node) = match plan {
        LogicalPlan::SubqueryAlias(a) => (Some(a.alias.clone()), a.input.as_ref()),
        other => (None, other),
    };
    let LogicalPlan::Subquery(sub) = node else { return None };
    node = sub.subquery.as_ref();
    let mut chain = Vec::new();
    loop {
        match node {
            LogicalPlan::Projection(p) => {
                chain.push(node);
                node = p.input.as_ref();
            }
            LogicalPlan::Unnest(u) => {
                chain.push(node);
                node = u.input.as_ref();
            }
            LogicalPlan::EmptyRelation(e) if e.produce_one_row => break,
            _ => return None,
        }
    }
    chain.iter().any(|n| matches!(n, LogicalPlan::Unnest(_))).then_some((alias, chain))
}

fn strip_outer_refs(e: &Expr) -> Result<Expr> {
    e.clone()
        .transform(|x| match x {
            Expr::OuterReferenceColumn(_, c) => Ok(Transformed::yes(Expr::Column(c))),
            other => Ok(Transformed::no(other)),
        })
        .data()
}

fn rewrite(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    let LogicalPlan::Join(join) = &plan else { return Ok(Transformed::no(plan)) };
    if join.join_type != JoinType::Inner || !join.on.is_empty() {
        return Ok(Transformed::no(plan));
    }
    let Some((alias, chain)) = unnest_chain(&join.right) else { return Ok(Transformed::no(plan)) };
    let left = join.left.as_ref().clone();
    let left_columns: Vec<Expr> = left.schema().columns().into_iter().map(Expr::Column).collect();
    let mut builder = LogicalPlanBuilder::from(left);
    for node in chain.iter().rev() {
        builder = match node {
            LogicalPlan::Projection(p) => {
                let mut exprs = left_columns.clone();
                for e in &p.expr {
                    exprs.push(strip_outer_refs(e)?);
                }
                builder.project(exprs)?
            }
            LogicalPlan::Unnest(u) => builder.unnest_columns_with_options(u.exec_columns.clone(), u.options.clone())?,
            _ => return Ok(Transformed::no(plan)),
        };
    }
    // The left side keeps its names; the UNNEST's columns take its alias.
    let inner = builder.build()?;
    let outputs: Vec<Expr> = inner
        .schema()
        .iter()
        .enumerate()
        .map(|(i, (qualifier, field))| {
            let column = Expr::Column(Column::new(qualifier.cloned(), field.name()));
            if i < left_columns.len() {
                column
            } else {
                match &alias {
                    Some(a) => column.alias_qualified(Some(a.clone()), field.name()),
                    None => column,
                }
            }
        })
        .collect();
    let mut builder = LogicalPlanBuilder::from(Arc::new(inner)).project(outputs)?;
    if let Some(filter) = &join.filter {
        builder = builder.filter(filter.clone())?;
    }
    Ok(Transformed::yes(builder.build()?))
}
