//! The element-wise shape most of Trino's scalar functions share: a row is NULL when any
//! argument is NULL in it, and otherwise what the function makes of its values (which may be
//! NULL too). Written once here, as Arrow's own kernels collect an iterator of options into an
//! array, so that each function says only what it does with one row.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::common::Result;

/// The result of `f` over every row of `args` (arrays of one length) where none is NULL; NULL
/// where one is. `A` is the result's array type (`Int64Array`, `StringArray`, `BinaryArray`, …).
pub fn map_rows<A, T>(args: &[&dyn Array], mut f: impl FnMut(usize) -> Result<Option<T>>) -> Result<ArrayRef>
where
    A: Array + FromIterator<Option<T>> + 'static,
{
    let rows = args.first().map_or(0, |a| a.len());
    let out: A = (0..rows).map(|i| if args.iter().any(|a| a.is_null(i)) { Ok(None) } else { f(i) }).collect::<Result<A>>()?;
    Ok(Arc::new(out))
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{AsArray, Int64Array, StringArray};
    use datafusion::arrow::datatypes::Int64Type;

    use super::*;

    #[test]
    fn a_null_argument_makes_a_null_row_and_the_function_may_too() {
        let x = StringArray::from(vec![Some("ab"), None, Some("c"), Some("")]);
        let y = Int64Array::from(vec![Some(1), Some(2), None, Some(4)]);
        let out =
            map_rows::<Int64Array, i64>(&[&x, &y], |i| Ok((!x.value(i).is_empty()).then(|| x.value(i).len() as i64 + y.value(i)))).expect("no error");
        let out = out.as_primitive::<Int64Type>();
        assert_eq!(out.iter().collect::<Vec<_>>(), [Some(3), None, None, None]);
        let failed = map_rows::<Int64Array, i64>(&[&x], |_| datafusion::common::exec_err!("no"));
        assert!(failed.is_err());
    }
}
