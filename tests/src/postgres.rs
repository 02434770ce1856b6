//! PostgreSQL for the tests: the cluster `OMADATA_TEST_POSTGRES` names (`scripts/test.sh`
//! starts one), else a private one started here with `scripts/postgres.sh` (left running
//! for the next test process; `scripts/postgres.sh stop` ends it). Each test gets a fresh
//! database of its own.

use crate::Fail;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The environment variable naming a started test cluster's directory.
pub const CLUSTER_ENV: &str = "OMADATA_TEST_POSTGRES";

/// The environment variable that runs every [`crate::Gateway`] on PostgreSQL.
pub const STORE_ENV: &str = "OMADATA_TEST_STORE";

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/postgres.sh")
}

/// The cluster's directory, started once per test process.
fn cluster() -> Result<PathBuf, Fail> {
    static CLUSTER: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    CLUSTER
        .get_or_init(|| {
            let dir = match std::env::var_os(CLUSTER_ENV) {
                Some(dir) => PathBuf::from(dir),
                None => std::env::temp_dir().join(format!(
                    "omadata-test-postgres-{}",
                    rustix::process::getuid().as_raw()
                )),
            };
            let output = Command::new(script())
                .arg("start")
                .arg(&dir)
                .output()
                .map_err(|e| format!("scripts/postgres.sh: {e}"))?;
            if !output.status.success() {
                return Err(format!(
                    "scripts/postgres.sh start failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
            Ok(dir)
        })
        .clone()
        .map_err(Into::into)
}

/// A new, empty database; its connection string.
pub fn fresh_database() -> Result<String, Fail> {
    let dir = cluster()?;
    let name = format!("omadata_test_{}", uuid::Uuid::new_v4().simple());
    let output = Command::new(script())
        .arg("createdb")
        .arg(&dir)
        .arg(&name)
        .output()?;
    if !output.status.success() {
        return Err(format!(
            "createdb {name}: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(String::from_utf8(output.stdout)?.trim().to_owned())
}

/// Whether this test run puts every gateway on PostgreSQL.
pub fn gateways_on_postgres() -> bool {
    std::env::var(STORE_ENV).is_ok_and(|v| v == "postgres")
}
