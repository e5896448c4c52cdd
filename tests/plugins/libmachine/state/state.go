// Package state is a machine's state, numbered as Docker Machine numbers it on the wire.
package state

// State is sent over gob as a plain int.
type State int

// The order is the wire format: None is 0, Running 1, ... Timeout 8.
const (
	None State = iota
	Running
	Paused
	Saved
	Stopped
	Stopping
	Starting
	Error
	Timeout
)

var names = [...]string{"", "Running", "Paused", "Saved", "Stopped", "Stopping", "Starting", "Error", "Timeout"}

func (s State) String() string {
	if s >= 0 && int(s) < len(names) {
		return names[s]
	}
	return ""
}
