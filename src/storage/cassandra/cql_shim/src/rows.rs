//! `cql_rows`: one page of a result, owned by C, plus its accessors, and the
//! conversion of C `cql_value`s into driver values.

use std::os::raw::c_char;
use std::slice;

use scylla::response::query_result::QueryResult;
use scylla::response::PagingStateResponse;
use scylla::value::{CqlTimestamp, CqlValue, MaybeUnset, Row};

use crate::errors::*;
use crate::{ffi_free, ffi_guard};

/// One page of rows, fully materialized so accessors are plain lookups.
pub struct CqlRows {
    column_names: Vec<String>,
    rows: Vec<Vec<Option<CqlValue>>>,
    paging_state: Option<Vec<u8>>,
}

impl CqlRows {
    /// Materializes a driver result. Statements without a result set (writes,
    /// DDL) give zero rows and zero columns.
    pub fn from_result(
        result: QueryResult,
        paging: PagingStateResponse,
    ) -> Result<Self, ShimError> {
        let paging_state = match paging {
            PagingStateResponse::HasMorePages { state } => {
                state.as_bytes_slice().map(|b| b.to_vec())
            }
            _ => None,
        };
        if !result.is_rows() {
            return Ok(Self {
                column_names: Vec::new(),
                rows: Vec::new(),
                paging_state,
            });
        }
        let rows_result = result
            .into_rows_result()
            .map_err(|e| ShimError::new(CQL_ERR_OTHER, format!("bad rows result: {e}")))?;
        let column_names = rows_result
            .column_specs()
            .iter()
            .map(|s| s.name().to_owned())
            .collect();
        let iter = rows_result
            .rows::<Row>()
            .map_err(|e| ShimError::new(CQL_ERR_OTHER, format!("bad rows: {e}")))?;
        let mut rows = Vec::with_capacity(rows_result.rows_num());
        for row in iter {
            let row = row.map_err(|e| ShimError::new(CQL_ERR_OTHER, format!("bad row: {e}")))?;
            rows.push(row.columns);
        }
        Ok(Self {
            column_names,
            rows,
            paging_state,
        })
    }

    fn cell(&self, row: usize, column: usize) -> Result<Option<&CqlValue>, i32> {
        let r = self.rows.get(row).ok_or(CQL_ERR_INVALID_ARGUMENT)?;
        let c = r.get(column).ok_or(CQL_ERR_INVALID_ARGUMENT)?;
        Ok(match c {
            None | Some(CqlValue::Empty) => None,
            Some(v) => Some(v),
        })
    }

    fn non_null(&self, row: usize, column: usize) -> Result<&CqlValue, i32> {
        self.cell(row, column)?.ok_or(CQL_ERR_NULL)
    }
}

// ---- value conversion -----------------------------------------------------

pub const CQL_VALUE_NULL: i32 = 0;
pub const CQL_VALUE_UNSET: i32 = 1;
pub const CQL_VALUE_BIGINT: i32 = 2;
pub const CQL_VALUE_INT: i32 = 3;
pub const CQL_VALUE_TEXT: i32 = 4;
pub const CQL_VALUE_BLOB: i32 = 5;
pub const CQL_VALUE_TIMESTAMP: i32 = 6;
pub const CQL_VALUE_BOOLEAN: i32 = 7;

/// Mirrors `cql_value` in cql_shim.h.
#[repr(C)]
pub struct CValue {
    pub kind: i32,
    pub i64: i64,
    pub ptr: *const u8,
    pub len: usize,
}

pub type BoundValue = MaybeUnset<Option<CqlValue>>;

/// Copies C values into owned driver values.
///
/// # Safety
/// `values` must point to `count` valid `CValue`s whose `ptr`/`len` describe
/// readable memory (when `len` > 0).
pub unsafe fn convert_values(
    values: *const CValue,
    count: usize,
) -> Result<Vec<BoundValue>, ShimError> {
    if count == 0 {
        return Ok(Vec::new());
    }
    if values.is_null() {
        return Err(ShimError::invalid_argument(
            "values is NULL but value_count > 0",
        ));
    }
    let values = slice::from_raw_parts(values, count);
    values
        .iter()
        .enumerate()
        .map(|(i, v)| convert_one(i, v))
        .collect()
}

unsafe fn bytes_of<'a>(index: usize, v: &'a CValue) -> Result<&'a [u8], ShimError> {
    if v.len == 0 {
        return Ok(&[]);
    }
    if v.ptr.is_null() {
        return Err(ShimError::invalid_argument(format!(
            "value {index}: NULL ptr, len > 0"
        )));
    }
    Ok(slice::from_raw_parts(v.ptr, v.len))
}

unsafe fn convert_one(index: usize, v: &CValue) -> Result<BoundValue, ShimError> {
    let value = match v.kind {
        CQL_VALUE_NULL => return Ok(MaybeUnset::Set(None)),
        CQL_VALUE_UNSET => return Ok(MaybeUnset::Unset),
        CQL_VALUE_BIGINT => CqlValue::BigInt(v.i64),
        CQL_VALUE_INT => CqlValue::Int(i32::try_from(v.i64).map_err(|_| {
            ShimError::invalid_argument(format!("value {index}: {} does not fit an int", v.i64))
        })?),
        CQL_VALUE_TEXT => {
            let text = std::str::from_utf8(bytes_of(index, v)?).map_err(|e| {
                ShimError::invalid_argument(format!("value {index}: text is not UTF-8: {e}"))
            })?;
            CqlValue::Text(text.to_owned())
        }
        CQL_VALUE_BLOB => CqlValue::Blob(bytes_of(index, v)?.to_vec()),
        CQL_VALUE_TIMESTAMP => CqlValue::Timestamp(CqlTimestamp(v.i64)),
        CQL_VALUE_BOOLEAN => CqlValue::Boolean(v.i64 != 0),
        other => {
            return Err(ShimError::invalid_argument(format!(
                "value {index}: unknown kind {other}"
            )))
        }
    };
    Ok(MaybeUnset::Set(Some(value)))
}

// ---- C accessors ----------------------------------------------------------

fn rows_ref<'a>(rows: *const CqlRows) -> Result<&'a CqlRows, i32> {
    // SAFETY: the C contract is that a non-NULL pointer came from the shim
    // and has not been freed.
    unsafe { rows.as_ref() }.ok_or(CQL_ERR_INVALID_ARGUMENT)
}

fn write<T>(out: *mut T, value: T) -> i32 {
    if out.is_null() {
        return CQL_ERR_INVALID_ARGUMENT;
    }
    // SAFETY: non-NULL out-pointers are writable per the C contract.
    unsafe { out.write(value) };
    CQL_OK
}

fn code_of(result: Result<i32, i32>) -> i32 {
    result.unwrap_or_else(|code| code)
}

#[no_mangle]
pub extern "C" fn cql_rows_count(rows: *const CqlRows) -> usize {
    rows_ref(rows).map(|r| r.rows.len()).unwrap_or(0)
}

#[no_mangle]
pub extern "C" fn cql_rows_column_count(rows: *const CqlRows) -> usize {
    rows_ref(rows).map(|r| r.column_names.len()).unwrap_or(0)
}

#[no_mangle]
pub extern "C" fn cql_rows_column_name(
    rows: *const CqlRows,
    column: usize,
    name: *mut *const c_char,
    len: *mut usize,
) -> i32 {
    ffi_guard(|| {
        code_of((|| {
            let n = rows_ref(rows)?
                .column_names
                .get(column)
                .ok_or(CQL_ERR_INVALID_ARGUMENT)?;
            if len.is_null() {
                return Err(CQL_ERR_INVALID_ARGUMENT);
            }
            write(len, n.len());
            Ok(write(name, n.as_ptr().cast::<c_char>()))
        })())
    })
}

#[no_mangle]
pub extern "C" fn cql_rows_is_null(
    rows: *const CqlRows,
    row: usize,
    column: usize,
    is_null: *mut i32,
) -> i32 {
    ffi_guard(|| {
        code_of((|| {
            Ok(write(
                is_null,
                rows_ref(rows)?.cell(row, column)?.is_none() as i32,
            ))
        })())
    })
}

/// The body of the typed accessors: the non-null cell at (row, column),
/// converted by `convert` (None: a type the accessor does not read), is
/// written to `out`.
fn read_cell<T>(
    rows: *const CqlRows,
    row: usize,
    column: usize,
    out: *mut T,
    convert: impl FnOnce(&CqlValue) -> Option<T>,
) -> i32 {
    ffi_guard(|| {
        code_of((|| {
            let v =
                convert(rows_ref(rows)?.non_null(row, column)?).ok_or(CQL_ERR_INVALID_ARGUMENT)?;
            Ok(write(out, v))
        })())
    })
}

#[no_mangle]
pub extern "C" fn cql_rows_i64(
    rows: *const CqlRows,
    row: usize,
    column: usize,
    out: *mut i64,
) -> i32 {
    read_cell(rows, row, column, out, |value| match value {
        CqlValue::BigInt(v) => Some(*v),
        CqlValue::Counter(c) => Some(c.0),
        CqlValue::Timestamp(t) => Some(t.0),
        CqlValue::Int(v) => Some(i64::from(*v)),
        _ => None,
    })
}

#[no_mangle]
pub extern "C" fn cql_rows_i32(
    rows: *const CqlRows,
    row: usize,
    column: usize,
    out: *mut i32,
) -> i32 {
    read_cell(rows, row, column, out, |value| match value {
        CqlValue::Int(v) => Some(*v),
        _ => None,
    })
}

#[no_mangle]
pub extern "C" fn cql_rows_bool(
    rows: *const CqlRows,
    row: usize,
    column: usize,
    out: *mut i32,
) -> i32 {
    read_cell(rows, row, column, out, |value| match value {
        CqlValue::Boolean(v) => Some(i32::from(*v)),
        _ => None,
    })
}

#[no_mangle]
pub extern "C" fn cql_rows_bytes(
    rows: *const CqlRows,
    row: usize,
    column: usize,
    data: *mut *const u8,
    len: *mut usize,
) -> i32 {
    ffi_guard(|| {
        code_of((|| {
            let bytes: &[u8] = match rows_ref(rows)?.non_null(row, column)? {
                CqlValue::Text(s) | CqlValue::Ascii(s) => s.as_bytes(),
                CqlValue::Blob(b) => b.as_slice(),
                _ => return Err(CQL_ERR_INVALID_ARGUMENT),
            };
            if len.is_null() {
                return Err(CQL_ERR_INVALID_ARGUMENT);
            }
            write(len, bytes.len());
            Ok(write(data, bytes.as_ptr()))
        })())
    })
}

#[no_mangle]
pub extern "C" fn cql_rows_paging_state(
    rows: *const CqlRows,
    data: *mut *const u8,
    len: *mut usize,
) -> i32 {
    ffi_guard(|| {
        code_of((|| {
            let r = rows_ref(rows)?;
            if len.is_null() {
                return Err(CQL_ERR_INVALID_ARGUMENT);
            }
            match &r.paging_state {
                Some(s) if !s.is_empty() => {
                    write(len, s.len());
                    Ok(write(data, s.as_ptr()))
                }
                _ => {
                    write(len, 0);
                    Ok(write(data, std::ptr::null()))
                }
            }
        })())
    })
}

#[no_mangle]
pub extern "C" fn cql_rows_free(rows: *mut CqlRows) {
    // SAFETY: the pointer came from Box::into_raw in the shim and is freed
    // once, per the C contract.
    ffi_free(rows, |p| drop(unsafe { Box::from_raw(p) }));
}
