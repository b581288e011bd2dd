//! An operator that changes how its one input's batches stream, and nothing of what they are:
//! the same schema, partitioning, ordering and statistics. [`crate::cancel`] and
//! [`crate::coalesce`] are two; each says only how it wraps a stream.

use std::fmt;
use std::sync::Arc;

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::{
    ChildStats, ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, ReplaceChildrenOptions,
    SendableRecordBatchStream, Statistics, StatisticsArgs,
};

/// What a [`WrapExec`] does to its input's stream.
pub trait Wrap: fmt::Debug + Clone + Send + Sync + 'static {
    /// The operator's name, as plans show it.
    fn name(&self) -> &'static str;

    /// The line plans show for it.
    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())
    }

    /// Whether code that downcasts plans should see the wrapped operator instead.
    fn transparent(&self) -> bool {
        false
    }

    /// The input's stream for one partition, wrapped.
    fn wrap(&self, input: SendableRecordBatchStream) -> Result<SendableRecordBatchStream>;

    /// Called before the input is executed; an error stops there.
    fn check(&self) -> Result<()> {
        Ok(())
    }
}

/// One input, wrapped by `W`.
#[derive(Debug)]
pub struct WrapExec<W: Wrap> {
    input: Arc<dyn ExecutionPlan>,
    wrap: W,
}

impl<W: Wrap> WrapExec<W> {
    pub fn new(input: Arc<dyn ExecutionPlan>, wrap: W) -> Self {
        WrapExec { input, wrap }
    }
}

impl<W: Wrap> DisplayAs for WrapExec<W> {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.wrap.describe(f)
    }
}

impl<W: Wrap> ExecutionPlan for WrapExec<W> {
    fn name(&self) -> &str {
        self.wrap.name()
    }

    fn downcast_delegate(&self) -> Option<&dyn ExecutionPlan> {
        self.wrap.transparent().then_some(self.input.as_ref())
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
            return Err(DataFusionError::Internal(format!("{} takes exactly one child", self.wrap.name())));
        }
        Ok(Arc::new(WrapExec::new(children.swap_remove(0), self.wrap.clone())))
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
        self.wrap.check()?;
        self.wrap.wrap(self.input.execute(partition, context)?)
    }
}
