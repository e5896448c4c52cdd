//! `machine ls`: the library's fleet listing, rendered as Docker Machine did (a table, a Go
//! template, or names only), or as JSON, one object per machine.

use crate::template::{Fields, Format, FormatError};
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
    /// Go-template output, e.g. '{{.Name}} {{.URL}}', or 'table {{.Name}}\t{{.URL}}' for
    /// aligned columns with headers, or 'json' for one JSON object per machine (fields: Name,
    /// Active, ActiveHost, ActiveSwarm, DriverName, State, URL, Swarm, DockerVersion, Error,
    /// ResponseTime)
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
            url: r.url.as_ref().map(|u| u.to_string()).unwrap_or_default(),
            swarm: String::new(),
            docker_version: match (&r.docker_version, queried) {
                (Some(v), _) => format!("v{v}"),
                (None, true) => "Unknown".into(),
                (None, false) => String::new(),
            },
            error: r
                .error
                .as_ref()
                .map(|e| e.to_string().replace('\n', " "))
                .unwrap_or_default(),
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
    // a DOCKER_HOST that is no machine's kind of URL (unix://...) marks none active
    opts.docker_host = std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.parse().ok());
    let format = args.format.as_deref().filter(|f| !f.is_empty());
    // parsed before the machines are asked, so a bad template fails at once (`-q` ignores it,
    // as Docker Machine's did)
    let template = match format {
        _ if args.quiet => None,
        Some("json") => None,
        f => Some(parse(f.unwrap_or(DEFAULT_FORMAT))?),
    };
    let queried = !opts.records_only;
    let rows: Vec<Row> = app
        .manager
        .list(&opts)
        .await?
        .iter()
        .map(|r| Row::from(r, queried))
        .collect();

    // names of stray folders, errors, a daemon's version: shown as text, never acted on (JSON
    // escapes them itself)
    if args.quiet {
        for r in &rows {
            println!("{}", crate::terminal::line(&r.name));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = rows
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()?;
    match template {
        Some(t) => {
            rows.iter_mut().for_each(crate::terminal::values);
            print!("{}", t.render(&rows)?)
        }
        None => {
            for r in &rows {
                println!("{r}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Docker Machine's `ls` table.
const DEFAULT_FORMAT: &str = "table {{ .Name }}\t{{ .Active }}\t{{ .DriverName}}\t{{ .State }}\t{{ .URL }}\t{{ .Swarm }}\t{{ .DockerVersion }}\t{{ .Error}}";

/// The fields of a row, for errors.
const FIELDS: &str = "Name, Active, ActiveHost, ActiveSwarm, DriverName, State, URL, Swarm, DockerVersion, Error, ResponseTime";

/// The column headers of `table` formats: Docker Machine's, field by field.
const HEADERS: [(&str, &str); 13] = [
    ("Name", "NAME"),
    ("Active", "ACTIVE"),
    ("ActiveHost", "ACTIVE_HOST"),
    ("ActiveSwarm", "ACTIVE_SWARM"),
    ("DriverName", "DRIVER"),
    ("State", "STATE"),
    ("URL", "URL"),
    ("SwarmOptions", "SWARM_OPTIONS"),
    ("Swarm", "SWARM"),
    ("EngineOptions", "ENGINE_OPTIONS"),
    ("Error", "ERRORS"),
    ("DockerVersion", "DOCKER"),
    ("ResponseTime", "RESPONSE"),
];

/// An `ls --format` as Docker Machine read it: an optional `table` prefix (a header line, and
/// tab-separated cells aligned into columns), spaces around it trimmed, `\t` and `\n` typed as
/// two characters meaning a tab and a newline, and a newline after each row.
struct LsFormat {
    /// As the user gave it, for errors.
    format: String,
    table: bool,
    row: Format,
}

fn parse(format: &str) -> Result<LsFormat, FormatError> {
    let (table, body) = match format.strip_prefix("table") {
        Some(rest) => (true, rest),
        None => (false, format),
    };
    let body = body
        .trim_matches(' ')
        .replace("\\t", "\t")
        .replace("\\n", "\n")
        + "\n";
    let row = Format::parse(&body, Fields::Known).map_err(|e| FormatError {
        template: format.to_string(),
        ..e
    })?;
    Ok(LsFormat {
        format: format.to_string(),
        table,
        row,
    })
}

impl LsFormat {
    fn render(&self, rows: &[serde_json::Value]) -> Result<String, FormatError> {
        self.render_all(rows).map_err(|e| FormatError {
            template: self.format.clone(),
            message: if e.message.starts_with("map has no entry for key") {
                format!("{}; the fields are {}", e.message, FIELDS)
            } else {
                e.message
            },
        })
    }

    fn render_all(&self, rows: &[serde_json::Value]) -> Result<String, FormatError> {
        let mut out = String::new();
        if self.table {
            let headers: serde_json::Map<_, _> = HEADERS
                .iter()
                .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
                .collect();
            out.push_str(&self.row.render(&headers.into())?);
        }
        for r in rows {
            out.push_str(&self.row.render(r)?);
        }
        Ok(if self.table { columns(&out) } else { out })
    }
}

/// `ls` output of `rows` (serialized [`Row`]s) with `format` (None or empty: the default table).
#[cfg(test)]
pub fn render(format: Option<&str>, rows: &[serde_json::Value]) -> Result<String, FormatError> {
    let format = format.filter(|f| !f.is_empty()).unwrap_or(DEFAULT_FORMAT);
    parse(format)?.render(rows)
}

/// Go's tabwriter as Docker Machine set it up (`tabwriter.NewWriter(w, 5, 1, 3, ' ', 0)`):
/// tab-terminated cells are padded to their column's width, the widest cell plus 3 and at least
/// 5; a line's last cell is in no column; a column runs over consecutive lines that have it.
fn columns(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    let mut out = String::new();
    column_block(&lines, 0, lines.len(), &mut Vec::new(), &mut out);
    out
}

const MIN_WIDTH: usize = 5;
const PADDING: usize = 3;

/// Lines `line0..line1`, whose columns left of `widths.len()` have those widths (Go's
/// `Writer.format`).
fn column_block(
    lines: &[Vec<&str>],
    mut line0: usize,
    line1: usize,
    widths: &mut Vec<usize>,
    out: &mut String,
) {
    let column = widths.len();
    let in_column = |line: &Vec<&str>| column + 1 < line.len();
    let mut this = line0;
    while this < line1 {
        if !in_column(&lines[this]) {
            this += 1;
            continue;
        }
        write_lines(lines, line0, this, widths, out);
        line0 = this;
        let mut width = MIN_WIDTH;
        while this < line1 && in_column(&lines[this]) {
            width = width.max(lines[this][column].chars().count() + PADDING);
            this += 1;
        }
        widths.push(width);
        column_block(lines, line0, this, widths, out);
        widths.pop();
        line0 = this;
    }
    write_lines(lines, line0, line1, widths, out);
}

fn write_lines(lines: &[Vec<&str>], from: usize, to: usize, widths: &[usize], out: &mut String) {
    for (i, line) in lines.iter().enumerate().take(to).skip(from) {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if let Some(w) = widths.get(j) {
                out.push_str(&" ".repeat(w - cell.chars().count()));
            }
        }
        if i + 1 < lines.len() {
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns_as_go_tabwriter() {
        assert_eq!(
            columns("A\tBB\tC\nAAAA\tB\t\n"),
            "A      BB   C\nAAAA   B    \n"
        );
        assert_eq!(columns("x\ty\n"), "x    y\n", "at least 5 wide");
        assert_eq!(
            columns("a\tb\nlonger\tc\nno tab\nd\te\n"),
            "a        b\nlonger   c\nno tab\nd    e\n",
            "a line without a tab ends the column"
        );
    }
}
