#!/usr/bin/env bash
# Installs `machine` and its two drivers (machine-driver-generic, machine-driver-vsphere) and the bridge to Docker Machine's plugins (machine-plugin-bridge) into
# PREFIX/bin, side by side, which is where `machine` looks for drivers first.
#
#   scripts/install.sh [--prefix DIR] [--docker-machine-link] [--completions] [--binaries DIR]
#
#   --prefix DIR            install into DIR/bin (default: cargo's, $CARGO_INSTALL_ROOT or
#                           ${CARGO_HOME:-~/.cargo}, whose bin is on PATH for Rust users)
#   --docker-machine-link   also make DIR/bin/docker-machine, a link to machine, for tools that
#                           run Docker Machine's binary
#   --completions           also install bash, zsh and fish completion and the man pages:
#                             ${XDG_DATA_HOME:-~/.local/share}/bash-completion/completions/machine
#                             ${XDG_DATA_HOME:-~/.local/share}/zsh/site-functions/_machine
#                             ${XDG_CONFIG_HOME:-~/.config}/fish/completions/machine.fish
#                             PREFIX/share/man/man1/machine*.1
#   --binaries DIR          copy the binaries already built in DIR (e.g. target/debug) instead
#                           of building them (`cargo build --release --locked`)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prefix=${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}
link=false
completions=false
binaries=

usage() { sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) [ $# -ge 2 ] || { echo "install.sh: --prefix needs a folder" >&2; exit 2; }
                  prefix=$2; shift 2 ;;
        --prefix=*) prefix=${1#--prefix=}; shift ;;
        --docker-machine-link) link=true; shift ;;
        --completions) completions=true; shift ;;
        --binaries) [ $# -ge 2 ] || { echo "install.sh: --binaries needs a folder" >&2; exit 2; }
                    binaries=$2; shift 2 ;;
        --binaries=*) binaries=${1#--binaries=}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done

programs=(machine machine-driver-generic machine-driver-vsphere machine-plugin-bridge)

if [ -z "$binaries" ]; then
    echo "Building ${programs[*]} (release)..."
    (cd "$repo" && cargo build --release --locked \
        -p machine -p machine-driver-generic -p machine-driver-vsphere -p machine-plugin-bridge)
    binaries=${CARGO_TARGET_DIR:-$repo/target}/release
fi
for p in "${programs[@]}"; do
    [ -x "$binaries/$p" ] || { echo "install.sh: $binaries/$p is missing: build it first" >&2; exit 1; }
done

bin=$prefix/bin
mkdir -p "$bin"
for p in "${programs[@]}"; do
    # to a temporary name, then renamed over: a running `machine` keeps its old file
    install -m 0755 "$binaries/$p" "$bin/.$p.new"
    mv -f "$bin/.$p.new" "$bin/$p"
    echo "Installed $bin/$p"
done

if $link; then
    if { [ -e "$bin/docker-machine" ] || [ -L "$bin/docker-machine" ]; } &&
        [ "$(readlink "$bin/docker-machine" 2>/dev/null)" != machine ]; then
        echo "install.sh: $bin/docker-machine exists and is not our link: left as it is" >&2
        exit 1
    fi
    ln -sfn machine "$bin/docker-machine"
    echo "Linked $bin/docker-machine -> machine"
fi

if $completions; then
    data=${XDG_DATA_HOME:-$HOME/.local/share}
    config=${XDG_CONFIG_HOME:-$HOME/.config}
    mkdir -p "$data/bash-completion/completions" "$data/zsh/site-functions" "$config/fish/completions"
    "$bin/machine" completion bash > "$data/bash-completion/completions/machine"
    # autoloaded as _machine by compinit: define the completer, then answer this first Tab too
    { "$bin/machine" completion zsh; echo '_clap_dynamic_completer_machine "$@"'; } \
        > "$data/zsh/site-functions/_machine"
    "$bin/machine" completion fish > "$config/fish/completions/machine.fish"
    echo "Installed completion for bash ($data/bash-completion/completions/machine),"
    echo "  zsh ($data/zsh/site-functions/_machine: that folder must be in \$fpath) and"
    echo "  fish ($config/fish/completions/machine.fish)"
    "$bin/machine" manpages "$prefix/share/man/man1" > /dev/null
    echo "Installed the man pages in $prefix/share/man/man1 (\`man machine\`)"
fi

case ":$PATH:" in
    *":$bin:"*) ;;
    *) echo "Note: $bin is not on PATH; add it (e.g. export PATH=\"$bin:\$PATH\")" ;;
esac
