// Package urlonly behaves as Docker Machine's `none` driver: a machine is a Docker daemon set
// up by hand, registered by its URL; it has no SSH (empty host, port 0), is always Running,
// and cannot be started, stopped, restarted or killed.
package urlonly

import (
	"errors"
	"net/url"

	"machinetest/libmachine/drivers"
	"machinetest/libmachine/mcnflag"
	"machinetest/libmachine/state"
)

// Driver is saved in the machine's config.json as its JSON.
type Driver struct {
	*drivers.BaseDriver
	URL string
}

// NewDriver is the driver a plugin process starts with.
func NewDriver(machineName, storePath string) *Driver {
	return &Driver{BaseDriver: &drivers.BaseDriver{MachineName: machineName, StorePath: storePath}}
}

func (d *Driver) DriverName() string { return "urlonly" }

func (d *Driver) GetCreateFlags() []mcnflag.Flag {
	return []mcnflag.Flag{
		mcnflag.StringFlag{Name: "url", Usage: "URL of host when no driver is selected"},
	}
}

func (d *Driver) SetConfigFromFlags(flags drivers.DriverOptions) error {
	d.URL = flags.String("url")
	if d.URL == "" {
		return errors.New("--url option is required when no driver is selected")
	}
	u, err := url.Parse(d.URL)
	if err != nil {
		return err
	}
	d.IPAddress = u.Hostname()
	return nil
}

func (d *Driver) Create() error                   { return nil }
func (d *Driver) Remove() error                   { return nil }
func (d *Driver) GetIP() (string, error)          { return d.IPAddress, nil }
func (d *Driver) GetSSHHostname() (string, error) { return "", nil }
func (d *Driver) GetSSHKeyPath() string           { return "" }
func (d *Driver) GetSSHPort() (int, error)        { return 0, nil }
func (d *Driver) GetSSHUsername() string          { return "" }
func (d *Driver) GetURL() (string, error)         { return d.URL, nil }
func (d *Driver) GetState() (state.State, error)  { return state.Running, nil }
func (d *Driver) Start() error                    { return errors.New("hosts without a driver cannot be started") }
func (d *Driver) Stop() error                     { return errors.New("hosts without a driver cannot be stopped") }
func (d *Driver) Restart() error                  { return errors.New("hosts without a driver cannot be restarted") }
func (d *Driver) Kill() error                     { return errors.New("hosts without a driver cannot be killed") }
