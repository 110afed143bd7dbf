//! The security event log: what happened to an account, when and from
//! where (never a token, password, code or hash). Most events are written
//! by the statement that makes the change they record (the session writes
//! in `sessions.rs` carry them on PostgreSQL); the rest go through
//! [`SqlStore::record_events`]. Both dialects list through one JSON shape,
//! read by one mapping.

use serde::Deserialize;

use super::db::{Db, Dialect};
use super::row::Value;
use super::{int, opt_text, text, Client, NewEvent, SecurityEvent, SqlStore};
use crate::error::StoreError;

/// Events and sessions listed by both dialects as one JSON array (an
/// aggregate: Postgres answers one row even for none).
#[derive(Deserialize)]
struct EventJson {
    id: i64,
    #[serde(rename = "type")]
    kind: String,
    at_us: i64,
    ip: Option<String>,
    user_agent: Option<String>,
    session_id: Option<String>,
}

/// Reads the one JSON column of a listing query.
pub(super) fn json_rows<T: for<'de> Deserialize<'de>>(
    rows: super::db::Rows,
    column: &str,
) -> Result<Vec<T>, StoreError> {
    let text = match rows.first() {
        Some(row) => row.text(column)?,
        None => return Ok(Vec::new()),
    };
    serde_json::from_str(&text)
        .map_err(|e| StoreError::Unavailable(format!("{column}: unreadable listing: {e}")))
}

/// The parameters of one event row: user, type, ip, user agent, session.
pub(super) fn event_values(
    user_id: &str,
    kind: &str,
    client: &Client,
    session_id: Option<&str>,
) -> [Value; 5] {
    [
        text(user_id),
        text(kind),
        opt_text(client.ip.as_deref()),
        opt_text(client.user_agent.as_deref()),
        opt_text(session_id),
    ]
}

impl<D: Db> SqlStore<D> {
    pub(super) fn record_events(&self, events: &[NewEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut params = Vec::new();
        let mut rows = Vec::new();
        for event in events {
            let values = event_values(
                &event.user_id,
                event.kind.as_str(),
                &event.client,
                event.session_id.as_deref(),
            );
            let n = params.len();
            rows.push(match self.dialect() {
                Dialect::Postgres => format!(
                    "(${}::text::uuid, ${}, ${}, ${}, ${}::text::uuid)",
                    n + 1,
                    n + 2,
                    n + 3,
                    n + 4,
                    n + 5
                ),
                Dialect::Sqlite => format!(
                    "(?{}, ?{}, ?{}, ?{}, ?{}, ?{})",
                    n + 1,
                    n + 2,
                    n + 3,
                    n + 4,
                    n + 5,
                    n + 6
                ),
            });
            params.extend(values);
            if self.dialect() == Dialect::Sqlite {
                params.push(self.now());
            }
        }
        let columns = match self.dialect() {
            Dialect::Postgres => "(user_id, type, ip, user_agent, session_id)",
            Dialect::Sqlite => "(user_id, type, ip, user_agent, session_id, at)",
        };
        self.execute(
            &format!(
                "INSERT INTO security_events {columns} VALUES {}",
                rows.join(", ")
            ),
            &params,
        )?;
        Ok(())
    }

    pub(super) fn list_events(
        &self,
        user_id: &str,
        before_id: Option<i64>,
        limit: u32,
        retention_secs: u64,
    ) -> Result<Vec<SecurityEvent>, StoreError> {
        let before = Value::Int(before_id.unwrap_or(i64::MAX));
        let limit = Value::Int(i64::from(limit));
        let rows = match self.dialect() {
            Dialect::Postgres => self.query(
                "SELECT COALESCE(jsonb_agg(jsonb_build_object('id', e.id, 'type', e.type, \
                   'at_us', (extract(epoch from e.at) * 1000000)::int8, 'ip', e.ip, \
                   'user_agent', e.user_agent, 'session_id', e.session_id::text) \
                   ORDER BY e.id DESC), '[]'::jsonb)::text AS events \
                 FROM (SELECT * FROM security_events WHERE user_id = $1::text::uuid \
                   AND id < $2 AND at > now() - $4::int8 * interval '1 second' \
                   ORDER BY id DESC LIMIT $3) AS e",
                &[text(user_id), before, limit, int(retention_secs)],
            )?,
            Dialect::Sqlite => self.query(
                "SELECT coalesce(json_group_array(json_object('id', id, 'type', type, \
                   'at_us', at, 'ip', ip, 'user_agent', user_agent, 'session_id', session_id)), \
                   '[]') AS events \
                 FROM (SELECT * FROM security_events WHERE user_id = ?1 AND id < ?2 \
                   AND at > ?5 - ?4 ORDER BY id DESC LIMIT ?3)",
                &[
                    text(user_id),
                    before,
                    limit,
                    super::secs_to_us(retention_secs),
                    self.now(),
                ],
            )?,
        };
        Ok(json_rows::<EventJson>(rows, "events")?
            .into_iter()
            .map(|e| SecurityEvent {
                id: e.id,
                kind: e.kind,
                at_us: e.at_us,
                ip: e.ip,
                user_agent: e.user_agent,
                session_id: e.session_id,
            })
            .collect())
    }
}
