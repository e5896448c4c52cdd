// Package log prints as a Docker Machine plugin does: info and warning lines on stdout, debug
// and error lines on stderr (a plugin always runs with debug on). The parent process reads
// both streams line by line.
package log

import (
	"fmt"
	"os"
	"sync"
)

var (
	mu    sync.Mutex
	debug = true
)

// SetDebug turns debug lines on or off.
func SetDebug(on bool) { mu.Lock(); debug = on; mu.Unlock() }

func line(f *os.File, s string) {
	mu.Lock()
	defer mu.Unlock()
	fmt.Fprintln(f, s)
}

func Info(args ...interface{})            { line(os.Stdout, fmt.Sprint(args...)) }
func Infof(f string, args ...interface{}) { line(os.Stdout, fmt.Sprintf(f, args...)) }
func Warn(args ...interface{})            { line(os.Stdout, fmt.Sprint(args...)) }
func Warnf(f string, args ...interface{}) { line(os.Stdout, fmt.Sprintf(f, args...)) }
func Error(args ...interface{})           { line(os.Stderr, fmt.Sprint(args...)) }
func Errorf(f string, args ...interface{}) {
	line(os.Stderr, fmt.Sprintf(f, args...))
}

func Debug(args ...interface{}) {
	mu.Lock()
	on := debug
	mu.Unlock()
	if on {
		line(os.Stderr, fmt.Sprint(args...))
	}
}

func Debugf(f string, args ...interface{}) { Debug(fmt.Sprintf(f, args...)) }
