//! `machine ls`: every machine with its state, URL and Docker version, queried concurrently so
//! that thousands of machines list in about the time of the slowest one.

use crate::template;
use crate::App;
use clap::Args;
use machine_core::config::Phase;
use serde::Serialize;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How many machines are queried at once.
const CONCURRENCY: usize = 64;

#[derive(Args)]
pub struct LsArgs {
    /// Filter: driver=NAME, state=Running|Stopped|..., name=REGEX, label=KEY=VALUE (repeatable;
    /// several of one kind match any, different kinds must all match)
    #[arg(long)]
    filter: Vec<String>,
    /// Go-template output, e.g. '{{.Name}} {{.URL}}' (fields: Name, Active, ActiveHost,
    /// DriverName, State, URL, Swarm, DockerVersion, Error, ResponseTime)
    #[arg(short = 'f', long)]
    format: Option<String>,
    /// Print only the names
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Seconds to wait for each machine's state and Docker version
    #[arg(short = 't', long, default_value_t = 10)]
    timeout: u64,
}

/// One row, with Docker Machine's template field names.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Row {
    pub name: String,
    pub active: String,
    pub active_host: bool,
    pub active_swarm: bool,
    pub driver_name: String,
    pub state: String,
    #[serde(rename = "URL")]
    pub url: String,
    pub swarm: String,
    pub docker_version: String,
    pub error: String,
    pub response_time: String,
    #[serde(skip)]
    labels: Vec<String>,
}

impl Row {
    /// A row with only a name (what `ls -q` needs).
    fn named(name: String) -> Row {
        Row {
            name,
            active: String::new(),
            active_host: false,
            active_swarm: false,
            driver_name: String::new(),
            state: String::new(),
            url: String::new(),
            swarm: String::new(),
            docker_version: String::new(),
            error: String::new(),
            response_time: String::new(),
            labels: Vec::new(),
        }
    }
}

async fn row(app: &App, name: String, timeout: Duration, docker_host: &str) -> Row {
    let started = Instant::now();
    let mut r = Row::named(name.clone());
    r.active = "-".into();
    r.docker_version = "Unknown".into();
    let m = match app.manager.load(&name) {
        Ok(m) => m,
        Err(e) => {
            r.state = "Error".into();
            r.error = e.to_string();
            return r;
        }
    };
    let c = m.config();
    r.driver_name = c.driver_alias.clone();
    r.labels = c.engine.labels.clone();
    if c.phase != Phase::Ready {
        r.error = match (&c.phase, &c.last_error) {
            (Phase::Failed, Some(e)) => format!("create failed: {e}"),
            (Phase::Failed, None) => "create failed".into(),
            _ => "create did not finish".into(),
        };
    }
    match m.state_within(timeout).await {
        Ok(s) => r.state = s.to_string(),
        Err(machine_core::Error::DriverTimeout { .. }) => {
            r.state = "Timeout".into();
            r.error = format!(
                "the driver did not report the state within {}s",
                timeout.as_secs()
            );
        }
        Err(e) => {
            r.state = "Error".into();
            r.error = e.to_string();
        }
    }
    if r.state == "Running" {
        if let Ok(Ok(url)) = tokio::time::timeout(timeout, m.url()).await {
            r.url = url;
        }
        if c.phase == Phase::Ready {
            match tokio::time::timeout(timeout, m.docker_version()).await {
                Ok(Ok(v)) => r.docker_version = format!("v{}", v.version),
                Ok(Err(e)) => {
                    if r.error.is_empty() {
                        r.error = format!("Unable to query docker version: {e}");
                    }
                }
                Err(_) => {
                    if r.error.is_empty() {
                        r.error = format!("Docker did not answer within {}s", timeout.as_secs());
                    }
                }
            }
        }
    }
    if !r.url.is_empty() && r.url == docker_host {
        r.active = "*".into();
        r.active_host = true;
    }
    r.response_time = format!("{}ms", started.elapsed().as_millis());
    r
}

/// Parsed `--filter` values, by kind.
#[derive(Default)]
struct Filters(BTreeMap<String, Vec<String>>);

impl Filters {
    fn parse(raw: &[String]) -> Result<Filters, String> {
        let mut f = Filters::default();
        for item in raw {
            let (k, v) = item.split_once('=').ok_or_else(|| {
                format!("invalid filter {item:?}: use KEY=VALUE (driver, state, name, label)")
            })?;
            let k = k.to_ascii_lowercase();
            if !["driver", "state", "name", "label", "swarm"].contains(&k.as_str()) {
                return Err(format!(
                    "unsupported filter {k:?}: use driver, state, name or label"
                ));
            }
            if k == "name" {
                regex::Regex::new(v).map_err(|e| format!("invalid name filter {v:?}: {e}"))?;
            }
            f.0.entry(k).or_default().push(v.to_string());
        }
        Ok(f)
    }

    /// Whether a filter of `kind` exists.
    fn has(&self, kind: &str) -> bool {
        self.0.contains_key(kind)
    }

    fn matches(&self, r: &Row) -> bool {
        self.0.iter().all(|(kind, values)| {
            values.iter().any(|v| match kind.as_str() {
                "driver" => r.driver_name.eq_ignore_ascii_case(v),
                "state" => r.state.eq_ignore_ascii_case(v),
                "name" => regex::Regex::new(v)
                    .map(|re| re.is_match(&r.name))
                    .unwrap_or(false),
                "label" => r.labels.iter().any(|l| l == v),
                _ => false, // swarm: no machine is part of a swarm
            })
        })
    }
}

pub async fn run(app: &App, args: LsArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let filters = Filters::parse(&args.filter)?;
    let names = app.manager.names()?;
    // names alone need no driver calls, unless a filter needs the state
    let need_rows =
        !args.quiet || filters.has("state") || filters.has("driver") || filters.has("label");
    let timeout = Duration::from_secs(args.timeout.max(1));
    let docker_host = std::env::var("DOCKER_HOST").unwrap_or_default();
    let mut rows: Vec<Row> = Vec::with_capacity(names.len());
    if need_rows {
        let sem = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
        let app = Arc::new(App {
            manager: app.manager.clone(),
        });
        let mut tasks = tokio::task::JoinSet::new();
        for (i, name) in names.into_iter().enumerate() {
            let (sem, app, host) = (sem.clone(), app.clone(), docker_host.clone());
            tasks.spawn(async move {
                let _permit = sem.acquire_owned().await;
                (i, row(&app, name, timeout, &host).await)
            });
        }
        let mut indexed = Vec::new();
        while let Some(r) = tasks.join_next().await {
            indexed.push(r?);
        }
        indexed.sort_by_key(|(i, _)| *i);
        rows = indexed.into_iter().map(|(_, r)| r).collect();
    } else {
        rows.extend(names.into_iter().map(Row::named));
    }
    rows.retain(|r| filters.matches(r));

    if args.quiet {
        for r in &rows {
            println!("{}", r.name);
        }
    } else if let Some(format) = &args.format {
        let (header, body) = match format.strip_prefix("table") {
            Some(rest) => (true, rest.trim_start().to_string()),
            None => (false, format.clone()),
        };
        let mut lines = Vec::new();
        if header {
            let names = serde_json::json!({
                "Name": "NAME", "Active": "ACTIVE", "ActiveHost": "ACTIVE HOST", "ActiveSwarm": "ACTIVE SWARM",
                "DriverName": "DRIVER", "State": "STATE", "URL": "URL", "Swarm": "SWARM",
                "DockerVersion": "DOCKER", "Error": "ERRORS", "ResponseTime": "RESPONSE"
            });
            lines.push(template::render(&body, &names)?);
        }
        for r in &rows {
            lines.push(template::render(&body, &serde_json::to_value(r)?)?);
        }
        print!("{}", align_tabs(&lines));
    } else {
        let mut lines = vec!["NAME\tACTIVE\tDRIVER\tSTATE\tURL\tSWARM\tDOCKER\tERRORS".to_string()];
        for r in &rows {
            lines.push(format!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                r.name,
                r.active,
                r.driver_name,
                r.state,
                r.url,
                r.swarm,
                r.docker_version,
                r.error.replace('\n', " ")
            ));
        }
        print!("{}", align_tabs(&lines));
    }
    Ok(ExitCode::SUCCESS)
}

/// Aligns tab-separated cells into columns, as Go's tabwriter does for Docker Machine.
fn align_tabs(lines: &[String]) -> String {
    let cells: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let cols = cells.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; cols];
    for row in &cells {
        for (i, c) in row.iter().enumerate() {
            if i + 1 < row.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let mut out = String::new();
    for row in &cells {
        let mut line = String::new();
        for (i, c) in row.iter().enumerate() {
            line.push_str(c);
            if i + 1 < row.len() {
                line.push_str(&" ".repeat(widths[i] - c.chars().count() + 3));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, driver: &str, state: &str, labels: &[&str]) -> Row {
        let mut r = Row::named(name.into());
        r.driver_name = driver.into();
        r.state = state.into();
        r.labels = labels.iter().map(|s| s.to_string()).collect();
        r
    }

    #[test]
    fn filters_and_or() {
        let f = Filters::parse(&[
            "driver=generic".into(),
            "state=running".into(),
            "state=Stopped".into(),
        ])
        .unwrap();
        assert!(f.matches(&row("a", "generic", "Running", &[])));
        assert!(f.matches(&row("a", "generic", "Stopped", &[])));
        assert!(!f.matches(&row("a", "vsphere", "Running", &[])));
        let f = Filters::parse(&["name=^web".into(), "label=env=prod".into()]).unwrap();
        assert!(f.matches(&row("web1", "x", "Running", &["env=prod"])));
        assert!(!f.matches(&row("db1", "x", "Running", &["env=prod"])));
        assert!(!f.matches(&row("web1", "x", "Running", &["env=dev"])));
        assert!(Filters::parse(&["color=red".into()]).is_err());
        assert!(Filters::parse(&["name".into()]).is_err());
    }

    #[test]
    fn aligns_columns() {
        let out = align_tabs(&["A\tBB\tC".into(), "AAAA\tB\t".into()]);
        assert_eq!(out, "A      BB   C\nAAAA   B\n");
    }
}
