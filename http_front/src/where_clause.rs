//! WHERE clauses built from the filters a request sets. Each combination of filters is its own
//! statement (prepared and cached per connection) whose WHERE clause names only what is set:
//! the `($1 IS NULL OR col = $1)` form hides every index from a plan made for all values. The
//! combinations are few (values are bound, never written into the SQL), so the cache stays
//! small; and connections are replaced after DB_CONNECTION_MAX_AGE_SECS.

use tokio_postgres::types::ToSql;

pub type Param = Box<dyn ToSql + Sync + Send>;

#[derive(Default)]
pub struct Where {
    conditions: Vec<String>,
    params: Vec<Param>,
}

impl Where {
    pub fn new() -> Self {
        Where::default()
    }

    /// Binds a value; returns its placeholder (`$n`) for use in a condition.
    pub fn bind<T: ToSql + Sync + Send + 'static>(&mut self, value: T) -> String {
        self.params.push(Box::new(value));
        format!("${}", self.params.len())
    }

    /// Adds a condition, ANDed with the others.
    pub fn and(&mut self, condition: impl Into<String>) {
        self.conditions.push(condition.into());
    }

    /// When `value` is given: binds it and adds `condition` of its placeholder.
    pub fn and_if<T: ToSql + Sync + Send + 'static>(
        &mut self,
        value: Option<T>,
        condition: impl FnOnce(&str) -> String,
    ) {
        if let Some(value) = value {
            let p = self.bind(value);
            self.and(condition(&p));
        }
    }

    /// `WHERE a AND b ...`, or nothing when no filter is set.
    pub fn clause(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.conditions.join(" AND "))
        }
    }

    pub fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect()
    }
}

/// Runs `sql` (built with `filter`'s placeholders) as a cached prepared statement.
pub async fn rows(
    client: &deadpool_postgres::Client,
    sql: &str,
    filter: &Where,
) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
    let statement = client.prepare_cached(sql).await?;
    client.query(&statement, &filter.params()).await
}

/// Runs `sql` as a statement prepared for this call only (closed when it is done): for
/// statements that take too many shapes to cache.
pub async fn rows_uncached(
    client: &deadpool_postgres::Client,
    sql: &str,
    filter: &Where,
) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
    client.query(sql, &filter.params()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_filters_set_are_in_the_statement() {
        let mut q = Where::new();
        assert_eq!(q.clause(), "");
        let ip = q.bind("10.0.0.1".to_string());
        q.and(format!("(src_ip = {ip} OR dst_ip = {ip})"));
        q.and_if(Some(80i32), |p| format!("dst_port = {p}"));
        q.and_if(None::<i32>, |p| format!("src_port = {p}"));
        assert_eq!(q.clause(), "WHERE (src_ip = $1 OR dst_ip = $1) AND dst_port = $2");
        assert_eq!(q.params().len(), 2);
    }
}
