// Package fakecloud is a cloud driver, in the manner of amazonec2, for the fake cloud API of
// cmd/fakecloud-api: create makes an instance and saves the private key the API hands out;
// state, start, stop, restart, kill and remove go to the API.
package fakecloud

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"machinetest/libmachine/drivers"
	"machinetest/libmachine/log"
	"machinetest/libmachine/mcnflag"
	"machinetest/libmachine/state"
)

const enginePort = 2376

// ErrRefused is PreCreateCheck's answer when the API refuses the credentials.
var ErrRefused = errors.New("fakecloud: the access key and secret key were refused")

// Driver is saved in the machine's config.json as its JSON (credentials included, as
// amazonec2 saves AccessKey and SecretKey).
type Driver struct {
	*drivers.BaseDriver
	APIURL          string
	AccessKey       string
	SecretKey       string
	KeyPairName     string
	InstanceID      string
	InstanceName    string
	Tags            []string
	CreateDelay     int
	FailAfterCreate bool

	// mu makes GetConfigRaw during Create see whole fields
	mu sync.Mutex
}

// plain is Driver without its JSON methods.
type plain Driver

// MarshalJSON is the plain JSON of the fields, read under the lock.
func (d *Driver) MarshalJSON() ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return json.Marshal((*plain)(d))
}

// UnmarshalJSON sets the fields under the lock.
func (d *Driver) UnmarshalJSON(data []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return json.Unmarshal(data, (*plain)(d))
}

// NewDriver is the driver a plugin process starts with (Docker Machine then sends its config).
func NewDriver(machineName, storePath string) *Driver {
	return &Driver{
		KeyPairName: "machine",
		BaseDriver:  &drivers.BaseDriver{MachineName: machineName, StorePath: storePath, SSHUser: drivers.DefaultSSHUser},
	}
}

func (d *Driver) DriverName() string { return "fakecloud" }

func (d *Driver) GetCreateFlags() []mcnflag.Flag {
	return []mcnflag.Flag{
		mcnflag.StringFlag{Name: "fakecloud-api-url", Usage: "URL of the fake cloud API", EnvVar: "FAKECLOUD_API_URL"},
		mcnflag.StringFlag{Name: "fakecloud-access-key", Usage: "Access key of the fake cloud", EnvVar: "FAKECLOUD_ACCESS_KEY"},
		mcnflag.StringFlag{Name: "fakecloud-secret-key", Usage: "Secret key of the fake cloud", EnvVar: "FAKECLOUD_SECRET_KEY"},
		mcnflag.StringFlag{Name: "fakecloud-key-pair-name", Usage: "Name of the key pair the instance gets", EnvVar: "FAKECLOUD_KEY_PAIR_NAME", Value: "machine"},
		mcnflag.StringFlag{Name: "fakecloud-ssh-user", Usage: "SSH user", EnvVar: "FAKECLOUD_SSH_USER", Value: drivers.DefaultSSHUser},
		mcnflag.IntFlag{Name: "fakecloud-create-delay", Usage: "Seconds create waits after the instance exists, before it returns", EnvVar: "FAKECLOUD_CREATE_DELAY", Value: 0},
		mcnflag.BoolFlag{Name: "fakecloud-fail-after-create", Usage: "Create makes the instance, then fails", EnvVar: "FAKECLOUD_FAIL_AFTER_CREATE"},
		mcnflag.StringSliceFlag{Name: "fakecloud-tag", Usage: "A tag for the instance (repeatable)", EnvVar: "FAKECLOUD_TAG"},
	}
}

func (d *Driver) SetConfigFromFlags(flags drivers.DriverOptions) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.APIURL = strings.TrimRight(flags.String("fakecloud-api-url"), "/")
	d.AccessKey = flags.String("fakecloud-access-key")
	d.SecretKey = flags.String("fakecloud-secret-key")
	d.KeyPairName = flags.String("fakecloud-key-pair-name")
	d.SSHUser = flags.String("fakecloud-ssh-user")
	d.CreateDelay = flags.Int("fakecloud-create-delay")
	d.FailAfterCreate = flags.Bool("fakecloud-fail-after-create")
	d.Tags = flags.StringSlice("fakecloud-tag")
	d.SetSwarmConfigFromFlags(flags)
	if d.APIURL == "" {
		return errors.New("fakecloud driver requires the --fakecloud-api-url option")
	}
	return nil
}

type apiInstance struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	State      string   `json:"state"`
	Tags       []string `json:"tags"`
	IP         string   `json:"ip"`
	SSHPort    int      `json:"ssh_port"`
	PrivateKey string   `json:"private_key"`
}

type notFound string

func (e notFound) Error() string { return fmt.Sprintf("instance %s not found", string(e)) }

var client = &http.Client{Timeout: 15 * time.Second}

// call sends one request; out (when not nil) takes a 2xx answer's JSON.
func (d *Driver) call(method, path string, body, out interface{}) error {
	var in io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		in = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, d.APIURL+path, in)
	if err != nil {
		return fmt.Errorf("fakecloud: %s", err)
	}
	req.Header.Set("X-Access-Key", d.AccessKey)
	req.Header.Set("X-Secret-Key", d.SecretKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	log.Debugf("fakecloud: %s %s", method, path)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("fakecloud: the API does not answer: %s", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return ErrRefused
	case resp.StatusCode == http.StatusNotFound && strings.HasPrefix(path, "/instances/"):
		return notFound(strings.SplitN(strings.TrimPrefix(path, "/instances/"), "/", 2)[0])
	case resp.StatusCode/100 != 2:
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(data, &e)
		return fmt.Errorf("fakecloud: %s %s: %s: %s", method, path, resp.Status, e.Error)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("fakecloud: %s %s: bad answer: %s", method, path, err)
		}
	}
	return nil
}

// PreCreateCheck: the API answers and takes the credentials.
func (d *Driver) PreCreateCheck() error {
	var list []apiInstance
	return d.call(http.MethodGet, "/instances", nil, &list)
}

func (d *Driver) Create() error {
	log.Info("Creating instance...")
	var inst apiInstance
	req := map[string]interface{}{"name": d.MachineName, "tags": d.Tags, "key_pair": d.KeyPairName}
	if err := d.call(http.MethodPost, "/instances", req, &inst); err != nil {
		return err
	}
	d.mu.Lock()
	d.InstanceID = inst.ID
	d.InstanceName = inst.Name
	d.IPAddress = inst.IP
	d.SSHPort = inst.SSHPort
	keyPath := d.BaseDriver.GetSSHKeyPath()
	d.mu.Unlock()
	log.Infof("Instance %s is %s at %s", inst.ID, inst.State, net.JoinHostPort(inst.IP, strconv.Itoa(inst.SSHPort)))

	log.Info("Saving the instance's SSH key...")
	if err := os.MkdirAll(filepath.Dir(keyPath), 0o700); err != nil {
		return fmt.Errorf("fakecloud: cannot save the SSH key: %s", err)
	}
	if err := os.WriteFile(keyPath, []byte(inst.PrivateKey), 0o600); err != nil {
		return fmt.Errorf("fakecloud: cannot save the SSH key: %s", err)
	}
	if err := os.Chmod(keyPath, 0o600); err != nil {
		return fmt.Errorf("fakecloud: cannot save the SSH key: %s", err)
	}

	if d.CreateDelay > 0 {
		log.Infof("Waiting %d seconds for the instance to settle...", d.CreateDelay)
		time.Sleep(time.Duration(d.CreateDelay) * time.Second)
	}
	if d.FailAfterCreate {
		return fmt.Errorf("fakecloud: instance %s did not come up (--fakecloud-fail-after-create)", inst.ID)
	}
	return nil
}

func (d *Driver) GetSSHHostname() (string, error) { return d.GetIP() }

func (d *Driver) GetSSHKeyPath() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.BaseDriver.GetSSHKeyPath()
}

func (d *Driver) GetURL() (string, error) {
	ip, err := d.GetIP()
	if err != nil {
		return "", err
	}
	return "tcp://" + net.JoinHostPort(ip, strconv.Itoa(enginePort)), nil
}

func (d *Driver) instancePath(action string) (string, error) {
	if d.InstanceID == "" {
		return "", errors.New("fakecloud: the machine has no instance")
	}
	return "/instances/" + d.InstanceID + action, nil
}

func (d *Driver) GetState() (state.State, error) {
	path, err := d.instancePath("")
	if err != nil {
		return state.None, err
	}
	var inst apiInstance
	if err := d.call(http.MethodGet, path, nil, &inst); err != nil {
		return state.None, err
	}
	switch inst.State {
	case "running":
		return state.Running, nil
	case "stopped":
		return state.Stopped, nil
	case "starting":
		return state.Starting, nil
	case "stopping":
		return state.Stopping, nil
	}
	return state.None, fmt.Errorf("fakecloud: instance %s is in an unknown state %q", inst.ID, inst.State)
}

func (d *Driver) action(name string) error {
	path, err := d.instancePath("/" + name)
	if err != nil {
		return err
	}
	return d.call(http.MethodPost, path, nil, nil)
}

func (d *Driver) Start() error   { return d.action("start") }
func (d *Driver) Stop() error    { return d.action("stop") }
func (d *Driver) Restart() error { return d.action("restart") }
func (d *Driver) Kill() error    { return d.action("kill") }

// Remove deletes the instance; one already gone (or never made) is not an error.
func (d *Driver) Remove() error {
	if d.InstanceID == "" {
		return nil
	}
	err := d.call(http.MethodDelete, "/instances/"+d.InstanceID, nil, nil)
	var gone notFound
	if errors.As(err, &gone) {
		log.Infof("Instance %s is already gone", d.InstanceID)
		return nil
	}
	return err
}
