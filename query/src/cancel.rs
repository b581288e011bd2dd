//! Prompt cancellation of a running query.
//!
//! Aborting a task only takes effect when the task next yields, and a DataFusion operator can
//! work for minutes inside one poll (an aggregate draining a join that never returns `Pending`).
//! So every operator of a query's physical plan is wrapped in a [`CancelExec`] that checks the
//! query's [`CancelToken`] each time a batch passes: a stopped query fails at the next batch
//! boundary of whichever operator is busy, its streams are dropped and its memory returned. The
//! wrapper also spends Tokio's cooperative budget, so a busy query yields to the other queries on
//! the runtime and an abort lands at once.
//!
//! The wrappers are added by a physical optimizer rule that runs last, only in the sessions of
//! queries that execute (never for EXPLAIN, whose output would show them).

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::coop::make_cooperative;
use datafusion::physical_plan::{
    ChildStats, ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, RecordBatchStream, ReplaceChildrenOptions,
    SendableRecordBatchStream, Statistics, StatisticsArgs,
};
use futures::{Stream, StreamExt};

/// The name of the operator that stops a query's plan (EXPLAIN leaves it out).
pub const CANCEL_EXEC: &str = "CancelExec";

/// The message a cancelled query's operators fail with.
pub const CANCELLED: &str = "Query was cancelled by the user";

/// Set once, when the query is stopped; read by every operator of the query.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Wraps every operator of a plan in a [`CancelExec`] bound to one query's token.
#[derive(Debug)]
pub struct CancelRule {
    token: CancelToken,
}

impl CancelRule {
    pub fn new(token: CancelToken) -> Self {
        CancelRule { token }
    }
}

impl PhysicalOptimizerRule for CancelRule {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        let wrapped =
            plan.transform_up(|node| Ok(Transformed::yes(Arc::new(CancelExec::new(node, self.token.clone())) as Arc<dyn ExecutionPlan>)))?;
        Ok(wrapped.data)
    }

    fn name(&self) -> &str {
        "minerva_cancel"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Passes its input's batches through unchanged, failing once the query is cancelled.
#[derive(Debug)]
pub struct CancelExec {
    input: Arc<dyn ExecutionPlan>,
    token: CancelToken,
}

impl CancelExec {
    pub fn new(input: Arc<dyn ExecutionPlan>, token: CancelToken) -> Self {
        CancelExec { input, token }
    }
}

impl DisplayAs for CancelExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{CANCEL_EXEC}")
    }
}

impl ExecutionPlan for CancelExec {
    fn name(&self) -> &str {
        CANCEL_EXEC
    }

    /// Code that inspects a plan by downcasting sees the wrapped operator, as if the wrapper
    /// were not there.
    fn downcast_delegate(&self) -> Option<&dyn ExecutionPlan> {
        Some(self.input.as_ref())
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(&self, _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return Err(DataFusionError::Internal("CancelExec takes exactly one child".into()));
        }
        Ok(Arc::new(CancelExec::new(children.swap_remove(0), self.token.clone())))
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(children, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute))
    }

    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        vec![ChildStats::At(partition)]
    }

    fn statistics_from_inputs(&self, input_stats: &[Arc<Statistics>], _args: &StatisticsArgs) -> Result<Arc<Statistics>> {
        Ok(Arc::clone(&input_stats[0]))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        if self.token.is_cancelled() {
            return Err(DataFusionError::Execution(CANCELLED.into()));
        }
        let input = self.input.execute(partition, context)?;
        Ok(make_cooperative(Box::pin(CancelStream { input, token: self.token.clone() })))
    }
}

struct CancelStream {
    input: SendableRecordBatchStream,
    token: CancelToken,
}

impl Stream for CancelStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.token.is_cancelled() {
            return Poll::Ready(Some(Err(DataFusionError::Execution(CANCELLED.into()))));
        }
        self.input.poll_next_unpin(cx)
    }
}

impl RecordBatchStream for CancelStream {
    fn schema(&self) -> SchemaRef {
        self.input.schema()
    }
}
