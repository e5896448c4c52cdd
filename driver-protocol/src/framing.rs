//! Line framing: one JSON message per line, with a bounded frame size.
//!
//! A line longer than [`MAX_FRAME`] is skipped up to its end and reported as
//! [`FrameError::TooLarge`], so one bad message never desynchronises the stream or exhausts memory.
//! A message is checked against the same bound before it is written ([`encode`]): the other end
//! would skip it, so it is refused here, with its size.

use crate::message::Message;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

/// The largest message accepted, in bytes (8 MiB: far above any real call).
pub const MAX_FRAME: usize = 8 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
/// Why a line could not be read as a message.
pub enum FrameError {
    /// The line is longer than the bound (read: it was skipped; written: it was not sent).
    #[error("a message of {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// The message's size, in bytes (without its newline).
        size: usize,
        /// The bound.
        limit: usize,
    },
    /// The message cannot be written as JSON.
    #[error("a message that cannot be written as JSON: {0}")]
    Encode(#[from] serde_json::Error),
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
    // the line's length without its newline, counted also while it is being skipped
    let mut size = 0usize;
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
        size = size.saturating_add(take - usize::from(done));
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
        return Err(FrameError::TooLarge { size, limit: max });
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    if buf.len() > max {
        return Err(FrameError::TooLarge {
            size: buf.len(),
            limit: max,
        });
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| FrameError::NotUtf8)
}

/// One message as a line (with its newline), refused when it is longer than `max` bytes: the
/// other end would skip it, so it is never sent.
pub fn encode(msg: &Message, max: usize) -> Result<Vec<u8>, FrameError> {
    let mut line = serde_json::to_vec(msg)?;
    if line.len() > max {
        return Err(FrameError::TooLarge {
            size: line.len(),
            limit: max,
        });
    }
    line.push(b'\n');
    Ok(line)
}

/// Writes one line made by [`encode`] and flushes it.
pub async fn write_line<W: AsyncWrite + Unpin>(w: &mut W, line: &[u8]) -> std::io::Result<()> {
    w.write_all(line).await?;
    w.flush().await
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
            Err(FrameError::TooLarge {
                size: 5000,
                limit: 1000
            })
        ));
        assert_eq!(read_line(&mut r, 1000).await.unwrap().unwrap(), "next");
    }

    #[test]
    fn a_message_over_the_bound_is_refused_with_its_size() {
        let msg = Message::Notification(crate::message::Notification::new(
            "x",
            serde_json::json!({"blob": "y".repeat(2000)}),
        ));
        match encode(&msg, 1000) {
            Err(e @ FrameError::TooLarge { size, limit: 1000 }) => {
                assert!(size > 2000, "{size}");
                assert_eq!(
                    e.to_string(),
                    format!("a message of {size} bytes, over the limit of 1000 bytes")
                );
            }
            other => panic!("{other:?}"),
        }
        let line = encode(&msg, 10_000).unwrap();
        assert_eq!(line.last(), Some(&b'\n'));
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
