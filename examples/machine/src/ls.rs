//! `machine ls`: the library's fleet listing, rendered as Docker Machine did (a table, a Go
//! template, or names only).

use crate::template;
use crate::App;
use clap::Args;
use machine_core::{Filter, ListOptions, MachineRow};
use serde::Serialize;
use std::process::ExitCode;
use std::time::Duration;

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
}

impl Row {
    fn from(r: &MachineRow, queried: bool) -> Row {
        Row {
            name: r.name.clone(),
            active: if !queried {
                String::new()
            } else if r.active {
                "*".into()
            } else {
                "-".into()
            },
            active_host: r.active,
            active_swarm: false,
            driver_name: r.driver.clone(),
            state: r.state.map(|s| s.to_string()).unwrap_or_default(),
            url: r.url.clone().unwrap_or_default(),
            swarm: String::new(),
            docker_version: match (&r.docker_version, queried) {
                (Some(v), _) => format!("v{v}"),
                (None, true) => "Unknown".into(),
                (None, false) => String::new(),
            },
            error: r.error.as_ref().map(|e| e.to_string()).unwrap_or_default(),
            response_time: if queried {
                format!("{}ms", r.response_time.as_millis())
            } else {
                String::new()
            },
        }
    }
}

pub async fn run(app: &App, args: LsArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let mut opts = ListOptions::default();
    opts.filter = Filter::parse(&args.filter)?;
    opts.timeout = Duration::from_secs(args.timeout.max(1));
    opts.records_only = args.quiet;
    opts.docker_host = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty());
    let queried = !opts.records_only;
    let rows: Vec<Row> = app
        .manager
        .list(&opts)
        .await?
        .iter()
        .map(|r| Row::from(r, queried))
        .collect();

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

    #[test]
    fn aligns_columns() {
        let out = align_tabs(&["A\tBB\tC".into(), "AAAA\tB\t".into()]);
        assert_eq!(out, "A      BB   C\nAAAA   B\n");
    }
}
