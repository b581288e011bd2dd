//! Result files, as Athena writes them, and reading them back a page at a time.
//!
//! A query's rows go to `<output>/<id>.csv` in Athena's CSV dialect (every value quoted, NULL an
//! empty unquoted field) with a `.metadata` companion; what DDL and utility statements print goes
//! to `<output>/<id>.txt`, one line a row. `GetQueryResults` pages through either: a CSV page's
//! token is the byte offset of its next row, a text page's the number of lines read.

use bytes::Bytes;
use datafusion::dataframe::DataFrame;
use futures::{SinkExt, StreamExt};
use storage::{PutOptions, S3Location, Store};

use crate::error::{Error, Result};
use crate::location;
use crate::render::render_column;
use crate::types::{ColumnInfo, athena_column};

/// Result rows are sent to the lake in chunks of about this size.
const RESULT_CHUNK: usize = 1 << 20;

/// One page of `GetQueryResults`.
#[derive(Debug, Clone, Default)]
pub struct ResultPage {
    pub columns: Vec<ColumnInfo>,
    /// Rows written by CTAS, INSERT or UNLOAD (Athena's `UpdateCount`).
    pub update_count: u64,
    pub rows: Vec<Vec<Option<String>>>,
    pub next_token: Option<String>,
}

/// Streams a query's rows into `<output_dir><id>.csv`, then writes the `.metadata` companion.
/// Returns the columns, the number of rows and the result file's size.
pub(crate) async fn write_csv(store: &Store, id: &str, df: DataFrame, output_dir: &str) -> Result<(Vec<ColumnInfo>, u64, u64)> {
    let S3Location { bucket, key: prefix } = location::parse(output_dir)?;
    store.head_bucket(&bucket)?;
    let columns: Vec<ColumnInfo> = df.schema().fields().iter().map(|f| athena_column(f)).collect();
    let mut stream = df.execute_stream().await?;
    let (mut tx, rx) = futures::channel::mpsc::channel::<std::io::Result<Bytes>>(2);
    let key = format!("{prefix}{id}.csv");
    // The writer runs in this task, beside the producer: if the query is aborted, both are
    // dropped together and the staged body is discarded, so no truncated result file can
    // ever be committed.
    let writer = store.put_object(&bucket, &key, rx.boxed(), PutOptions::default());
    let header: Vec<Option<String>> = columns.iter().map(|c| Some(c.name.clone())).collect();
    let producer = async move {
        let mut buf = Vec::with_capacity(RESULT_CHUNK);
        write_row(&mut buf, &header);
        let mut rows = 0u64;
        let produced: Result<()> = async {
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                let rendered: Vec<Vec<Option<String>>> = batch.columns().iter().map(render_column).collect::<Result<_>>()?;
                for r in 0..batch.num_rows() {
                    let row: Vec<Option<String>> = rendered.iter().map(|c| c[r].clone()).collect();
                    write_row(&mut buf, &row);
                    rows += 1;
                    if buf.len() >= RESULT_CHUNK {
                        let chunk = Bytes::from(std::mem::take(&mut buf));
                        if tx.send(Ok(chunk)).await.is_err() {
                            return Ok(());
                        }
                    }
                }
            }
            Ok(())
        }
        .await;
        match &produced {
            Ok(()) => {
                let _ = tx.send(Ok(Bytes::from(buf))).await;
            }
            // Failing the body makes the store drop the staged file: no half result is visible.
            Err(e) => {
                let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
            }
        }
        produced.map(|()| rows)
    };
    let (written, produced) = futures::join!(writer, producer);
    let rows = produced?;
    let size = written?.size;
    let metadata = serde_json::to_vec(&serde_json::json!({ "columns": columns, "rows": rows })).unwrap_or_default();
    put_bytes(store, &bucket, &format!("{prefix}{id}.csv.metadata"), metadata).await?;
    Ok((columns, rows, size))
}

/// Writes lines of text, each ended by a newline, to `<output_dir><name>`.
pub(crate) async fn put_text(store: &Store, output_dir: &str, name: &str, lines: &[String]) -> Result<()> {
    let S3Location { bucket, key: prefix } = location::parse(output_dir)?;
    let mut text = String::new();
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    put_bytes(store, &bucket, &format!("{prefix}{name}"), text.into_bytes()).await
}

pub(crate) async fn put_bytes(store: &Store, bucket: &str, key: &str, data: Vec<u8>) -> Result<()> {
    let body = futures::stream::iter([Ok(Bytes::from(data))]).boxed();
    store.put_object(bucket, key, body, PutOptions::default()).await?;
    Ok(())
}

/// A page of rows of the CSV result file at `location`, from the byte offset `token` names.
pub(crate) async fn csv_page(store: &Store, location: &str, columns: Vec<ColumnInfo>, token: Option<&str>, max_rows: usize) -> Result<ResultPage> {
    let offset: u64 = match token {
        None => 0,
        Some(t) => t.parse().map_err(|_| Error::InvalidInput("The NextToken is not valid".into()))?,
    };
    let S3Location { bucket, key } = location::parse(location)?;
    let size = store.head_object(&bucket, &key)?.record.size;
    if offset >= size {
        return Ok(ResultPage { columns, ..Default::default() });
    }
    let range = storage::RangeSpec::From { first: offset, last: None };
    let mut body = store.get_object(&bucket, &key, Some(range)).await?.stream;
    let mut buf: Vec<u8> = Vec::new();
    let mut rows = Vec::new();
    let mut consumed = 0usize;
    let mut eof = false;
    while rows.len() < max_rows {
        match parse_csv_row(&buf[consumed..], eof) {
            Some((row, used)) => {
                rows.push(row);
                consumed += used;
            }
            None if eof => break,
            None => match body.next().await {
                Some(chunk) => buf.extend_from_slice(&chunk.map_err(|e| Error::Internal(e.to_string()))?),
                None => eof = true,
            },
        }
    }
    let next = offset + consumed as u64;
    Ok(ResultPage { columns, rows, next_token: (next < size).then(|| next.to_string()), update_count: 0 })
}

/// A page of what a DDL or utility statement printed to the text file at `location`: each line
/// is one row of one datum (with tabs between its fields), as Athena returns them.
pub(crate) async fn text_page(store: &Store, location: &str, columns: Vec<ColumnInfo>, token: Option<&str>, max_rows: usize) -> Result<ResultPage> {
    let skip: usize = match token {
        None => 0,
        Some(t) => t.parse().map_err(|_| Error::InvalidInput("The NextToken is not valid".into()))?,
    };
    let S3Location { bucket, key } = location::parse(location)?;
    let text = match store.get_object(&bucket, &key, None).await {
        Ok(body) => {
            let mut stream = body.stream;
            let mut bytes = Vec::new();
            while let Some(chunk) = stream.next().await {
                bytes.extend_from_slice(&chunk.map_err(|e| Error::Internal(e.to_string()))?);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
        Err(e) if e.kind() == storage::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e.into()),
    };
    let lines: Vec<&str> = if text.is_empty() { Vec::new() } else { text.strip_suffix('\n').unwrap_or(&text).split('\n').collect() };
    let rows: Vec<Vec<Option<String>>> = lines.iter().skip(skip).take(max_rows).map(|l| vec![Some(l.to_string())]).collect();
    let next = skip + rows.len();
    Ok(ResultPage { columns, rows, next_token: (next < lines.len()).then(|| next.to_string()), update_count: 0 })
}

fn csv_field(out: &mut Vec<u8>, value: &Option<String>) {
    if let Some(v) = value {
        out.push(b'"');
        out.extend_from_slice(v.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    }
}

fn write_row(out: &mut Vec<u8>, row: &[Option<String>]) {
    for (i, v) in row.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        csv_field(out, v);
    }
    out.push(b'\n');
}

/// Parses one row of a result file from the start of `buf`: quoted fields are values (with `""`
/// for a quote), empty unquoted fields are NULL. Returns the row and the bytes it used, or `None`
/// if `buf` does not yet hold a whole row.
fn parse_csv_row(buf: &[u8], eof: bool) -> Option<(Vec<Option<String>>, usize)> {
    let mut row = Vec::new();
    let mut i = 0;
    loop {
        if i < buf.len() && buf[i] == b'"' {
            let mut value = Vec::new();
            i += 1;
            loop {
                if i >= buf.len() {
                    return None;
                }
                if buf[i] == b'"' {
                    if i + 1 < buf.len() && buf[i + 1] == b'"' {
                        value.push(b'"');
                        i += 2;
                        continue;
                    }
                    if i + 1 >= buf.len() && !eof {
                        return None;
                    }
                    i += 1;
                    break;
                }
                value.push(buf[i]);
                i += 1;
            }
            row.push(Some(String::from_utf8_lossy(&value).into_owned()));
        } else {
            row.push(None);
        }
        match buf.get(i) {
            Some(b',') => i += 1,
            Some(b'\n') => return Some((row, i + 1)),
            None if eof && i > 0 => return Some((row, i)),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_rows_round_trip() {
        let rows =
            vec![vec![Some("a".to_string()), None, Some("say \"hi\", twice\nplease".to_string())], vec![Some(String::new()), Some("1".into()), None]];
        let mut buf = Vec::new();
        for r in &rows {
            write_row(&mut buf, r);
        }
        assert_eq!(&buf[..4], b"\"a\",");
        let mut parsed = Vec::new();
        let mut at = 0;
        while let Some((row, used)) = parse_csv_row(&buf[at..], true) {
            parsed.push(row);
            at += used;
            if at == buf.len() {
                break;
            }
        }
        assert_eq!(parsed, rows);
        // A row cut short is not returned until the rest arrives.
        assert!(parse_csv_row(&buf[..6], false).is_none());
    }
}
