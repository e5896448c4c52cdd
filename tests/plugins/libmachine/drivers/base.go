package drivers

import (
	"errors"
	"path/filepath"
)

// Defaults a driver falls back to.
const (
	DefaultSSHUser = "root"
	DefaultSSHPort = 22
)

// BaseDriver holds the fields every machine has; drivers embed a *BaseDriver so that its fields
// appear at the top level of their JSON.
type BaseDriver struct {
	IPAddress      string
	MachineName    string
	SSHUser        string
	SSHPort        int
	SSHKeyPath     string
	StorePath      string
	SwarmMaster    bool
	SwarmHost      string
	SwarmDiscovery string
}

func (d *BaseDriver) DriverName() string     { return "unknown" }
func (d *BaseDriver) GetMachineName() string { return d.MachineName }
func (d *BaseDriver) PreCreateCheck() error  { return nil }

// GetIP fails while no address is recorded.
func (d *BaseDriver) GetIP() (string, error) {
	if d.IPAddress == "" {
		return "", errors.New("IP address is not set")
	}
	return d.IPAddress, nil
}

// GetSSHKeyPath is the machine's id_rsa in its store folder unless a path is recorded (and
// records it).
func (d *BaseDriver) GetSSHKeyPath() string {
	if d.SSHKeyPath == "" {
		d.SSHKeyPath = d.ResolveStorePath("id_rsa")
	}
	return d.SSHKeyPath
}

// GetSSHPort is the recorded port, or 22 (then recorded).
func (d *BaseDriver) GetSSHPort() (int, error) {
	if d.SSHPort == 0 {
		d.SSHPort = DefaultSSHPort
	}
	return d.SSHPort, nil
}

// GetSSHUsername is the recorded user, or root (then recorded).
func (d *BaseDriver) GetSSHUsername() string {
	if d.SSHUser == "" {
		d.SSHUser = DefaultSSHUser
	}
	return d.SSHUser
}

// ResolveStorePath is StorePath/machines/MachineName/file.
func (d *BaseDriver) ResolveStorePath(file string) string {
	return filepath.Join(d.StorePath, "machines", d.MachineName, file)
}

// SetSwarmConfigFromFlags reads the global swarm flags Docker Machine passes to every driver.
func (d *BaseDriver) SetSwarmConfigFromFlags(flags DriverOptions) {
	d.SwarmMaster = flags.Bool("swarm-master")
	d.SwarmHost = flags.String("swarm-host")
	d.SwarmDiscovery = flags.String("swarm-discovery")
}
