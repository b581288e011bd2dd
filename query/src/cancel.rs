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

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::{DataFusionError, Result};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::coop::make_cooperative;
use datafusion::physical_plan::{ExecutionPlan, RecordBatchStream, SendableRecordBatchStream};
use futures::{Stream, StreamExt};

use crate::wrap::{Wrap, WrapExec};

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
            plan.transform_up(|node| Ok(Transformed::yes(Arc::new(CancelExec::cancelling(node, self.token.clone())) as Arc<dyn ExecutionPlan>)))?;
        Ok(wrapped.data)
    }

    fn name(&self) -> &str {
        "minerva_cancel"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Passes its input's batches through unchanged, failing once the query is cancelled. Code
/// that inspects a plan by downcasting sees the wrapped operator, as if the wrapper were not
/// there.
pub type CancelExec = WrapExec<Cancel>;

/// What a [`CancelExec`] does: checks the token before each batch and spends Tokio's budget.
#[derive(Debug, Clone)]
pub struct Cancel(CancelToken);

impl CancelExec {
    pub fn cancelling(input: Arc<dyn ExecutionPlan>, token: CancelToken) -> Self {
        WrapExec::new(input, Cancel(token))
    }
}

impl Wrap for Cancel {
    fn name(&self) -> &'static str {
        CANCEL_EXEC
    }

    fn transparent(&self) -> bool {
        true
    }

    fn check(&self) -> Result<()> {
        if self.0.is_cancelled() {
            return Err(DataFusionError::Execution(CANCELLED.into()));
        }
        Ok(())
    }

    fn wrap(&self, input: SendableRecordBatchStream) -> Result<SendableRecordBatchStream> {
        Ok(make_cooperative(Box::pin(CancelStream { input, token: self.0.clone() })))
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
