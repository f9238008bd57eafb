//! Finding a page of stored packets, newest first, by address, port, protocol and time.
//!
//! Two ways: along the primary key (ts, id) newest first, filtering as it goes, which reads
//! about `page / share` rows for a filter matching a `share` of them; or through the BRIN bloom
//! indexes on addresses and ports, which read the summaries and then every ~440-packet range
//! that may hold the address or port, then sort. A common host is found fast the first way, a
//! rare one only the second. PostgreSQL 15 costs a bloom BRIN as if it read the whole table
//! (its model assumes the column follows the table's physical order), so it never picks it;
//! its row estimates are good, though, so we ask for them and choose by rows read
//! (docs/design.md#packet-storage).

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use crate::error::ApiError;
use crate::filters::{check_text, invalid, parse_ip, parse_time};
use crate::paging::Cursor;
use crate::where_clause::Where;

/// Packets per BRIN range: 8 pages of ~55 packets.
const PACKETS_PER_RANGE: f64 = 440.0;

#[derive(Debug, Default)]
pub struct PacketFilters {
    /// Either side.
    pub ip: Option<IpAddr>,
    /// Either side.
    pub port: Option<i32>,
    /// Case-insensitive.
    pub protocol: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// The last packet of the previous page.
    pub after: Option<Cursor>,
}

/// The filters as a request gives them, before they are checked: the API's and the page's alike.
#[derive(Debug, Default, Clone, Copy)]
pub struct PacketParams<'a> {
    pub ip: Option<&'a str>,
    pub port: Option<i32>,
    pub protocol: Option<&'a str>,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub cursor: Option<&'a str>,
}

impl PacketFilters {
    /// The filters, checked: a 422 names the first one that is wrong.
    pub fn parse(p: PacketParams<'_>) -> Result<Self, ApiError> {
        if let Some(port) = p.port.filter(|p| !(0..=65_535).contains(p)) {
            return Err(invalid("port", format!("port must be from 0 to 65535, got {port}")));
        }
        check_text("protocol", p.protocol)?;
        Ok(PacketFilters {
            ip: parse_ip(p.ip)?,
            port: p.port,
            protocol: p.protocol.map(str::to_string),
            from: parse_time("from", p.from)?,
            to: parse_time("to", p.to)?,
            after: crate::paging::cursor(p.cursor)?,
        })
    }

    /// The conditions; `only_time`: those on time alone (how many packets a scan by time sees).
    fn conditions(&self, only_time: bool) -> Where {
        let mut q = Where::new();
        if !only_time {
            q.and_if(self.ip, |p| format!("(src_ip = {p} OR dst_ip = {p})"));
            q.and_if(self.port, |p| format!("(src_port = {p} OR dst_port = {p})"));
            q.and_if(self.protocol.clone(), |p| format!("upper(protocol) = upper({p})"));
        }
        q.and_if(self.from, |p| format!("ts >= {p}"));
        q.and_if(self.to, |p| format!("ts < {p}"));
        if let Some(c) = &self.after {
            let (at, id) = (q.bind(c.at), q.bind(c.id));
            q.and(format!("ts <= {at} AND (ts, id) < ({at}, {id})"));
        }
        q
    }

    /// `columns` of the newest `limit` packets that match.
    pub async fn search(
        &self,
        client: &mut deadpool_postgres::Client,
        columns: &str,
        limit: i64,
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        let mut q = self.conditions(false);
        let limit_param = q.bind(limit);
        let sql =
            format!("SELECT {columns} FROM raw_packets {} ORDER BY ts DESC, id DESC LIMIT {limit_param}", q.clause());
        if !self.through_endpoint_index(client, limit as f64).await? {
            return crate::where_clause::rows(client, &sql, &q).await;
        }
        let tx = client.transaction().await?;
        // Leaves the planner bitmap scans only, i.e. the endpoint index.
        tx.batch_execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off").await?;
        let statement = tx.prepare_cached(&sql).await?;
        let rows = tx.query(&statement, &q.params()).await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Whether the endpoint index reads fewer rows than a scan by time for this page.
    async fn through_endpoint_index(
        &self,
        client: &deadpool_postgres::Client,
        page: f64,
    ) -> Result<bool, tokio_postgres::Error> {
        if self.ip.is_none() && self.port.is_none() {
            return Ok(false);
        }
        let matching = estimated_rows(client, &self.conditions(false)).await?;
        let seen = estimated_rows(client, &self.conditions(true)).await?;
        let along_time = seen * (page / matching.max(1.0)).min(1.0);
        let through_index = (matching * PACKETS_PER_RANGE).min(seen);
        let indexed = through_index < along_time;
        tracing::debug!(
            matching,
            seen,
            along_time,
            through_index,
            "packet search {}",
            if indexed { "through the address and port indexes" } else { "by time" }
        );
        Ok(indexed)
    }
}

/// The planner's estimate of the packets `conditions` select.
async fn estimated_rows(client: &deadpool_postgres::Client, conditions: &Where) -> Result<f64, tokio_postgres::Error> {
    let sql = format!("EXPLAIN (FORMAT JSON) SELECT 1 FROM raw_packets {}", conditions.clause());
    let statement = client.prepare_cached(&sql).await?;
    let plan: serde_json::Value = client.query_one(&statement, &conditions.params()).await?.get("QUERY PLAN");
    Ok(plan[0]["Plan"]["Plan Rows"].as_f64().unwrap_or(f64::MAX))
}
