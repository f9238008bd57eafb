//! `packet_features(packet, window_seconds ORDER BY ts)`: the features of any group of packets,
//! as an aggregate, so analysts can `GROUP BY` whatever they like (a host, a port, a minute).
//! The packet is any row with `raw_packets` column names (a table row, a view, a subquery);
//! the result follows feature_names() order, computed by the core's `WindowAccumulator`.

use pgrx::pg_sys::{self, Datum, Oid};
use pgrx::prelude::*;
use pgrx::{AnyElement, Internal, PgSqlErrorCode};
use traffic_core::features::WindowAccumulator;

use crate::error;
use crate::rows::{DatumRow, RowLayout};

#[derive(AggregateName)]
#[aggregate_name = "packet_features"]
pub struct PacketFeatures;

/// Lives in the aggregate's memory context for one group.
#[derive(Default)]
struct GroupState {
    accumulator: WindowAccumulator,
    window_seconds: f64,
    last_micros: i64,
    /// The row type the layout was built for: (type oid, typmod).
    row_type: Option<(Oid, i32)>,
    layout: Option<RowLayout>,
    datums: Vec<Option<Datum>>,
}

#[pg_aggregate]
impl Aggregate<PacketFeatures> for PacketFeatures {
    type State = Internal;
    type Args = (name!(packet, Option<AnyElement>), name!(window_seconds, Option<f64>));
    type Finalize = Option<Vec<f64>>;

    fn state(
        mut current: Self::State,
        (packet, window_seconds): Self::Args,
        fcinfo: pg_sys::FunctionCallInfo,
    ) -> Self::State {
        let Some(packet) = packet else { return current };
        // SAFETY: the state is created in the aggregate's memory context (not the per-row one)
        // and only ever holds a GroupState.
        let state = unsafe {
            let context = Self::memory_context(fcinfo).unwrap_or_else(|| {
                error!("packet_features is an aggregate: call it as packet_features(p, 5 ORDER BY ts)")
            });
            let previous = pg_sys::MemoryContextSwitchTo(context);
            let state = current.get_or_insert_default::<GroupState>();
            pg_sys::MemoryContextSwitchTo(previous);
            state
        };
        let seconds = window_seconds.unwrap_or(0.0);
        if !(seconds.is_finite() && seconds > 0.0) {
            error::raise(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                "packet_features",
                format!("window_seconds must be a positive number of seconds, got {seconds}"),
                "Rates are per second of the window: pass the group's length, e.g. 5 for a 5 s window.",
            );
        }
        state.window_seconds = seconds;
        // SAFETY: the argument is a composite value of the type its header names.
        unsafe { add_row(state, packet.datum(), packet.oid()) };
        current
    }

    fn finalize(
        mut current: Self::State,
        _direct_args: Self::OrderedSetArgs,
        _fcinfo: pg_sys::FunctionCallInfo,
    ) -> Self::Finalize {
        // SAFETY: the state only ever holds a GroupState.
        let state = unsafe { current.get_mut::<GroupState>() }?;
        Some(state.accumulator.finish(state.window_seconds).values)
    }
}

/// Deforms one composite row, checks it against the packet columns (once per row type) and
/// adds it to the group.
unsafe fn add_row(state: &mut GroupState, datum: Datum, type_oid: Oid) {
    unsafe {
        if !pg_sys::type_is_rowtype(type_oid) {
            error::raise(
                PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
                "packet_features",
                "packet_features takes a packet row, not a single value",
                "Pass the whole row: SELECT packet_features(p, 5 ORDER BY ts) FROM raw_packets p.",
            );
        }
        let header = pg_sys::pg_detoast_datum(datum.cast_mut_ptr()) as pg_sys::HeapTupleHeader;
        let row_type = ((*header).t_choice.t_datum.datum_typeid, (*header).t_choice.t_datum.datum_typmod);
        let tupdesc = pg_sys::lookup_rowtype_tupdesc(row_type.0, row_type.1);
        let natts = usize::try_from((*tupdesc).natts).unwrap_or(0);
        if state.row_type != Some(row_type) {
            let attributes: Vec<(String, Oid)> = (0..natts)
                .map(|i| {
                    let att = &*(*tupdesc).attrs.as_ptr().add(i);
                    let name = if att.attisdropped {
                        String::new()
                    } else {
                        std::ffi::CStr::from_ptr(att.attname.data.as_ptr()).to_string_lossy().into_owned()
                    };
                    (name, att.atttypid)
                })
                .collect();
            match RowLayout::of(&attributes) {
                Ok(layout) => state.layout = Some(layout),
                Err(problem) => {
                    release_tupdesc(tupdesc);
                    error::raise(
                        PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
                        "packet_features",
                        format!("packet_features: {problem}"),
                        "Pass raw_packets rows, or rows with its column names and types (see packet_columns()).",
                    );
                }
            }
            state.row_type = Some(row_type);
        }
        let mut tuple: pg_sys::HeapTupleData = std::mem::zeroed();
        tuple.t_len = u32::try_from(pgrx::varlena::varsize_any(header.cast())).unwrap_or(0);
        tuple.t_data = header;
        let mut values = vec![Datum::from(0); natts];
        let mut nulls = vec![true; natts];
        pg_sys::heap_deform_tuple(&mut tuple, tupdesc, values.as_mut_ptr(), nulls.as_mut_ptr());
        release_tupdesc(tupdesc);

        let mut datums = std::mem::take(&mut state.datums);
        if let Some(layout) = &state.layout {
            layout.arrange(&values, &nulls, &mut datums);
        }
        let packet = DatumRow::packet(&datums);
        state.datums = datums;
        let micros = packet.timestamp_micros();
        if state.accumulator.packets() > 0 && micros < state.last_micros {
            error::raise(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                "packet_features",
                "packet_features needs packets in capture-time order",
                "Order the aggregate's input: packet_features(p, 5 ORDER BY ts).",
            );
        }
        state.last_micros = micros;
        state.accumulator.add(&packet);
    }
}

/// ReleaseTupleDesc(): only reference-counted descriptors are unpinned.
unsafe fn release_tupdesc(tupdesc: pg_sys::TupleDesc) {
    unsafe {
        if (*tupdesc).tdrefcount >= 0 {
            pg_sys::DecrTupleDescRefCount(tupdesc);
        }
    }
}
