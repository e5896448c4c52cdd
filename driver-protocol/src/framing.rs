//! Line framing: one JSON message per line, with a bounded frame size.
//!
//! A line longer than [`MAX_FRAME`] is skipped up to its end and reported as
//! [`FrameError::TooLarge`], so one bad message never desynchronises the stream or exhausts memory.

use crate::message::Message;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

/// The largest message accepted, in bytes (8 MiB: far above any real call).
pub const MAX_FRAME: usize = 8 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
/// Why a line could not be read as a message.
pub enum FrameError {
    /// The line is longer than the bound (it was skipped).
    #[error("message of more than {0} bytes")]
    TooLarge(usize),
    /// The line is not UTF-8 text.
    #[error("message is not UTF-8")]
    NotUtf8,
    /// Reading failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads one line (without its newline). `Ok(None)` at end of stream.
pub async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    max: usize,
) -> Result<Option<String>, FrameError> {
    let mut buf = Vec::new();
    let mut too_large = false;
    loop {
        let chunk = r.fill_buf().await?;
        if chunk.is_empty() {
            if buf.is_empty() && !too_large {
                return Ok(None);
            }
            break;
        }
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if !too_large {
            buf.extend_from_slice(&chunk[..take]);
            if buf.len() > max + 1 {
                too_large = true;
                buf = Vec::new();
            }
        }
        r.consume(take);
        if done {
            break;
        }
    }
    if too_large {
        return Err(FrameError::TooLarge(max));
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    if buf.len() > max {
        return Err(FrameError::TooLarge(max));
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| FrameError::NotUtf8)
}

/// Writes one message as a line and flushes it.
pub async fn write_message<W: AsyncWrite + Unpin>(w: &mut W, msg: &Message) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(msg).map_err(std::io::Error::other)?;
    line.push(b'\n');
    w.write_all(&line).await?;
    w.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::BufReader;

    #[tokio::test]
    async fn splits_lines_and_ends() {
        let mut r = BufReader::new(&b"{\"a\":1}\r\n\n{\"b\":2}"[..]);
        assert_eq!(read_line(&mut r, 100).await.unwrap().unwrap(), "{\"a\":1}");
        assert_eq!(read_line(&mut r, 100).await.unwrap().unwrap(), "");
        assert_eq!(read_line(&mut r, 100).await.unwrap().unwrap(), "{\"b\":2}");
        assert!(read_line(&mut r, 100).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn oversized_line_is_skipped_not_fatal() {
        let mut input = vec![b'x'; 5000];
        input.extend_from_slice(b"\nnext\n");
        // a tiny buffer forces the line across many reads
        let mut r = BufReader::with_capacity(16, &input[..]);
        assert!(matches!(
            read_line(&mut r, 1000).await,
            Err(FrameError::TooLarge(1000))
        ));
        assert_eq!(read_line(&mut r, 1000).await.unwrap().unwrap(), "next");
    }

    #[tokio::test]
    async fn invalid_utf8_is_an_error() {
        let mut r = BufReader::new(&b"\xff\xfe\nok\n"[..]);
        assert!(matches!(
            read_line(&mut r, 100).await,
            Err(FrameError::NotUtf8)
        ));
        assert_eq!(read_line(&mut r, 100).await.unwrap().unwrap(), "ok");
    }
}
