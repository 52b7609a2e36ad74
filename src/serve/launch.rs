//! The agent as `opsbook serve [--listen ADDR] [--token-file FILE]` starts
//! it: the runbook (or, over a fleet, every selected host's) loaded, the
//! token read, and the agents run until a signal stops them. The token
//! comes from `$OPSBOOK_SERVE_TOKEN` (or `$OPSBOOK_TOKEN`) or the file; an
//! empty one is refused, and listening beyond loopback needs one.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::error::Error;
use crate::grade::{CheckResult, Status};
use crate::render::Report;
use crate::runbook::{self, Source};

/// Where the token may come from: DESIGN.md's name first, then
/// `OPSBOOK_TOKEN` as the first release read it. Scheduled runs are not
/// given either (`jobs`).
pub(crate) const TOKEN_VARIABLES: [&str; 2] = ["OPSBOOK_SERVE_TOKEN", "OPSBOOK_TOKEN"];

pub(crate) struct Options {
    pub listen: SocketAddr,
    pub token_file: Option<PathBuf>,
    pub log_json: bool,
    pub state_dir: PathBuf,
}

pub(crate) async fn run(
    source: &Source,
    options: &Options,
    report: &mut Report,
) -> Result<(), Error> {
    let (runbook, text) = runbook::load_with_text(source)?;
    let spec = super::AgentSpec {
        host: None,
        runbook,
        text,
        source: source.clone(),
        state_dir: options.state_dir.clone(),
        engine: crate::docker::Engine::from_env(),
    };
    serve(vec![spec], None, options, report, "stopped").await
}

/// `opsbook --fleet FILE serve`: an agent per selected host in this one
/// process, each with its host's runbook, engine and state folder
/// (`<state>/hosts/<name>`), under one listener.
pub(crate) async fn run_fleet(
    fleet_file: &std::path::Path,
    limit: Option<&str>,
    options: &Options,
    report: &mut Report,
) -> Result<(), Error> {
    let fleet = crate::fleet::load(fleet_file)?;
    let hosts = crate::fleet::select(&fleet, limit)?;
    let mut specs = Vec::new();
    for host in hosts {
        let source = Source::Flag(host.runbook.clone());
        let (mut runbook, text) = runbook::load_with_text(&source)?;
        runbook.fleet_host = Some(host.name.clone());
        specs.push(super::AgentSpec {
            host: Some(host.name.clone()),
            runbook,
            text,
            source,
            state_dir: options.state_dir.join("hosts").join(&host.name),
            engine: host.engine(),
        });
    }
    report.runbook = fleet.display.clone();
    let what = format!(
        "{} stopped",
        crate::ui::human::count(specs.len(), "host's agent")
    );
    serve(specs, Some(fleet.display.clone()), options, report, &what).await
}

/// Runs the agents until a signal stops them; the report's one result
/// says how many runs they made (`what` after …).
async fn serve(
    specs: Vec<super::AgentSpec>,
    fleet: Option<String>,
    options: &Options,
    report: &mut Report,
    what: &str,
) -> Result<(), Error> {
    let token = token(options)?;
    let started = std::time::Instant::now();
    let runs = super::run_agents(
        specs,
        fleet,
        super::Options {
            listen: options.listen,
            token,
            log_json: options.log_json,
        },
    )
    .await?;
    report.results.push(CheckResult::new(
        "serve",
        "stopped",
        Status::Ok,
        format!(
            "{what} after {} in {}",
            crate::ui::human::count(runs as usize, "run"),
            crate::ui::human::seconds(started.elapsed().as_secs())
        ),
    ));
    Ok(())
}

fn token(options: &Options) -> Result<Option<String>, Error> {
    let token = match &options.token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| {
                    Error::Usage(format!(
                        "cannot read --token-file `{}`: {e}",
                        path.display()
                    ))
                })?
                .trim()
                .to_string(),
        ),
        None => TOKEN_VARIABLES
            .iter()
            .find_map(|name| std::env::var(name).ok())
            .map(|t| t.trim().to_string()),
    };
    match token {
        Some(token) if token.is_empty() => Err(Error::Usage(
            "the token is empty: put a long random value in $OPSBOOK_SERVE_TOKEN or the --token-file"
                .into(),
        )),
        token => Ok(token),
    }
}
