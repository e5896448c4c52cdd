// Package drivers is the interface a driver plugin implements, and the fields every driver
// shares (BaseDriver), with the JSON names Docker Machine stores in a machine's config.json.
package drivers

import (
	"errors"

	"machinetest/libmachine/mcnflag"
	"machinetest/libmachine/state"
)

// Driver makes and manages one machine. The RPC server calls these for the parent process.
type Driver interface {
	Create() error
	DriverName() string
	GetCreateFlags() []mcnflag.Flag
	GetIP() (string, error)
	GetMachineName() string
	GetSSHHostname() (string, error)
	GetSSHKeyPath() string
	GetSSHPort() (int, error)
	GetSSHUsername() string
	GetURL() (string, error)
	GetState() (state.State, error)
	Kill() error
	PreCreateCheck() error
	Remove() error
	Restart() error
	SetConfigFromFlags(opts DriverOptions) error
	Start() error
	Stop() error
}

// DriverOptions are the values of the create flags (and Docker Machine's global ones) as the
// parent sends them to SetConfigFromFlags.
type DriverOptions interface {
	String(key string) string
	StringSlice(key string) []string
	Int(key string) int
	Bool(key string) bool
}

// ErrHostIsNotRunning is what MustBeRunning answers for a machine in another state.
var ErrHostIsNotRunning = errors.New("Host is not running")

// MustBeRunning fails unless the driver reports state.Running.
func MustBeRunning(d Driver) error {
	s, err := d.GetState()
	if err != nil {
		return err
	}
	if s != state.Running {
		return ErrHostIsNotRunning
	}
	return nil
}
