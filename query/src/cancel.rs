//! Prompt cancellation of a running query.
//!
//! Aborting a task only takes effect when the task next yields, and a DataFusion operator can
//! work for minutes inside one poll (an aggregate draining a join that never returns `Pending`).
//! So every operator of a query's physical plan is wrapped in a `CancelExec` (a [`WrapExec`] of [`Cancel`]) that checks the
//! query's [`CancelToken`] each time a batch passes: a stopped query fails at the next batch
//! boundary of whichever operator is busy, its streams are dropped and its memory returned. The
//! wrapper also spends Tokio's cooperative budget, so a busy query yields to the other queries on
//! the runtime and an abort lands at once.
//!
//! The wrappers are added by a physical optimizer rule that runs last, only in the sessions of
//! queries that execute (never for EXPLAIN, whose output would show them). The same wrappers
//! stop a query that has read more than its workgroup allows, and count the rows its scans
//! (the plan's leaves) produce.

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

use crate::budget::Scanned;
use crate::error::SCAN_LIMIT;
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

/// Wraps every operator of a plan in a `CancelExec` bound to one query's token and reads.
#[derive(Debug)]
pub struct CancelRule {
    token: CancelToken,
    scanned: Arc<Scanned>,
}

impl CancelRule {
    pub fn new(token: CancelToken, scanned: Arc<Scanned>) -> Self {
        CancelRule { token, scanned }
    }
}

impl PhysicalOptimizerRule for CancelRule {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        let wrapped = plan.transform_up(|node| {
            let cancel = Cancel { token: self.token.clone(), scanned: self.scanned.clone(), leaf: node.children().is_empty() };
            Ok(Transformed::yes(Arc::new(WrapExec::new(node, cancel)) as Arc<dyn ExecutionPlan>))
        })?;
        Ok(wrapped.data)
    }

    fn name(&self) -> &str {
        "minerva_cancel"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// What a `CancelExec` does: checks the token and the reads' cutoff before each batch,
/// counts a leaf's rows, and spends Tokio's budget.
#[derive(Debug, Clone)]
pub struct Cancel {
    token: CancelToken,
    scanned: Arc<Scanned>,
    /// The operator reads the query's input (a scan): its rows are the query's input rows.
    leaf: bool,
}

impl Cancel {
    fn stopped(&self) -> Option<DataFusionError> {
        if self.token.is_cancelled() {
            return Some(DataFusionError::Execution(CANCELLED.into()));
        }
        self.scanned.over_cutoff().then(|| DataFusionError::Execution(SCAN_LIMIT.into()))
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
        match self.stopped() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn wrap(&self, input: SendableRecordBatchStream) -> Result<SendableRecordBatchStream> {
        Ok(make_cooperative(Box::pin(CancelStream { input, cancel: self.clone() })))
    }
}

struct CancelStream {
    input: SendableRecordBatchStream,
    cancel: Cancel,
}

impl Stream for CancelStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(e) = self.cancel.stopped() {
            return Poll::Ready(Some(Err(e)));
        }
        let next = self.input.poll_next_unpin(cx);
        if self.cancel.leaf
            && let Poll::Ready(Some(Ok(batch))) = &next
        {
            self.cancel.scanned.add_rows(batch.num_rows());
        }
        next
    }
}

impl RecordBatchStream for CancelStream {
    fn schema(&self) -> SchemaRef {
        self.input.schema()
    }
}
