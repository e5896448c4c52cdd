//! Files on a datastore: the boot ISO, uploaded once over HTTP (`PUT /folder/PATH?dcPath=&dsName=`,
//! the session cookie as credentials) and reused by every later VM when already there. An upload
//! that fails or is cancelled deletes its partial file, so that no later VM reuses half an ISO.

use crate::inventory::Placement;
use crate::session::Session;
use crate::xml;
use driver_protocol::{Context, DriverError};

/// The datastore folder that holds uploaded ISOs.
pub const ISO_FOLDER: &str = "machine-iso";
/// The option naming the ISO, for messages.
pub const ISO_FLAG: &str = "--vmwarevsphere-boot2docker-url";

fn file_url(s: &Session, dc_path: &str, ds: &str, path: &str) -> Result<reqwest::Url, DriverError> {
    let mut url = reqwest::Url::parse(&format!("{}/folder", s.soap.base))
        .map_err(|e| DriverError::internal(format!("bad vCenter URL: {e}")))?;
    url.path_segments_mut()
        .map_err(|_| DriverError::internal("bad vCenter URL"))?
        .extend(path.split('/'));
    url.query_pairs_mut()
        .append_pair("dcPath", dc_path)
        .append_pair("dsName", ds);
    Ok(url)
}

/// The size of a datastore file, or `None` when it does not exist.
async fn stat(s: &Session, url: &reqwest::Url) -> Result<Option<u64>, DriverError> {
    let mut req = s.soap.http.head(url.clone());
    if let Some(c) = s.soap.cookie() {
        req = req.header("Cookie", c);
    }
    let resp = req.send().await.map_err(|e| {
        DriverError::unreachable(format!(
            "checking {} on the datastore failed: {e}",
            url.path()
        ))
    })?;
    if resp.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !resp.status().is_success() {
        return Err(DriverError::internal(format!(
            "checking {} on the datastore: vCenter answered HTTP {}",
            url.path(),
            resp.status()
        )));
    }
    Ok(Some(
        resp.headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    ))
}

/// Where an ISO comes from.
enum Source {
    File(std::path::PathBuf),
    Http(String),
}

fn source(iso: &str) -> Result<Source, DriverError> {
    if let Some(p) = iso.strip_prefix("file://") {
        return Ok(Source::File(p.into()));
    }
    if crate::download::is_url(iso) {
        return Ok(Source::Http(iso.to_string()));
    }
    if iso.contains("://") {
        return Err(DriverError::invalid_option(format!(
            "--vmwarevsphere-boot2docker-url {iso:?}: only http(s) URLs and files are supported"
        )));
    }
    Ok(Source::File(iso.into()))
}

/// Makes sure the ISO is on the datastore; returns its datastore path (`[ds] machine-iso/x.iso`).
pub async fn ensure_iso(
    cx: &Context,
    s: &Session,
    pl: &Placement,
    iso: &str,
    allow_http: bool,
) -> Result<String, DriverError> {
    let (dc_path, ds) = (pl.dc_path.as_str(), pl.datastore.name.as_str());
    let src = source(iso)?;
    let file_name = match &src {
        Source::File(p) => p.file_name().map(|n| n.to_string_lossy().into_owned()),
        Source::Http(u) => u
            .split(['?', '#'])
            .next()
            .and_then(|u| u.rsplit('/').next())
            .map(str::to_string),
    }
    .filter(|n| !n.is_empty())
    .ok_or_else(|| {
        DriverError::invalid_option(format!(
            "--vmwarevsphere-boot2docker-url {iso:?} names no file"
        ))
    })?;
    let rel = format!("{ISO_FOLDER}/{file_name}");
    let ds_path = format!("[{ds}] {rel}");
    let url = file_url(s, dc_path, ds, &rel)?;
    let existing = stat(s, &url).await?;
    let body = match src {
        Source::File(p) => {
            let meta = tokio::fs::metadata(&p).await.map_err(|e| {
                DriverError::invalid_option(format!(
                    "--vmwarevsphere-boot2docker-url {}: {e}",
                    p.display()
                ))
            })?;
            if existing == Some(meta.len()) {
                cx.progress(format!(
                    "ISO {ds_path} is already on the datastore, reusing it"
                ));
                return Ok(ds_path);
            }
            cx.progress(format!(
                "Uploading {} ({} MB) to {ds_path}",
                p.display(),
                meta.len().div_ceil(1 << 20)
            ));
            let f = tokio::fs::File::open(&p).await.map_err(|e| {
                DriverError::invalid_option(format!("cannot open {}: {e}", p.display()))
            })?;
            let chunks = tokio_util::io::ReaderStream::new(f);
            (
                counted(chunks, cx, &ds_path, Some(meta.len())),
                Some(meta.len()),
            )
        }
        Source::Http(u) => {
            if existing.is_some() {
                cx.progress(format!(
                    "ISO {ds_path} is already on the datastore, reusing it"
                ));
                return Ok(ds_path);
            }
            cx.progress(format!(
                "Downloading {} and uploading it to {ds_path}",
                crate::download::redact(&u)
            ));
            let resp = tokio::select! {
                r = crate::download::get(ISO_FLAG, &u, allow_http) => r?,
                _ = cx.cancelled() => return Err(DriverError::cancelled(format!(
                    "cancelled while downloading the ISO {}; nothing was made",
                    crate::download::redact(&u)
                ))),
            };
            let len = resp.content_length();
            (counted(resp.bytes_stream(), cx, &ds_path, len), len)
        }
    };
    let (body, len) = body;
    let mut req = s
        .soap
        .http
        .put(url.clone())
        .header("Content-Type", "application/octet-stream")
        .timeout(std::time::Duration::from_secs(3600))
        .body(body);
    if let Some(len) = len {
        req = req.header("Content-Length", len);
    }
    if let Some(c) = s.soap.cookie() {
        req = req.header("Cookie", c);
    }
    let sent = tokio::select! {
        r = req.send() => Some(r),
        _ = cx.cancelled() => None,
    };
    let failed = match sent {
        Some(Ok(resp)) if resp.status().is_success() => return Ok(ds_path),
        Some(Ok(resp)) => DriverError::internal(format!(
            "uploading the ISO to {ds_path}: vCenter answered HTTP {}",
            resp.status()
        )),
        Some(Err(e)) => {
            DriverError::unreachable(format!("uploading the ISO to {ds_path} failed: {e}"))
        }
        None => DriverError::cancelled(format!(
            "cancelled while uploading the ISO to {ds_path}; no VM had been made"
        )),
    };
    // no later VM may boot half an ISO
    let undone = match delete_file(s, pl, &ds_path).await {
        Ok(()) => "its partial file was deleted".to_string(),
        Err(e) => format!(
            "deleting its partial file failed too ({}): delete it from the datastore",
            e.message
        ),
    };
    Err(DriverError::new(
        failed.kind,
        format!("{}; {undone}", failed.message),
    ))
}

/// The upload's body: `chunks`, reporting bytes sent as `upload-iso` progress (done/total) about
/// every 2% (or every 8 MiB when the size is unknown).
fn counted<S, E>(chunks: S, cx: &Context, ds_path: &str, total: Option<u64>) -> reqwest::Body
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, E>> + Send + Sync + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    use futures_util::StreamExt;
    let (cx, ds_path) = (cx.clone(), ds_path.to_string());
    let step = total.map_or(8 << 20, |t| (t / 50).max(1 << 20));
    let (mut done, mut reported) = (0u64, 0u64);
    reqwest::Body::wrap_stream(chunks.map(move |chunk| {
        if let Ok(b) = &chunk {
            done += b.len() as u64;
            if done - reported >= step || Some(done) == total {
                reported = done;
                cx.progress_step(
                    "upload-iso",
                    format!("Uploading to {ds_path}: {} MB", done >> 20),
                    total.map(|t| (done, t)),
                );
            }
        }
        chunk
    }))
}

/// Deletes a datastore file (a partial upload).
async fn delete_file(s: &Session, pl: &Placement, ds_path: &str) -> Result<(), DriverError> {
    let fm = s.sc.file_manager.as_ref().ok_or_else(|| {
        DriverError::not_supported("deleting datastore files (vCenter has no FileManager)")
    })?;
    let body = format!(
        "<DeleteDatastoreFile_Task xmlns=\"urn:vim25\">{}{}{}</DeleteDatastoreFile_Task>",
        xml::moref("_this", fm),
        xml::tag("name", ds_path),
        xml::moref("datacenter", &pl.datacenter.moref),
    );
    match s
        .run_task(
            &format!("deleting {ds_path}"),
            &body,
            std::time::Duration::from_secs(60),
        )
        .await
    {
        Err(e) if e.kind == driver_protocol::ErrorKind::NotFound => Ok(()),
        r => r.map(|_| ()),
    }
}
