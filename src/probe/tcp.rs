//! TCP checks (goss's `addr`): a connection to host:port within a timeout
//! (MQTT on 1883, PostgreSQL on 5432, reached from the host as clients do).

use std::time::Instant;

use crate::grade::{CheckResult, Status};
use crate::human;
use crate::runbook::model::TcpCheck;
use crate::runbook::units;

use super::exec::failed;
use super::value::Graded;
use super::{DEFAULT_TIMEOUT, Probe};

impl Probe<'_> {
    pub async fn tcp(&self, name: &str, check: &TcpCheck, hint: Option<&str>) -> CheckResult {
        let started = Instant::now();
        let timeout = check.timeout.map_or(DEFAULT_TIMEOUT, |t| t.std());
        let address = format!("{}:{}", check.host, check.port.value);
        let connect = tokio::net::TcpStream::connect(address.as_str());
        let graded = match tokio::time::timeout(timeout, connect).await {
            Ok(Ok(_)) => Graded {
                status: Status::Ok,
                message: format!(
                    "{address} accepts connections ({})",
                    human::latency(started.elapsed())
                ),
                figure: None,
            },
            Ok(Err(e)) => failed(format!("{address}: {e}")),
            Err(_) => failed(format!(
                "{address}: no connection within {}",
                units::Duration(timeout)
            )),
        };
        self.finish(name, graded, hint, started)
    }
}
