//! Trino's functions, as Athena users call them, registered on every query session.
//!
//! Where DataFusion has a function of the same meaning under another name, it is registered under
//! the Trino name too; where the name is the same but the meaning differs (`regexp_replace`,
//! `element_at`, `split`, …), Minerva's implementation replaces DataFusion's. Functions whose shape
//! SQL cannot express as a call (`if`, `try`, `count_if`, `listagg`) are rewritten in the syntax
//! tree instead (see [`crate::rewrite`]).

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::{ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature, Volatility};
use datafusion::prelude::SessionContext;
pub use datetime::{joda_format, joda_parse};
pub use kernel::map_rows;

use crate::error::INVALID_ARGUMENT;

mod aggregates;
mod arrays;
mod datetime;
mod json;
mod kernel;
mod misc;
mod strings;

/// How a function's result type follows from its arguments.
#[derive(Clone, Copy)]
pub enum Ret {
    Fixed(fn() -> DataType),
    /// From the argument types.
    Types(fn(&[DataType]) -> Result<DataType>),
    /// From the argument fields and the values of constant arguments (a time zone named by a
    /// literal decides the type of `with_timezone`).
    Args(fn(&ReturnFieldArgs) -> Result<FieldRef>),
}

/// The body of a function: arguments as arrays of the batch's length, and the result type.
pub type Body = fn(&[ArrayRef], &DataType) -> Result<ArrayRef>;

/// A scalar function given by its name, arities, result type and body. Arguments are not coerced
/// by DataFusion; bodies cast what they accept.
pub struct Func {
    name: &'static str,
    aliases: Vec<String>,
    signature: Signature,
    ret: Ret,
    body: Body,
}

impl fmt::Debug for Func {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Func").field("name", &self.name).finish()
    }
}

impl PartialEq for Func {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Func {}

impl Hash for Func {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}

/// A function taking any of the given numbers of arguments, of any type.
pub fn func(name: &'static str, arities: &[usize], ret: Ret, body: Body) -> ScalarUDF {
    let signature = if arities.len() == 1 {
        Signature::any(arities[0], Volatility::Immutable)
    } else {
        Signature::one_of(
            arities.iter().map(|n| if *n == 0 { TypeSignature::Nullary } else { TypeSignature::Any(*n) }).collect(),
            Volatility::Immutable,
        )
    };
    ScalarUDF::new_from_impl(Func { name, aliases: Vec::new(), signature, ret, body })
}

/// Like [`func`], with more names.
pub fn func_aliased(name: &'static str, aliases: &[&'static str], arities: &[usize], ret: Ret, body: Body) -> ScalarUDF {
    let udf = func(name, arities, ret, body);
    udf.with_aliases(aliases.iter().copied())
}

impl ScalarUDFImpl for Func {
    fn name(&self) -> &str {
        self.name
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match self.ret {
            Ret::Fixed(t) => Ok(t()),
            Ret::Types(f) => f(args),
            Ret::Args(_) => exec_err!("{}: the result type depends on the arguments", self.name),
        }
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        match self.ret {
            Ret::Args(f) => f(&args),
            _ => {
                let types: Vec<DataType> = args.arg_fields.iter().map(|f| f.data_type().clone()).collect();
                Ok(Arc::new(Field::new(self.name, self.return_type(&types)?, true)))
            }
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if all_scalar { 1 } else { args.number_rows };
        let arrays: Vec<ArrayRef> = args.args.iter().map(|a| a.to_array(rows)).collect::<Result<_>>()?;
        let out = (self.body)(&arrays, args.return_field.data_type())?;
        if out.len() != rows {
            return exec_err!("{}: produced {} values for {rows} rows", self.name, out.len());
        }
        if all_scalar {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?));
        }
        Ok(ColumnarValue::Array(out))
    }
}

/// Registers every Trino function on a session.
pub fn register(ctx: &SessionContext) -> Result<()> {
    for udf in
        strings::functions().into_iter().chain(datetime::functions()).chain(json::functions()).chain(arrays::functions()).chain(misc::functions())
    {
        ctx.register_udf(udf);
    }
    for udaf in aggregates::functions(ctx)? {
        ctx.register_udaf(udaf);
    }
    for hof in arrays::higher_order(ctx)? {
        ctx.register_higher_order_function(hof);
    }
    ctx.register_higher_order_function(Arc::new(datafusion::logical_expr::HigherOrderUDF::new_from_impl(misc::Try::new())));
    // Trino names for DataFusion functions that mean the same thing.
    let state = ctx.state();
    let alias = |name: &str, aliases: &[&'static str]| -> Result<Option<ScalarUDF>> {
        Ok(state.udf(name).ok().map(|f| f.as_ref().clone().with_aliases(aliases.iter().copied())))
    };
    let mut extra = Vec::new();
    for (name, aliases) in [("array_has", &["contains"][..]), ("array_to_string", &["array_join"][..]), ("array_repeat", &["repeat"][..])] {
        if let Some(f) = alias(name, aliases)? {
            extra.push(f);
        }
    }
    drop(state);
    for f in extra {
        ctx.register_udf(f);
    }
    Ok(())
}

/// A function's argument is wrong, in Trino's words.
pub fn invalid_argument<T>(message: impl fmt::Display) -> Result<T> {
    Err(datafusion::error::DataFusionError::Execution(format!("{INVALID_ARGUMENT}{message}")))
}

/// Casts an argument to the given type, naming the function in the error.
pub fn arg(name: &str, a: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    if a.data_type() == to {
        return Ok(a.clone());
    }
    datafusion::arrow::compute::cast(a, to).map_err(|e| datafusion::error::DataFusionError::Execution(format!("{name}: {e}")))
}

/// Whether a type is a character string.
pub fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// The field describing a result, nullable.
pub fn field(name: &str, t: DataType) -> FieldRef {
    Arc::new(Field::new(name, t, true))
}

/// A constant argument's string value, if it is one.
pub fn constant_string(args: &ReturnFieldArgs, i: usize) -> Option<String> {
    match args.scalar_arguments.get(i).copied().flatten() {
        Some(ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s))) => Some(s.clone()),
        _ => None,
    }
}
