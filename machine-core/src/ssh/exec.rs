//! Commands and files over a [`Session`]: a command's output whole ([`Session::exec`]), checked
//! ([`Session::exec_ok`]), streamed line by line or with stdin passed through; files uploaded
//! atomically through the command's stdin, never its command line.

use super::*;

impl Session {
    /// Runs `command` through the remote user's shell, with an empty stdin.
    pub async fn exec(&self, command: &str) -> Result<Output, SshError> {
        self.run(command, None).await
    }

    /// Runs `command`; a non-zero exit is a [`SshError::CommandFailed`] carrying the end of its
    /// stderr (or stdout when stderr is empty). Returns stdout.
    pub async fn exec_ok(&self, command: &str) -> Result<String, SshError> {
        let out = self.run(command, None).await?;
        check_ok(command, out)
    }

    /// Writes `contents` to `remote_path` with `mode`, atomically: through a temporary file in
    /// the same folder (created if missing), renamed into place. With `sudo`, as root via
    /// `sudo -n`. The contents travel over stdin, never on a command line.
    pub async fn upload(
        &self,
        remote_path: &str,
        contents: &[u8],
        mode: u32,
        sudo: bool,
    ) -> Result<(), SshError> {
        let script = format!(
            "set -e; d=$(dirname \"$1\"); mkdir -p \"$d\"; \
             t=$(mktemp \"$d/.machine-upload.XXXXXX\"); trap 'rm -f \"$t\"' EXIT; \
             cat > \"$t\"; chmod {mode:04o} \"$t\"; mv -f \"$t\" \"$1\"; trap - EXIT"
        );
        let command = format!(
            "{}sh -c {} sh {}",
            if sudo { "sudo -n " } else { "" },
            crate::shell::quote(&script),
            crate::shell::quote(remote_path)
        );
        let out = self.run(&command, Some(contents)).await?;
        let what = format!(
            "upload of {remote_path}{}",
            if sudo { " (with sudo)" } else { "" }
        );
        check_ok(&what, out).map(|_| ())
    }

    /// A session channel running `command`, split into its reading and writing halves.
    async fn open_exec(
        &self,
        command: &str,
    ) -> Result<
        (
            russh::ChannelReadHalf,
            russh::ChannelWriteHalf<russh::client::Msg>,
        ),
        SshError,
    > {
        let addr = self.target.addr();
        let lost = |e: russh::Error| match e {
            russh::Error::SendError | russh::Error::RecvError | russh::Error::Disconnect => {
                SshError::Disconnected {
                    addr: addr.clone(),
                    command: short(command),
                }
            }
            other => classify(other, &addr, "a command"),
        };
        let channel = self.handle.channel_open_session().await.map_err(lost)?;
        let (read, write) = channel.split();
        write.exec(true, command).await.map_err(lost)?;
        Ok((read, write))
    }

    /// Runs `command` with its streams connected to `stdin`, `stdout` and `stderr` as data
    /// comes (no terminal: for that, the system `ssh -t`). Returns the command's exit status
    /// (255 when a signal ended it) as soon as it ends, whether or not `stdin` was read to its
    /// end.
    pub async fn exec_io<I, O, E>(
        &self,
        command: &str,
        mut stdin: I,
        mut stdout: O,
        mut stderr: E,
    ) -> Result<u32, SshError>
    where
        I: tokio::io::AsyncRead + Unpin,
        O: tokio::io::AsyncWrite + Unpin,
        E: tokio::io::AsyncWrite + Unpin,
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.target.addr();
        tracing::debug!(addr = %addr, command = %short(command), "ssh: exec with streams");
        let (mut read, write) = self.open_exec(command).await?;
        let send = async {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match stdin.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if write.data(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = write.eof().await;
            // nothing more to send: wait for the command to end
            std::future::pending::<()>().await
        };
        let local =
            |e: std::io::Error| SshError::Protocol(format!("writing the output of {addr}: {e}"));
        let receive = async {
            let mut status = None;
            while let Some(msg) = read.wait().await {
                match msg {
                    ChannelMsg::Data { data } => {
                        stdout.write_all(&data).await.map_err(local)?;
                        stdout.flush().await.map_err(local)?;
                    }
                    ChannelMsg::ExtendedData { data, ext: 1 } => {
                        stderr.write_all(&data).await.map_err(local)?;
                        stderr.flush().await.map_err(local)?;
                    }
                    ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                    ChannelMsg::ExitSignal { signal_name, .. } => {
                        let line = format!("killed by signal {signal_name:?}\n");
                        stderr.write_all(line.as_bytes()).await.map_err(local)?;
                        status = Some(255);
                    }
                    ChannelMsg::Close => break,
                    _ => {}
                }
            }
            status.ok_or_else(|| SshError::Disconnected {
                addr: addr.clone(),
                command: short(command),
            })
        };
        tokio::select! {
            status = receive => status,
            _ = send => unreachable!("sending never ends by itself"),
        }
    }

    /// Runs `command` like [`Session::exec`], calling `on_line` with each line of its output
    /// (stdout and stderr) as it arrives.
    pub async fn exec_streaming(
        &self,
        command: &str,
        on_line: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<Output, SshError> {
        self.run_with(command, None, Some(on_line)).await
    }

    async fn run(&self, command: &str, stdin: Option<&[u8]>) -> Result<Output, SshError> {
        self.run_with(command, stdin, None).await
    }

    async fn run_with(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
        on_line: Option<&(dyn Fn(&str) + Send + Sync)>,
    ) -> Result<Output, SshError> {
        let addr = self.target.addr();
        tracing::debug!(addr = %addr, command = %short(command), "ssh: exec");
        let (mut read, write) = self.open_exec(command).await?;

        let send = async {
            if let Some(data) = stdin {
                write.data(data).await?;
            }
            write.eof().await
        };
        let receive = async {
            let mut stdout = Vec::new();
            let mut stderr = Vec::new();
            let mut status = None;
            let mut refused = false;
            let (mut out_line, mut err_line) = (Vec::new(), Vec::new());
            let mut too_large = None;
            let emit = |pending: &mut Vec<u8>, data: &[u8]| {
                if let Some(f) = on_line {
                    pending.extend_from_slice(data);
                    while let Some(i) = pending.iter().position(|&b| b == b'\n') {
                        let line: Vec<u8> = pending.drain(..=i).collect();
                        f(String::from_utf8_lossy(&line[..line.len().min(LINE_MAX)]).trim_end());
                    }
                    if pending.len() > LINE_MAX {
                        // a line without end: what was kept of it is shown, the rest dropped
                        f(String::from_utf8_lossy(&pending[..LINE_MAX]).trim_end());
                        pending.clear();
                    }
                }
            };
            // the output kept whole is bounded: past the bound, nothing more is read
            let keep = |kept: &mut Vec<u8>, data: &[u8], stream| {
                if kept.len() + data.len() > OUTPUT_MAX {
                    return Some(stream);
                }
                kept.extend_from_slice(data);
                None
            };
            while let Some(msg) = read.wait().await {
                match msg {
                    ChannelMsg::Data { data } => {
                        emit(&mut out_line, &data);
                        too_large = keep(&mut stdout, &data, "stdout");
                    }
                    ChannelMsg::ExtendedData { data, ext: 1 } => {
                        emit(&mut err_line, &data);
                        too_large = keep(&mut stderr, &data, "stderr");
                    }
                    ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                    ChannelMsg::ExitSignal {
                        signal_name,
                        error_message,
                        ..
                    } => {
                        stderr.extend_from_slice(
                            format!("killed by signal {signal_name:?} {error_message}").as_bytes(),
                        );
                        status = Some(255);
                    }
                    ChannelMsg::Failure => refused = true,
                    ChannelMsg::Close => break,
                    _ => {}
                }
                if too_large.is_some() {
                    break;
                }
            }
            if let Some(f) = on_line {
                for rest in [out_line, err_line] {
                    if !rest.is_empty() {
                        f(String::from_utf8_lossy(&rest).trim_end());
                    }
                }
            }
            (stdout, stderr, status, refused, too_large)
        };
        let (sent, (stdout, stderr, status, refused, too_large)) = tokio::join!(send, receive);
        if let Some(stream) = too_large {
            // dropping the channel's halves closes it; the command gets no more reads
            return Err(SshError::OutputTooLarge {
                addr: addr.clone(),
                command: short(command),
                stream,
                limit: OUTPUT_MAX,
            });
        }
        if refused {
            return Err(SshError::Protocol(format!(
                "{addr} refused to run a command on a session channel"
            )));
        }
        let Some(status) = status else {
            return Err(SshError::Disconnected {
                addr: addr.clone(),
                command: short(command),
            });
        };
        if let Err(e) = sent {
            // The command finished before reading all of its stdin: report it through its status.
            tracing::debug!(addr = %addr, error = %e, "ssh: stdin not fully sent");
        }
        Ok(Output {
            status,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }
}

fn check_ok(command: &str, out: Output) -> Result<String, SshError> {
    if out.success() {
        return Ok(out.stdout);
    }
    let text = if out.stderr.trim().is_empty() {
        &out.stdout
    } else {
        &out.stderr
    };
    Err(SshError::CommandFailed {
        command: short(command),
        status: out.status,
        stderr: if text.trim().is_empty() {
            "(no output)".into()
        } else {
            tail(text, 20)
        },
    })
}

/// The last `n` lines of `text`, trimmed.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.trim().lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A command shortened for messages.
fn short(command: &str) -> String {
    const MAX: usize = 200;
    if command.chars().count() <= MAX {
        command.to_string()
    } else {
        let s: String = command.chars().take(MAX).collect();
        format!("{s}...")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_tails() {
        assert_eq!(tail("1\n2\n3\n", 2), "2\n3");
        let e = check_ok(
            "false",
            Output {
                status: 1,
                stdout: "out".into(),
                stderr: "  \n".into(),
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("out"), "{e}");
    }
}
