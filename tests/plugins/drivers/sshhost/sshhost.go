// Package sshhost is a driver for a host that already exists and answers SSH, as Docker
// Machine's generic driver: create imports the key, state is whether the SSH port answers, and
// start/stop/restart/kill are refused.
package sshhost

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"machinetest/libmachine/drivers"
	"machinetest/libmachine/log"
	"machinetest/libmachine/mcnflag"
	"machinetest/libmachine/state"
)

const (
	defaultEnginePort = 2376
	dialTimeout       = 10 * time.Second
)

// Driver is saved in the machine's config.json as its JSON.
type Driver struct {
	*drivers.BaseDriver
	EnginePort int
	SSHKey     string
	Labels     []string
	Verbose    bool
}

// NewDriver is the driver a plugin process starts with (Docker Machine then sends its config).
func NewDriver(machineName, storePath string) *Driver {
	return &Driver{
		EnginePort: defaultEnginePort,
		BaseDriver: &drivers.BaseDriver{MachineName: machineName, StorePath: storePath},
	}
}

func (d *Driver) DriverName() string { return "sshhost" }

func (d *Driver) GetCreateFlags() []mcnflag.Flag {
	return []mcnflag.Flag{
		mcnflag.StringFlag{Name: "sshhost-ip-address", Usage: "IP address of the host", EnvVar: "SSHHOST_IP_ADDRESS"},
		mcnflag.StringFlag{Name: "sshhost-ssh-user", Usage: "SSH user", EnvVar: "SSHHOST_SSH_USER", Value: drivers.DefaultSSHUser},
		mcnflag.StringFlag{Name: "sshhost-ssh-key", Usage: "Path of the SSH private key that logs in", EnvVar: "SSHHOST_SSH_KEY"},
		mcnflag.IntFlag{Name: "sshhost-ssh-port", Usage: "SSH port", EnvVar: "SSHHOST_SSH_PORT", Value: drivers.DefaultSSHPort},
		mcnflag.IntFlag{Name: "sshhost-engine-port", Usage: "Docker engine port", EnvVar: "SSHHOST_ENGINE_PORT", Value: defaultEnginePort},
		mcnflag.StringSliceFlag{Name: "sshhost-label", Usage: "A label for the host (repeatable)", EnvVar: "SSHHOST_LABEL"},
		mcnflag.BoolFlag{Name: "sshhost-verbose", Usage: "Log more", EnvVar: "SSHHOST_VERBOSE"},
	}
}

func (d *Driver) SetConfigFromFlags(flags drivers.DriverOptions) error {
	d.IPAddress = flags.String("sshhost-ip-address")
	d.SSHUser = flags.String("sshhost-ssh-user")
	d.SSHKey = flags.String("sshhost-ssh-key")
	d.SSHPort = flags.Int("sshhost-ssh-port")
	d.EnginePort = flags.Int("sshhost-engine-port")
	d.Labels = flags.StringSlice("sshhost-label")
	d.Verbose = flags.Bool("sshhost-verbose")
	d.SetSwarmConfigFromFlags(flags)
	if d.IPAddress == "" {
		return errors.New("sshhost driver requires the --sshhost-ip-address option")
	}
	if d.Verbose {
		log.Debugf("sshhost: %s@%s port %d, engine port %d, labels %q", d.SSHUser, d.IPAddress, d.SSHPort, d.EnginePort, d.Labels)
	}
	return nil
}

func (d *Driver) GetSSHHostname() (string, error) { return d.GetIP() }
func (d *Driver) GetSSHUsername() string          { return d.SSHUser }

// GetSSHKeyPath is empty until create imported a key.
func (d *Driver) GetSSHKeyPath() string { return d.SSHKeyPath }

func (d *Driver) PreCreateCheck() error {
	if d.SSHKey != "" {
		if _, err := os.Stat(d.SSHKey); err != nil {
			return fmt.Errorf("SSH key does not exist: %q", d.SSHKey)
		}
	}
	return nil
}

func (d *Driver) address() string {
	return net.JoinHostPort(d.IPAddress, strconv.Itoa(d.SSHPort))
}

func (d *Driver) Create() error {
	if d.SSHKey == "" {
		log.Info("No SSH key specified. Assuming an existing key at the default location.")
	} else {
		log.Info("Importing SSH key...")
		d.SSHKeyPath = d.ResolveStorePath("id_rsa")
		if err := copyKey(d.SSHKey, d.SSHKeyPath); err != nil {
			return err
		}
	}
	log.Debugf("IP: %s", d.IPAddress)
	conn, err := net.DialTimeout("tcp", d.address(), dialTimeout)
	if err != nil {
		return fmt.Errorf("sshhost: nothing answers on %s: %s", d.address(), err)
	}
	conn.Close()
	return nil
}

func copyKey(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("unable to copy ssh key: %s", err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("unable to copy ssh key: %s", err)
	}
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		return fmt.Errorf("unable to copy ssh key: %s", err)
	}
	if err := os.Chmod(dst, 0o600); err != nil {
		return fmt.Errorf("unable to set permissions on the ssh key: %s", err)
	}
	return nil
}

func (d *Driver) GetURL() (string, error) {
	ip, err := d.GetIP()
	if err != nil {
		return "", err
	}
	return "tcp://" + net.JoinHostPort(ip, strconv.Itoa(d.EnginePort)), nil
}

func (d *Driver) GetState() (state.State, error) {
	conn, err := net.DialTimeout("tcp", d.address(), dialTimeout)
	if err != nil {
		return state.Stopped, nil
	}
	conn.Close()
	return state.Running, nil
}

func (d *Driver) Start() error   { return errors.New("sshhost driver does not support start") }
func (d *Driver) Stop() error    { return errors.New("sshhost driver does not support stop") }
func (d *Driver) Restart() error { return errors.New("sshhost driver does not support restart") }
func (d *Driver) Kill() error    { return errors.New("sshhost driver does not support kill") }
func (d *Driver) Remove() error  { return nil }
