//! The Arrow IPC streams exchanged with the worker: candles out, signal (and indicator)
//! columns back. Binary and columnar, so a year of minute candles crosses the process boundary
//! without text formatting or parsing.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, Int8Array, RecordBatch, StringArray};
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{ArrowError, DataType, Field, Schema};
use tradai_core::Candles;
use tradai_engine::Signals;

use crate::error::PythonError;

/// What the strategy's populate functions produced for one pair.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PythonFrame {
    /// The four signal columns with the entry and exit tags.
    pub signals: Signals,
    /// Every other numeric column the strategy added (only when asked for), as f64.
    pub columns: Vec<(String, Vec<f64>)>,
}

fn arrow(context: &'static str) -> impl FnOnce(ArrowError) -> PythonError {
    move |source| PythonError::Arrow { context, source }
}

/// Encodes `candles` as an IPC stream with columns date (epoch ms), open, high, low, close,
/// volume.
pub(crate) fn encode_candles(candles: &Candles) -> Result<Vec<u8>, PythonError> {
    let f = |name: &str| Field::new(name, DataType::Float64, false);
    let schema =
        Arc::new(Schema::new(vec![Field::new("date", DataType::Int64, false), f("open"), f("high"), f("low"), f("close"), f("volume")]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(candles.ts.clone())),
        Arc::new(Float64Array::from(candles.open.clone())),
        Arc::new(Float64Array::from(candles.high.clone())),
        Arc::new(Float64Array::from(candles.low.clone())),
        Arc::new(Float64Array::from(candles.close.clone())),
        Arc::new(Float64Array::from(candles.volume.clone())),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns).map_err(arrow("building the candle batch"))?;
    let mut out = Vec::with_capacity(candles.len() * 48 + 1024);
    {
        let mut w = StreamWriter::try_new(&mut out, &schema).map_err(arrow("writing the candle stream"))?;
        w.write(&batch).map_err(arrow("writing the candle stream"))?;
        w.finish().map_err(arrow("writing the candle stream"))?;
    }
    Ok(out)
}

fn flag_column(batch: &RecordBatch, name: &str) -> Result<Vec<bool>, PythonError> {
    let Some(col) = batch.column_by_name(name) else { return Ok(vec![false; batch.num_rows()]) };
    let col = col.as_any().downcast_ref::<Int8Array>().ok_or_else(|| PythonError::Arrow {
        context: "signal column is not int8",
        source: ArrowError::SchemaError(format!("column {name} has type {}", col.data_type())),
    })?;
    Ok(col.iter().map(|v| v == Some(1)).collect())
}

fn tag_column(batch: &RecordBatch, name: &str) -> Result<Vec<Option<String>>, PythonError> {
    let Some(col) = batch.column_by_name(name) else { return Ok(vec![None; batch.num_rows()]) };
    let col = col.as_any().downcast_ref::<StringArray>().ok_or_else(|| PythonError::Arrow {
        context: "tag column is not utf8",
        source: ArrowError::SchemaError(format!("column {name} has type {}", col.data_type())),
    })?;
    Ok(col.iter().map(|v| v.map(str::to_owned)).collect())
}

/// Decodes the worker's result stream.
pub(crate) fn decode_frame(bytes: &[u8], can_short: bool) -> Result<PythonFrame, PythonError> {
    let reader = StreamReader::try_new(std::io::Cursor::new(bytes), None).map_err(arrow("reading the signal stream"))?;
    let mut batches = Vec::new();
    for b in reader {
        batches.push(b.map_err(arrow("reading the signal stream"))?);
    }
    let schema = batches.first().map(RecordBatch::schema);
    let batch = match schema {
        Some(s) => arrow_select_concat(&s, &batches)?,
        None => return Ok(PythonFrame::default()),
    };
    let enter_tag = tag_column(&batch, "enter_tag")?;
    let has_tags = enter_tag.iter().any(Option::is_some);
    let signals = Signals {
        enter_long: flag_column(&batch, "enter_long")?,
        exit_long: flag_column(&batch, "exit_long")?,
        // Long-only classes need no short columns; the simulator treats empty as never.
        enter_short: if can_short { flag_column(&batch, "enter_short")? } else { Vec::new() },
        exit_short: if can_short { flag_column(&batch, "exit_short")? } else { Vec::new() },
        enter_tag: has_tags.then_some(enter_tag),
        exit_tag: Some(tag_column(&batch, "exit_tag")?).filter(|t| t.iter().any(Option::is_some)),
    };
    let mut columns = Vec::new();
    for (i, field) in batch.schema().fields().iter().enumerate() {
        if let Some(c) = batch.column(i).as_any().downcast_ref::<Float64Array>() {
            columns.push((field.name().clone(), c.iter().map(|v| v.unwrap_or(f64::NAN)).collect()));
        }
    }
    Ok(PythonFrame { signals, columns })
}

/// One batch of all `batches` (pyarrow writes one, but a stream may hold several).
fn arrow_select_concat(schema: &Arc<Schema>, batches: &[RecordBatch]) -> Result<RecordBatch, PythonError> {
    if batches.len() == 1 {
        return Ok(batches[0].clone());
    }
    arrow_array::RecordBatch::try_new(
        Arc::clone(schema),
        (0..schema.fields().len())
            .map(|i| {
                let parts: Vec<&dyn Array> = batches.iter().map(|b| b.column(i).as_ref()).collect();
                concat(&parts)
            })
            .collect::<Result<Vec<_>, _>>()?,
    )
    .map_err(arrow("joining the signal batches"))
}

fn concat(parts: &[&dyn Array]) -> Result<ArrayRef, PythonError> {
    let first = parts[0];
    let out: ArrayRef = match first.data_type() {
        DataType::Int8 => {
            Arc::new(Int8Array::from_iter(parts.iter().flat_map(|p| p.as_any().downcast_ref::<Int8Array>().into_iter().flatten())))
        }
        DataType::Float64 => {
            Arc::new(Float64Array::from_iter(parts.iter().flat_map(|p| p.as_any().downcast_ref::<Float64Array>().into_iter().flatten())))
        }
        DataType::Utf8 => {
            Arc::new(StringArray::from_iter(parts.iter().flat_map(|p| p.as_any().downcast_ref::<StringArray>().into_iter().flatten())))
        }
        other => {
            return Err(PythonError::Arrow {
                context: "joining the signal batches",
                source: ArrowError::SchemaError(format!("unexpected column type {other}")),
            })
        }
    };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candles_round_trip_through_ipc() {
        let mut c = Candles::default();
        for i in 0..3 {
            c.push(tradai_core::CandleRow { ts: 1_000 * i, open: 1.0, high: 2.0, low: 0.5, close: 1.5, volume: i as f64 });
        }
        let bytes = encode_candles(&c).unwrap();
        let reader = StreamReader::try_new(std::io::Cursor::new(bytes), None).unwrap();
        let batch = reader.into_iter().next().unwrap().unwrap();
        assert_eq!(batch.num_rows(), 3);
        let v = batch.column_by_name("volume").unwrap().as_any().downcast_ref::<Float64Array>().unwrap();
        assert_eq!(v.value(2), 2.0);
    }

    #[test]
    fn signals_decode_with_tags_and_columns() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("enter_long", DataType::Int8, false),
            Field::new("exit_long", DataType::Int8, false),
            Field::new("enter_tag", DataType::Utf8, true),
            Field::new("rsi", DataType::Float64, true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int8Array::from(vec![0, 1, 0])),
                Arc::new(Int8Array::from(vec![0, 0, 1])),
                Arc::new(StringArray::from(vec![None, Some("dip"), None])),
                Arc::new(Float64Array::from(vec![Some(1.0), None, Some(3.0)])),
            ],
        )
        .unwrap();
        let mut bytes = Vec::new();
        let mut w = StreamWriter::try_new(&mut bytes, &schema).unwrap();
        w.write(&batch).unwrap();
        w.finish().unwrap();
        drop(w);
        let f = decode_frame(&bytes, false).unwrap();
        assert_eq!(f.signals.enter_long, vec![false, true, false]);
        assert_eq!(f.signals.exit_long, vec![false, false, true]);
        assert!(f.signals.enter_short.is_empty());
        assert_eq!(f.signals.enter_tag, Some(vec![None, Some("dip".to_owned()), None]));
        assert_eq!(f.columns.len(), 1);
        assert!(f.columns[0].1[1].is_nan());
    }
}
