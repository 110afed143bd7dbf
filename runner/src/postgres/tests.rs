//! Value mapping round-tripped through a real Postgres at 127.0.0.1:5432
//! (user `postgres`, trust auth). Each test creates its own database and
//! drops it at the end, even on failure.

use super::*;
use crate::bindings::pg::{Column, DbDataType, DbValue, Interval, RangeBoundKind};

const SERVER: &str = "postgres://postgres@127.0.0.1:5432";

/// A throwaway database, dropped (forcibly) when the guard goes away.
struct TestDb {
    name: String,
}

impl TestDb {
    async fn create() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!("spin_runner_test_{}_{nanos}", std::process::id());
        let admin = admin_client().await;
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("CREATE DATABASE");
        TestDb { name }
    }

    fn url(&self) -> String {
        format!("{SERVER}/{}?sslmode=disable", self.name)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let admin = admin_client().await;
                let _ = admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await;
            });
        })
        .join();
    }
}

async fn admin_client() -> tokio_postgres::Client {
    let config: tokio_postgres::Config = format!("{SERVER}/postgres?sslmode=disable")
        .parse()
        .expect("admin url");
    connect(&config)
        .await
        .expect("these tests need PostgreSQL at 127.0.0.1:5432 (user postgres, trust auth)")
}

fn host(strict: bool) -> PgHost {
    PgHost::new(
        AllowedHosts::parse(&["postgres://127.0.0.1:5432".to_owned()]).expect("allowed hosts"),
        strict,
    )
}

fn query_text(e: &v4::Error) -> String {
    match e {
        v4::Error::QueryFailed(QueryError::Text(t)) => t.clone(),
        other => panic!("expected query-failed(text), got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_round_trip_like_spin() {
    let db = TestDb::create().await;
    let pg = host(false);
    let conn = pg.open(&db.url()).await.expect("open");

    pg.execute(
        &conn,
        "CREATE TABLE t (
            b bool, i2 int2, i4 int4, i8 int8, f4 float4, f8 float8,
            s text, vc varchar(10), bp char(3), by bytea,
            d date, tm time, ts timestamp, tstz timestamptz,
            u uuid, jb jsonb, j json, n numeric,
            r4 int4range, r8 int8range, rn numrange,
            a4 int4[], a8 int8[], an numeric[], at text[],
            iv interval, nul text
        )",
        &[],
    )
    .await
    .expect("create table");

    let params = vec![
        ParameterValue::Boolean(true),
        ParameterValue::Int16(-7),
        ParameterValue::Int32(123_456),
        ParameterValue::Int64(9_000_000_000),
        ParameterValue::Floating32(1.5),
        ParameterValue::Floating64(-2.25),
        ParameterValue::Str("héllo".into()),
        ParameterValue::Str("short".into()),
        ParameterValue::Str("ab".into()),
        ParameterValue::Binary(vec![0, 1, 254, 255]),
        ParameterValue::Date((2024, 2, 29)),
        ParameterValue::Time((13, 14, 15, 500_000_000)),
        ParameterValue::Datetime((2024, 2, 29, 13, 14, 15, 0)),
        ParameterValue::Timestamp(1_700_000_000),
        ParameterValue::Uuid("a1a2a3a4-b1b2-c1c2-d1d2-d3d4d5d6d7d8".into()),
        ParameterValue::Jsonb(br#"{"a":[1,2,{"b":null}]}"#.to_vec()),
        ParameterValue::Str(r#"{"x": 1}"#.into()),
        ParameterValue::Decimal("12345.6789".into()),
        ParameterValue::RangeInt32((
            Some((1, RangeBoundKind::Inclusive)),
            Some((10, RangeBoundKind::Inclusive)),
        )),
        ParameterValue::RangeInt64((Some((5, RangeBoundKind::Exclusive)), None)),
        ParameterValue::RangeDecimal((
            Some(("1.5".into(), RangeBoundKind::Inclusive)),
            Some(("2.5".into(), RangeBoundKind::Exclusive)),
        )),
        ParameterValue::ArrayInt32(vec![Some(1), None, Some(3)]),
        ParameterValue::ArrayInt64(vec![Some(-1), Some(i64::MAX)]),
        ParameterValue::ArrayDecimal(vec![Some("0.1".into()), None]),
        ParameterValue::ArrayStr(vec![Some("x".into()), None, Some("".into())]),
        ParameterValue::Interval(Interval {
            micros: 1_500_000,
            days: 3,
            months: 14,
        }),
        ParameterValue::DbNull,
    ];
    let placeholders = (1..=params.len())
        .map(|i| {
            // `json` has no parameter type of its own in Spin: bind text and cast.
            if i == 17 {
                format!("${i}::text::json")
            } else {
                format!("${i}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let inserted = pg
        .execute(
            &conn,
            &format!("INSERT INTO t VALUES ({placeholders})"),
            &params,
        )
        .await
        .expect("insert every type");
    assert_eq!(inserted, 1);

    // Everything but timestamptz (which Spin cannot read) and json.
    let rs = pg
        .query(
            &conn,
            "SELECT b, i2, i4, i8, f4, f8, s, vc, bp, by, d, tm, ts, u, jb, n,
                    r4, r8, rn, a4, a8, an, at, iv, nul, j
             FROM t",
            &[],
        )
        .await
        .expect("select");
    let types: Vec<DbDataType> = rs.columns.iter().map(|c| c.data_type.clone()).collect();
    assert_eq!(
        types,
        vec![
            DbDataType::Boolean,
            DbDataType::Int16,
            DbDataType::Int32,
            DbDataType::Int64,
            DbDataType::Floating32,
            DbDataType::Floating64,
            DbDataType::Str,
            DbDataType::Str,
            DbDataType::Str,
            DbDataType::Binary,
            DbDataType::Date,
            DbDataType::Time,
            DbDataType::Datetime,
            DbDataType::Uuid,
            DbDataType::Jsonb,
            DbDataType::Decimal,
            DbDataType::RangeInt32,
            DbDataType::RangeInt64,
            DbDataType::RangeDecimal,
            DbDataType::ArrayInt32,
            DbDataType::ArrayInt64,
            DbDataType::ArrayDecimal,
            DbDataType::ArrayStr,
            DbDataType::Interval,
            DbDataType::Str,
            DbDataType::Other("json".into()),
        ]
    );
    assert_eq!(
        rs.columns[0],
        Column {
            name: "b".into(),
            data_type: DbDataType::Boolean
        }
    );
    assert_eq!(rs.rows.len(), 1);
    let row = &rs.rows[0];
    let expected = vec![
        DbValue::Boolean(true),
        DbValue::Int16(-7),
        DbValue::Int32(123_456),
        DbValue::Int64(9_000_000_000),
        DbValue::Floating32(1.5),
        DbValue::Floating64(-2.25),
        DbValue::Str("héllo".into()),
        DbValue::Str("short".into()),
        DbValue::Str("ab ".into()),
        DbValue::Binary(vec![0, 1, 254, 255]),
        DbValue::Date((2024, 2, 29)),
        DbValue::Time((13, 14, 15, 500_000_000)),
        DbValue::Datetime((2024, 2, 29, 13, 14, 15, 0)),
        DbValue::Uuid("a1a2a3a4-b1b2-c1c2-d1d2-d3d4d5d6d7d8".into()),
        DbValue::Jsonb(br#"{"a":[1,2,{"b":null}]}"#.to_vec()),
        DbValue::Decimal("12345.6789".into()),
        // Postgres normalizes discrete ranges to [lower, upper).
        DbValue::RangeInt32((
            Some((1, RangeBoundKind::Inclusive)),
            Some((11, RangeBoundKind::Exclusive)),
        )),
        DbValue::RangeInt64((Some((6, RangeBoundKind::Inclusive)), None)),
        DbValue::RangeDecimal((
            Some(("1.5".into(), RangeBoundKind::Inclusive)),
            Some(("2.5".into(), RangeBoundKind::Exclusive)),
        )),
        DbValue::ArrayInt32(vec![Some(1), None, Some(3)]),
        DbValue::ArrayInt64(vec![Some(-1), Some(i64::MAX)]),
        DbValue::ArrayDecimal(vec![Some("0.1".into()), None]),
        DbValue::ArrayStr(vec![Some("x".into()), None, Some("".into())]),
        DbValue::Interval(Interval {
            micros: 1_500_000,
            days: 3,
            months: 14,
        }),
        DbValue::DbNull,
        // `json` is not mapped: Spin hands back the raw bytes.
        DbValue::Unsupported(br#"{"x": 1}"#.to_vec()),
    ];
    assert_eq!(row, &expected);

    // The `timestamp` parameter (Unix seconds) landed in the timestamptz column.
    let rs = pg
        .query(
            &conn,
            "SELECT extract(epoch FROM tstz)::int8 AS e FROM t",
            &[],
        )
        .await
        .expect("epoch");
    assert_eq!(rs.rows, vec![vec![DbValue::Int64(1_700_000_000)]]);

    // NULLs of every type come back as db-null.
    pg.execute(&conn, "INSERT INTO t (b) VALUES (NULL)", &[])
        .await
        .expect("insert nulls");
    let rs = pg
        .query(
            &conn,
            "SELECT i4, ts, u, jb, a4, iv FROM t WHERE b IS NULL",
            &[],
        )
        .await
        .expect("select nulls");
    assert_eq!(rs.rows, vec![vec![DbValue::DbNull; 6]]);

    // Parameters used in a WHERE clause.
    let rs = pg
        .query(
            &conn,
            "SELECT count(*) FROM t WHERE u = $1 AND jb @> $2",
            &[
                ParameterValue::Uuid("a1a2a3a4-b1b2-c1c2-d1d2-d3d4d5d6d7d8".into()),
                ParameterValue::Jsonb(br#"{"a":[1]}"#.to_vec()),
            ],
        )
        .await
        .expect("where");
    assert_eq!(rs.rows, vec![vec![DbValue::Int64(1)]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_match_spin() {
    let db = TestDb::create().await;
    let pg = host(false);
    let conn = pg.open(&db.url()).await.expect("open");

    // Reading timestamptz fails (zone-less NaiveDateTime only accepts timestamp).
    let e = pg
        .query(&conn, "SELECT now() AS at", &[])
        .await
        .expect_err("timestamptz read must fail");
    assert!(
        query_text(&e).to_lowercase().contains("timestamptz"),
        "{e:?}"
    );

    // ...but a timestamp column reads fine.
    let rs = pg
        .query(&conn, "SELECT '2020-01-02 03:04:05'::timestamp AS at", &[])
        .await
        .expect("timestamp read");
    assert_eq!(
        rs.rows,
        vec![vec![DbValue::Datetime((2020, 1, 2, 3, 4, 5, 0))]]
    );

    pg.execute(
        &conn,
        "CREATE TABLE tz (at timestamptz, nat timestamp)",
        &[],
    )
    .await
    .expect("create");
    // A datetime parameter binds only to timestamp...
    let e = pg
        .execute(
            &conn,
            "INSERT INTO tz (at) VALUES ($1)",
            &[ParameterValue::Datetime((2020, 1, 2, 3, 4, 5, 0))],
        )
        .await
        .expect_err("datetime into timestamptz must fail");
    assert!(
        query_text(&e).to_lowercase().contains("timestamptz"),
        "{e:?}"
    );
    // ...and a timestamp parameter only to timestamptz.
    let e = pg
        .execute(
            &conn,
            "INSERT INTO tz (nat) VALUES ($1)",
            &[ParameterValue::Timestamp(0)],
        )
        .await
        .expect_err("timestamp into timestamp must fail");
    assert!(query_text(&e).to_lowercase().contains("timestamp"), "{e:?}");

    // A bad parameter value: bad-parameter for query, value-conversion-failed for execute.
    let e = pg
        .query(
            &conn,
            "SELECT $1::uuid",
            &[ParameterValue::Uuid("nope".into())],
        )
        .await
        .expect_err("bad uuid");
    assert!(
        matches!(e, v4::Error::BadParameter(ref m) if m.contains("invalid UUID")),
        "{e:?}"
    );
    let e = pg
        .execute(
            &conn,
            "SELECT $1::jsonb",
            &[ParameterValue::Jsonb(b"{".to_vec())],
        )
        .await
        .expect_err("bad json");
    assert!(matches!(e, v4::Error::ValueConversionFailed(_)), "{e:?}");
    // A range bound postgres_range would panic on is refused instead.
    let e = pg
        .query(
            &conn,
            "SELECT $1::int4range",
            &[ParameterValue::RangeInt32((
                None,
                Some((i32::MAX, RangeBoundKind::Inclusive)),
            ))],
        )
        .await
        .expect_err("range bound");
    assert!(matches!(e, v4::Error::BadParameter(_)), "{e:?}");

    // Database errors carry the SQLSTATE and details.
    pg.execute(
        &conn,
        "CREATE TABLE u (email text CONSTRAINT u_email UNIQUE)",
        &[],
    )
    .await
    .expect("create");
    let insert = "INSERT INTO u VALUES ($1)";
    let email = [ParameterValue::Str("a@b.c".into())];
    pg.execute(&conn, insert, &email)
        .await
        .expect("first insert");
    match pg.execute(&conn, insert, &email).await {
        Err(v4::Error::QueryFailed(QueryError::DbError(dbe))) => {
            assert_eq!(dbe.code, "23505");
            assert_eq!(dbe.severity, "ERROR");
            assert!(dbe.message.contains("u_email"), "{dbe:?}");
            assert!(
                dbe.detail.as_deref().unwrap_or("").contains("a@b.c"),
                "{dbe:?}"
            );
            assert!(
                dbe.extras
                    .contains(&("constraint".into(), "u_email".into())),
                "{dbe:?}"
            );
            assert!(
                dbe.as_text.contains("23505") || dbe.as_text.contains("UniqueViolation"),
                "{dbe:?}"
            );
        }
        other => panic!("expected a db-error, got {other:?}"),
    }
    // Through `query` (INSERT ... RETURNING) the violation arrives while the
    // rows are read, and Spin 4 hands the guest its text only.
    match pg
        .query(&conn, "INSERT INTO u VALUES ($1) RETURNING email", &email)
        .await
    {
        Err(v4::Error::QueryFailed(QueryError::Text(text))) => {
            assert!(text.contains("23505"), "{text}")
        }
        other => panic!("expected a text error, got {other:?}"),
    }

    // Not strict: zero rows is an empty row set (as Spin 3 did).
    let rs = pg
        .query(&conn, "SELECT email FROM u WHERE false", &[])
        .await
        .expect("zero rows");
    assert!(rs.rows.is_empty() && rs.columns.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_mode_refuses_zero_row_queries_only() {
    let db = TestDb::create().await;
    let pg = host(true);
    let conn = pg.open(&db.url()).await.expect("open");
    let e = pg
        .query(&conn, "SELECT 1 AS one\nWHERE false", &[])
        .await
        .expect_err("zero rows in strict mode");
    assert_eq!(
        query_text(&e),
        "strict mode: query returned zero rows; on Spin 4.0.x this query would never return"
    );
    let rs = pg
        .query(&conn, "SELECT 1 AS one", &[])
        .await
        .expect("one row");
    assert_eq!(rs.rows, vec![vec![DbValue::Int32(1)]]);
    // execute is unaffected.
    assert_eq!(
        pg.execute(&conn, "CREATE TABLE e (x int)", &[])
            .await
            .expect("execute"),
        0
    );
    assert_eq!(
        pg.execute(&conn, "UPDATE e SET x = 1", &[])
            .await
            .expect("execute"),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_gated_and_failures_are_errors() {
    let pg = host(false);
    // Not in allowed_outbound_hosts: refused before connecting.
    let Err(e) = pg.open("postgres://postgres@10.255.255.1:5432/x").await else {
        panic!("a denied host must not connect");
    };
    assert_eq!(
        e,
        v4::Error::ConnectionFailed("address postgres://10.255.255.1:5432 is not permitted".into())
    );
    let Err(e) = pg
        .open("host=example.com user=postgres dbname=x port=5432")
        .await
    else {
        panic!("a denied host must not connect");
    };
    assert_eq!(
        e,
        v4::Error::ConnectionFailed("address postgres://example.com:5432 is not permitted".into())
    );
    // Another port on an allowed host is not allowed either.
    assert!(pg
        .open("postgres://postgres@127.0.0.1:5433/x")
        .await
        .is_err());

    // Allowed but nothing listening: a connection error, quickly.
    let down = PgHost::new(
        AllowedHosts::parse(&["postgres://127.0.0.1:1".to_owned()]).expect("hosts"),
        false,
    );
    let start = std::time::Instant::now();
    let Err(e) = down
        .open("postgres://postgres@127.0.0.1:1/x?sslmode=disable")
        .await
    else {
        panic!("nothing listens on port 1");
    };
    assert!(matches!(e, v4::Error::ConnectionFailed(_)), "{e:?}");
    assert!(start.elapsed() < Duration::from_secs(8));

    // Pools are shared per address: two opens reuse one pool.
    let db = TestDb::create().await;
    let a = pg.open(&db.url()).await.expect("open a");
    drop(a);
    let _b = pg.open(&db.url()).await.expect("open b");
    let pools = pg.pools.lock().map(|p| p.len()).unwrap_or(0);
    assert_eq!(pools, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_is_honoured() {
    // `disable` works (the other tests); without server TLS `require` fails
    // and `prefer` falls back; with it, an unverifiable certificate fails.
    let db = TestDb::create().await;
    let pg = host(false);
    let require = format!("{SERVER}/{}?sslmode=require", db.name);
    let tls_on = admin_client()
        .await
        .query_one("SHOW ssl", &[])
        .await
        .map(|r| r.get::<_, String>(0) == "on")
        .unwrap_or(false);
    let prefer = format!("{SERVER}/{}?sslmode=prefer", db.name);
    if tls_on {
        // The server's certificate does not name 127.0.0.1 (or chains to no
        // system root): verification fails for `require` and `prefer` alike.
        assert!(pg.open(&require).await.is_err());
        assert!(pg.open(&prefer).await.is_err());
    } else {
        assert!(pg.open(&require).await.is_err());
        pg.open(&prefer).await.expect("prefer falls back to plain");
    }
}
