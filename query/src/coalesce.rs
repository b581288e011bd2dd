//! Compact batches after a cross join.
//!
//! DataFusion's `CrossJoinExec` emits one batch per row of its build side: that row repeated
//! beside a probe batch, whose arrays are shared, not copied. A small probe side therefore
//! yields thousands of tiny batches that each hold a reference to the probe batch's buffers,
//! often allocated far larger than their rows need (64 KB for two rows after round-robin
//! repartitioning). Operators that hold their input count memory per batch, so a second cross
//! join over that output charged the same buffer thousands of times: 564 MB for 18,000 rows
//! of integers, and the query failed its memory limit.
//!
//! [`CoalesceRule`] puts a [`CoalesceExec`] above every cross join: small batches are copied
//! into compact batches of the session's batch size (what DataFusion's own operators do
//! inside filters and repartitions); batches of at least half that size pass through as they
//! are.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use datafusion::arrow::compute::BatchCoalescer;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::joins::CrossJoinExec;
use datafusion::physical_plan::{ExecutionPlan, RecordBatchStream, SendableRecordBatchStream};
use futures::{Stream, StreamExt};

use crate::wrap::{Wrap, WrapExec};

/// Puts a [`CoalesceExec`] above every `CrossJoinExec` of a plan.
#[derive(Debug, Default)]
pub struct CoalesceRule;

impl PhysicalOptimizerRule for CoalesceRule {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        let target = usize::from(config.execution.batch_size);
        let rewritten = plan.transform_up(|node| {
            if node.is::<CrossJoinExec>() {
                Ok(Transformed::yes(Arc::new(CoalesceExec::coalescing(node, target)) as Arc<dyn ExecutionPlan>))
            } else {
                Ok(Transformed::no(node))
            }
        })?;
        Ok(rewritten.data)
    }

    fn name(&self) -> &str {
        "minerva_coalesce_cross_joins"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Copies its input's small batches into compact batches of `target` rows, in order.
pub type CoalesceExec = WrapExec<Coalesce>;

/// What a [`CoalesceExec`] does, to batches of `target` rows.
#[derive(Debug, Clone)]
pub struct Coalesce {
    target: usize,
}

impl CoalesceExec {
    pub fn coalescing(input: Arc<dyn ExecutionPlan>, target: usize) -> Self {
        WrapExec::new(input, Coalesce { target })
    }
}

impl Wrap for Coalesce {
    fn name(&self) -> &'static str {
        "CoalesceExec"
    }

    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CoalesceExec: target_batch_size={}", self.target)
    }

    fn wrap(&self, input: SendableRecordBatchStream) -> Result<SendableRecordBatchStream> {
        let coalescer = BatchCoalescer::new(input.schema(), self.target).with_biggest_coalesce_batch_size(Some(self.target / 2));
        Ok(Box::pin(CoalesceStream { input, coalescer, done: false }))
    }
}

struct CoalesceStream {
    input: SendableRecordBatchStream,
    coalescer: BatchCoalescer,
    done: bool,
}

impl Stream for CoalesceStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(batch) = self.coalescer.next_completed_batch() {
                return Poll::Ready(Some(Ok(batch)));
            }
            if self.done {
                return Poll::Ready(None);
            }
            match std::task::ready!(self.input.poll_next_unpin(cx)) {
                Some(Ok(batch)) => {
                    if let Err(e) = self.coalescer.push_batch(batch) {
                        return Poll::Ready(Some(Err(e.into())));
                    }
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => {
                    self.done = true;
                    if let Err(e) = self.coalescer.finish_buffered_batch() {
                        return Poll::Ready(Some(Err(e.into())));
                    }
                }
            }
        }
    }
}

impl RecordBatchStream for CoalesceStream {
    fn schema(&self) -> SchemaRef {
        self.input.schema()
    }
}
