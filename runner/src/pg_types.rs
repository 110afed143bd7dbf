//! Conversions between `spin:postgres/postgres@4.0.0` values and Postgres
//! types, exactly as Spin 4's host does them (spinframework/spin,
//! crates/factor-outbound-pg/src/types.rs), failures included:
//!
//! * `timestamp` and `timestamptz` columns are both read through a zone-less
//!   `NaiveDateTime`, which only accepts `timestamp`: reading `timestamptz`
//!   fails the query.
//! * a `datetime` parameter binds only to `timestamp`; a `timestamp`
//!   parameter (Unix seconds) binds only to `timestamptz`.
//! * anything without a mapping (e.g. `json`) is `db-value::unsupported` with
//!   the raw bytes.

use anyhow::{anyhow, Context, Result};
use postgres_range::{BoundSided, BoundType, Normalizable, Range, RangeBound};
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type};
use tokio_postgres::Row;

use crate::bindings::pg::{self as v4, DbDataType, DbValue, ParameterValue, RangeBoundKind};

/// The column type as Spin reports it.
pub fn convert_data_type(pg_type: &Type) -> DbDataType {
    match *pg_type {
        Type::BOOL => DbDataType::Boolean,
        Type::BYTEA => DbDataType::Binary,
        Type::FLOAT4 => DbDataType::Floating32,
        Type::FLOAT8 => DbDataType::Floating64,
        Type::INT2 => DbDataType::Int16,
        Type::INT4 => DbDataType::Int32,
        Type::INT8 => DbDataType::Int64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR => DbDataType::Str,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => DbDataType::Datetime,
        Type::DATE => DbDataType::Date,
        Type::TIME => DbDataType::Time,
        Type::UUID => DbDataType::Uuid,
        Type::JSONB => DbDataType::Jsonb,
        Type::NUMERIC => DbDataType::Decimal,
        Type::INT4_RANGE => DbDataType::RangeInt32,
        Type::INT8_RANGE => DbDataType::RangeInt64,
        Type::NUM_RANGE => DbDataType::RangeDecimal,
        Type::INT4_ARRAY => DbDataType::ArrayInt32,
        Type::INT8_ARRAY => DbDataType::ArrayInt64,
        Type::NUMERIC_ARRAY => DbDataType::ArrayDecimal,
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => DbDataType::ArrayStr,
        Type::INTERVAL => DbDataType::Interval,
        _ => DbDataType::Other(pg_type.name().to_owned()),
    }
}

fn value<'a, T: FromSql<'a>, W>(
    row: &'a Row,
    index: usize,
    ctor: impl Fn(W) -> DbValue,
    convert: impl Fn(T) -> Result<W>,
) -> Result<DbValue> {
    let value: Option<T> = row.try_get(index)?;
    Ok(match value {
        Some(v) => ctor(convert(v)?),
        None => DbValue::DbNull,
    })
}

fn same<T>(v: T) -> Result<T> {
    Ok(v)
}

/// One cell, as Spin converts it.
pub fn convert_entry(row: &Row, index: usize) -> Result<DbValue> {
    let column = &row.columns()[index];
    match *column.type_() {
        Type::BOOL => value(row, index, DbValue::Boolean, same::<bool>),
        Type::BYTEA => value(row, index, DbValue::Binary, same::<Vec<u8>>),
        Type::FLOAT4 => value(row, index, DbValue::Floating32, same::<f32>),
        Type::FLOAT8 => value(row, index, DbValue::Floating64, same::<f64>),
        Type::INT2 => value(row, index, DbValue::Int16, same::<i16>),
        Type::INT4 => value(row, index, DbValue::Int32, same::<i32>),
        Type::INT8 => value(row, index, DbValue::Int64, same::<i64>),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR => {
            value(row, index, DbValue::Str, same::<String>)
        }
        // Deliberately NaiveDateTime for both, as Spin does: `timestamptz` fails here.
        Type::TIMESTAMP | Type::TIMESTAMPTZ => {
            value(row, index, DbValue::Datetime, datetime_pg_to_wit)
        }
        Type::DATE => value(row, index, DbValue::Date, date_pg_to_wit),
        Type::TIME => value(row, index, DbValue::Time, time_pg_to_wit),
        Type::UUID => value(row, index, DbValue::Uuid, |v: uuid::Uuid| Ok(v.to_string())),
        Type::JSONB => value(row, index, DbValue::Jsonb, |v: serde_json::Value| {
            serde_json::to_vec(&v).context("invalid JSON from database")
        }),
        Type::NUMERIC => value(row, index, DbValue::Decimal, |v: rust_decimal::Decimal| {
            Ok(v.to_string())
        }),
        Type::INT4_RANGE => value(row, index, DbValue::RangeInt32, |r: Range<i32>| {
            Ok(range_pg_to_wit(r))
        }),
        Type::INT8_RANGE => value(row, index, DbValue::RangeInt64, |r: Range<i64>| {
            Ok(range_pg_to_wit(r))
        }),
        Type::NUM_RANGE => value(
            row,
            index,
            DbValue::RangeDecimal,
            |r: Range<RangeableDecimal>| Ok(decimal_range_pg_to_wit(r)),
        ),
        Type::INT4_ARRAY => value(row, index, DbValue::ArrayInt32, same::<Vec<Option<i32>>>),
        Type::INT8_ARRAY => value(row, index, DbValue::ArrayInt64, same::<Vec<Option<i64>>>),
        Type::NUMERIC_ARRAY => value(
            row,
            index,
            DbValue::ArrayDecimal,
            |v: Vec<Option<rust_decimal::Decimal>>| {
                Ok(v.iter().map(|d| d.map(|d| d.to_string())).collect())
            },
        ),
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => {
            value(row, index, DbValue::ArrayStr, same::<Vec<Option<String>>>)
        }
        Type::INTERVAL => value(row, index, DbValue::Interval, |v: Interval| Ok(v.0)),
        _ => value(row, index, DbValue::Unsupported, |v: Other| Ok(v.0)),
    }
}

pub fn convert_row(row: &Row) -> Result<Vec<DbValue>> {
    (0..row.len()).map(|i| convert_entry(row, i)).collect()
}

pub fn infer_columns(row: &Row) -> Vec<v4::Column> {
    row.columns()
        .iter()
        .map(|c| v4::Column {
            name: c.name().to_owned(),
            data_type: convert_data_type(c.type_()),
        })
        .collect()
}

pub type SqlParam = Box<dyn ToSql + Send + Sync>;

/// One parameter, as Spin binds it.
pub fn to_sql_parameter(value: &ParameterValue) -> Result<SqlParam> {
    Ok(match value {
        ParameterValue::Boolean(v) => Box::new(*v),
        ParameterValue::Int32(v) => Box::new(*v),
        ParameterValue::Int64(v) => Box::new(*v),
        ParameterValue::Int8(v) => Box::new(*v),
        ParameterValue::Int16(v) => Box::new(*v),
        ParameterValue::Floating32(v) => Box::new(*v),
        ParameterValue::Floating64(v) => Box::new(*v),
        ParameterValue::Str(v) => Box::new(v.clone()),
        ParameterValue::Binary(v) => Box::new(v.clone()),
        ParameterValue::Date((y, m, d)) => Box::new(
            chrono::NaiveDate::from_ymd_opt(*y, (*m).into(), (*d).into())
                .ok_or_else(|| anyhow!("invalid date y={y}, m={m}, d={d}"))?,
        ),
        ParameterValue::Time(t) => Box::new(time_wit_to_pg(t)?),
        ParameterValue::Datetime(v) => Box::new(datetime_wit_to_pg(v)?),
        ParameterValue::Timestamp(v) => Box::new(
            chrono::DateTime::<chrono::Utc>::from_timestamp(*v, 0)
                .ok_or_else(|| anyhow!("invalid epoch timestamp {v}"))?,
        ),
        ParameterValue::Uuid(v) => {
            Box::new(uuid::Uuid::parse_str(v).with_context(|| format!("invalid UUID {v}"))?)
        }
        ParameterValue::Jsonb(v) => Box::new(
            serde_json::from_slice::<serde_json::Value>(v)
                .with_context(|| format!("invalid JSON {}", String::from_utf8_lossy(v)))?,
        ),
        ParameterValue::Decimal(v) => Box::new(decimal(v)?),
        ParameterValue::RangeInt32(v) => Box::new(range_wit_to_pg(*v)?),
        ParameterValue::RangeInt64(v) => Box::new(range_wit_to_pg(*v)?),
        ParameterValue::RangeDecimal((lower, upper)) => {
            Box::new(Range::new(decimal_bound(lower)?, decimal_bound(upper)?))
        }
        ParameterValue::ArrayInt32(vs) => Box::new(vs.clone()),
        ParameterValue::ArrayInt64(vs) => Box::new(vs.clone()),
        ParameterValue::ArrayDecimal(vs) => Box::new(
            vs.iter()
                .map(|v| v.as_deref().map(decimal).transpose())
                .collect::<Result<Vec<_>>>()?,
        ),
        ParameterValue::ArrayStr(vs) => Box::new(vs.clone()),
        ParameterValue::Interval(v) => Box::new(Interval(*v)),
        ParameterValue::DbNull => Box::new(PgNull),
    })
}

pub fn to_sql_parameters(params: &[ParameterValue]) -> Result<Vec<SqlParam>> {
    params.iter().map(to_sql_parameter).collect()
}

fn decimal(v: &str) -> Result<rust_decimal::Decimal> {
    rust_decimal::Decimal::from_str_exact(v).with_context(|| format!("invalid decimal {v}"))
}

fn datetime_pg_to_wit(v: chrono::NaiveDateTime) -> Result<(i32, u8, u8, u8, u8, u8, u32)> {
    use chrono::{Datelike, Timelike};
    Ok((
        v.year(),
        v.month().try_into()?,
        v.day().try_into()?,
        v.hour().try_into()?,
        v.minute().try_into()?,
        v.second().try_into()?,
        v.nanosecond(),
    ))
}

fn datetime_wit_to_pg(
    (y, mon, d, h, min, s, ns): &(i32, u8, u8, u8, u8, u8, u32),
) -> Result<chrono::NaiveDateTime> {
    let date = chrono::NaiveDate::from_ymd_opt(*y, (*mon).into(), (*d).into())
        .ok_or_else(|| anyhow!("invalid date y={y}, m={mon}, d={d}"))?;
    let time = chrono::NaiveTime::from_hms_nano_opt((*h).into(), (*min).into(), (*s).into(), *ns)
        .ok_or_else(|| anyhow!("invalid time {h}:{min}:{s}:{ns}"))?;
    Ok(chrono::NaiveDateTime::new(date, time))
}

fn date_pg_to_wit(v: chrono::NaiveDate) -> Result<(i32, u8, u8)> {
    use chrono::Datelike;
    Ok((v.year(), v.month().try_into()?, v.day().try_into()?))
}

fn time_wit_to_pg((h, min, s, ns): &(u8, u8, u8, u32)) -> Result<chrono::NaiveTime> {
    chrono::NaiveTime::from_hms_nano_opt((*h).into(), (*min).into(), (*s).into(), *ns)
        .ok_or_else(|| anyhow!("invalid time {h}:{min}:{s}:{ns}"))
}

fn time_pg_to_wit(v: chrono::NaiveTime) -> Result<(u8, u8, u8, u32)> {
    use chrono::Timelike;
    Ok((
        v.hour().try_into()?,
        v.minute().try_into()?,
        v.second().try_into()?,
        v.nanosecond(),
    ))
}

// ---- ranges -----------------------------------------------------------------

type WitRange<T> = (Option<(T, RangeBoundKind)>, Option<(T, RangeBoundKind)>);

fn bound_type(kind: RangeBoundKind) -> BoundType {
    match kind {
        RangeBoundKind::Inclusive => BoundType::Inclusive,
        RangeBoundKind::Exclusive => BoundType::Exclusive,
    }
}

fn bound_kind(t: BoundType) -> RangeBoundKind {
    match t {
        BoundType::Inclusive => RangeBoundKind::Inclusive,
        BoundType::Exclusive => RangeBoundKind::Exclusive,
    }
}

/// Integer types whose range bounds `postgres_range` normalizes (it asserts
/// the bound is not `MAX` where it adds one, so that case is refused first).
trait Discrete: Copy + PartialOrd + Normalizable + std::fmt::Display {
    const MAX: Self;
}
impl Discrete for i32 {
    const MAX: Self = i32::MAX;
}
impl Discrete for i64 {
    const MAX: Self = i64::MAX;
}

fn range_wit_to_pg<T: Discrete>((lower, upper): WitRange<T>) -> Result<Range<T>> {
    if let Some((v, RangeBoundKind::Exclusive)) = lower {
        if v == T::MAX {
            anyhow::bail!("exclusive lower range bound {v} is out of range");
        }
    }
    if let Some((v, RangeBoundKind::Inclusive)) = upper {
        if v == T::MAX {
            anyhow::bail!("inclusive upper range bound {v} is out of range");
        }
    }
    Ok(Range::new(
        lower.map(|(v, k)| RangeBound::new(v, bound_type(k))),
        upper.map(|(v, k)| RangeBound::new(v, bound_type(k))),
    ))
}

/// One end of a decimal range parameter (the two ends differ in type only).
fn decimal_bound<S: BoundSided>(
    end: &Option<(String, RangeBoundKind)>,
) -> Result<Option<RangeBound<S, RangeableDecimal>>> {
    end.as_ref()
        .map(|(v, k)| {
            Ok(RangeBound::new(
                RangeableDecimal(decimal(v)?),
                bound_type(*k),
            ))
        })
        .transpose()
}

fn range_pg_to_wit<T: Copy + PartialOrd + Normalizable>(r: Range<T>) -> WitRange<T> {
    (
        r.lower().map(|b| (b.value, bound_kind(b.type_))),
        r.upper().map(|b| (b.value, bound_kind(b.type_))),
    )
}

fn decimal_range_pg_to_wit(r: Range<RangeableDecimal>) -> WitRange<String> {
    (
        r.lower()
            .map(|b| (b.value.0.to_string(), bound_kind(b.type_))),
        r.upper()
            .map(|b| (b.value.0.to_string(), bound_kind(b.type_))),
    )
}

/// A decimal usable in `numrange` (continuous: no normalization).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct RangeableDecimal(pub rust_decimal::Decimal);

impl Normalizable for RangeableDecimal {
    fn normalize<S: BoundSided>(bound: RangeBound<S, Self>) -> RangeBound<S, Self> {
        bound
    }
}

impl<'a> FromSql<'a> for RangeableDecimal {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Self(rust_decimal::Decimal::from_sql(ty, raw)?))
    }

    fn accepts(ty: &Type) -> bool {
        <rust_decimal::Decimal as FromSql>::accepts(ty)
    }
}

impl ToSql for RangeableDecimal {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        self.0.to_sql(ty, out)
    }

    fn accepts(ty: &Type) -> bool {
        <rust_decimal::Decimal as ToSql>::accepts(ty)
    }

    tokio_postgres::types::to_sql_checked!();
}

// ---- interval, null, other --------------------------------------------------

/// `interval` in Postgres' binary format: micros (i64), days (i32), months (i32).
#[derive(Debug)]
pub struct Interval(pub v4::Interval);

impl ToSql for Interval {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use bytes::BufMut;
        out.put_i64(self.0.micros);
        out.put_i32(self.0.days);
        out.put_i32(self.0.months);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }

    tokio_postgres::types::to_sql_checked!();
}

impl<'a> FromSql<'a> for Interval {
    fn from_sql(
        _ty: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let (micros, rest) = raw
            .split_first_chunk::<8>()
            .ok_or("unexpected binary format for Postgres INTERVAL")?;
        let (days, rest) = rest
            .split_first_chunk::<4>()
            .ok_or("unexpected binary format for Postgres INTERVAL")?;
        let months: [u8; 4] = rest
            .try_into()
            .map_err(|_| "unexpected binary format for Postgres INTERVAL")?;
        Ok(Self(v4::Interval {
            micros: i64::from_be_bytes(*micros),
            days: i32::from_be_bytes(*days),
            months: i32::from_be_bytes(months),
        }))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
}

/// SQL NULL for any parameter type.
#[derive(Debug)]
pub struct PgNull;

impl ToSql for PgNull {
    fn to_sql(
        &self,
        _ty: &Type,
        _out: &mut bytes::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        Ok(IsNull::Yes)
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

/// The raw bytes of a value of a type without a mapping.
pub struct Other(pub Vec<u8>);

impl<'a> FromSql<'a> for Other {
    fn from_sql(
        _ty: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Self(raw.to_vec()))
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }
}
