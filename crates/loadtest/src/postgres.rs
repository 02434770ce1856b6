//! The PostgreSQL database given with `--store`: reachable, local, empty; its size.

use crate::Fail;
use crate::processes::proc_stat;

/// The PostgreSQL server's postmaster (the parent of this connection's backend) and the
/// database's size in bytes.
pub(crate) async fn postgres_facts(url: &str) -> Result<(u32, u64), Fail> {
    let (client, connection) = connect_postgres(url).await?;
    let connection = tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT pg_backend_pid(), pg_database_size(current_database())",
            &[],
        )
        .await?;
    let backend: i32 = row.get(0);
    let size: i64 = row.get(1);
    // Read while the connection (so its backend) is still there.
    let postmaster = proc_stat(u32::try_from(backend)?)
        .map(|s| s.ppid)
        .ok_or("PostgreSQL's server processes are not on this machine (/proc): --store must name a local cluster")?;
    drop(client);
    let _ = connection.await;
    Ok((postmaster, u64::try_from(size)?))
}

async fn connect_postgres(
    url: &str,
) -> Result<
    (
        tokio_postgres::Client,
        tokio_postgres::Connection<tokio_postgres::Socket, tokio_postgres::tls::NoTlsStream>,
    ),
    Fail,
> {
    tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| {
            let cause = std::error::Error::source(&e).map(|c| format!(": {c}"));
            format!(
                "cannot reach the database given with --store: {e}{}",
                cause.unwrap_or_default()
            )
            .into()
        })
}

/// Refuses a database that is out of reach, on another machine (its server's CPU could
/// not be counted) or already holds a store (`migrate-store` would refuse it after the
/// sled half of the run).
pub(crate) async fn postgres_preflight(url: &str) -> Result<(), Fail> {
    postgres_facts(url).await?;
    let (client, connection) = connect_postgres(url).await?;
    let connection = tokio::spawn(connection);
    let has_store: bool = client
        .query_one("SELECT to_regclass('vault_meta') IS NOT NULL", &[])
        .await?
        .get(0);
    let holds_data = has_store
        && client
            .query_one("SELECT EXISTS (SELECT 1 FROM vault_meta)", &[])
            .await?
            .get::<_, bool>(0);
    drop(client);
    let _ = connection.await;
    if holds_data {
        return Err(
            "the database given with --store already holds a store: give an empty one (scripts/postgres.sh createdb DIR NAME)"
                .into(),
        );
    }
    Ok(())
}
