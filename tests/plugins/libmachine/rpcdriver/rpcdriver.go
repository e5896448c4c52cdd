// Package rpcdriver serves a drivers.Driver over Go's net/rpc, method for method and type for
// type as a Docker Machine plugin does (API version 1). The package name is part of the wire
// format: gob names the flags type *rpcdriver.RPCFlags (or *rpcdriver.RpcFlags in the oldrpc
// build).
package rpcdriver

import (
	"encoding/gob"
	"encoding/json"
	"fmt"
	"runtime/debug"

	"machinetest/libmachine/drivers"
	"machinetest/libmachine/log"
	"machinetest/libmachine/mcnflag"
	"machinetest/libmachine/state"
)

// APIVersion is what GetVersion answers.
const APIVersion = 1

func init() {
	// The order and the types matter: gob sends these names for interface values.
	gob.Register(new(RPCFlags))
	gob.Register(new(mcnflag.IntFlag))
	gob.Register(new(mcnflag.StringFlag))
	gob.Register(new(mcnflag.StringSliceFlag))
	gob.Register(new(mcnflag.BoolFlag))
}

func (f RPCFlags) get(key string) interface{} {
	v, ok := f.Values[key]
	if !ok {
		log.Warnf("option %s was not passed to the driver", key)
	}
	return v
}

func (f RPCFlags) String(key string) string {
	v, ok := f.get(key).(string)
	if !ok {
		log.Warnf("option %s is not a string", key)
	}
	return v
}

func (f RPCFlags) StringSlice(key string) []string {
	v, ok := f.get(key).([]string)
	if !ok {
		log.Warnf("option %s is not a list of strings", key)
	}
	return v
}

func (f RPCFlags) Int(key string) int {
	v, ok := f.get(key).(int)
	if !ok {
		log.Warnf("option %s is not an int", key)
	}
	return v
}

func (f RPCFlags) Bool(key string) bool {
	v, ok := f.get(key).(bool)
	if !ok {
		log.Warnf("option %s is not a bool", key)
	}
	return v
}

// RPCServerDriver is the RPC service. Close and Heartbeat hand over to the plugin's main loop
// through the two channels (unbuffered: the call returns once the loop took it).
type RPCServerDriver struct {
	ActualDriver drivers.Driver
	CloseCh      chan bool
	HeartbeatCh  chan bool
}

// NewRPCServerDriver wraps d.
func NewRPCServerDriver(d drivers.Driver) *RPCServerDriver {
	return &RPCServerDriver{ActualDriver: d, CloseCh: make(chan bool), HeartbeatCh: make(chan bool)}
}

func (r *RPCServerDriver) Close(_, _ *struct{}) error {
	r.CloseCh <- true
	return nil
}

func (r *RPCServerDriver) GetVersion(_ *struct{}, reply *int) error {
	*reply = APIVersion
	return nil
}

func (r *RPCServerDriver) GetConfigRaw(_ *struct{}, reply *[]byte) error {
	data, err := json.Marshal(r.ActualDriver)
	if err != nil {
		return err
	}
	*reply = data
	return nil
}

func (r *RPCServerDriver) GetCreateFlags(_ *struct{}, reply *[]mcnflag.Flag) error {
	*reply = r.ActualDriver.GetCreateFlags()
	return nil
}

func (r *RPCServerDriver) SetConfigRaw(data []byte, _ *struct{}) error {
	return json.Unmarshal(data, &r.ActualDriver)
}

func (r *RPCServerDriver) Create(_, _ *struct{}) (err error) {
	// a panicking driver fails this call instead of taking the server down
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("Panic in the driver: %v\n%s", p, debug.Stack())
		}
	}()
	return r.ActualDriver.Create()
}

func (r *RPCServerDriver) DriverName(_ *struct{}, reply *string) error {
	*reply = r.ActualDriver.DriverName()
	return nil
}

func (r *RPCServerDriver) GetIP(_ *struct{}, reply *string) (err error) {
	*reply, err = r.ActualDriver.GetIP()
	return err
}

func (r *RPCServerDriver) GetMachineName(_ *struct{}, reply *string) error {
	*reply = r.ActualDriver.GetMachineName()
	return nil
}

func (r *RPCServerDriver) GetSSHHostname(_ *struct{}, reply *string) (err error) {
	*reply, err = r.ActualDriver.GetSSHHostname()
	return err
}

func (r *RPCServerDriver) GetSSHKeyPath(_ *struct{}, reply *string) error {
	*reply = r.ActualDriver.GetSSHKeyPath()
	return nil
}

func (r *RPCServerDriver) GetSSHPort(_ *struct{}, reply *int) (err error) {
	*reply, err = r.ActualDriver.GetSSHPort()
	return err
}

func (r *RPCServerDriver) GetSSHUsername(_ *struct{}, reply *string) error {
	*reply = r.ActualDriver.GetSSHUsername()
	return nil
}

func (r *RPCServerDriver) GetURL(_ *struct{}, reply *string) (err error) {
	*reply, err = r.ActualDriver.GetURL()
	return err
}

func (r *RPCServerDriver) GetState(_ *struct{}, reply *state.State) (err error) {
	*reply, err = r.ActualDriver.GetState()
	return err
}

func (r *RPCServerDriver) Kill(_ *struct{}, _ *struct{}) error {
	return r.ActualDriver.Kill()
}

func (r *RPCServerDriver) PreCreateCheck(_ *struct{}, _ *struct{}) error {
	return r.ActualDriver.PreCreateCheck()
}

func (r *RPCServerDriver) Remove(_ *struct{}, _ *struct{}) error {
	return r.ActualDriver.Remove()
}

func (r *RPCServerDriver) Restart(_ *struct{}, _ *struct{}) error {
	return r.ActualDriver.Restart()
}

// SetConfigFromFlags takes a pointer to an interface: the argument travels as an interface
// value (*rpcdriver.RPCFlags).
func (r *RPCServerDriver) SetConfigFromFlags(flags *drivers.DriverOptions, _ *struct{}) error {
	return r.ActualDriver.SetConfigFromFlags(*flags)
}

func (r *RPCServerDriver) Start(_ *struct{}, _ *struct{}) error {
	return r.ActualDriver.Start()
}

func (r *RPCServerDriver) Stop(_ *struct{}, _ *struct{}) error {
	return r.ActualDriver.Stop()
}

func (r *RPCServerDriver) Heartbeat(_ *struct{}, _ *struct{}) error {
	r.HeartbeatCh <- true
	return nil
}
