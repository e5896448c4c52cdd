// Package rpcdriver (imported as oldflags) gives the test client the flags type of a
// pre-0.5.1 client: gob names it *rpcdriver.RpcFlags because of the package name.
package rpcdriver

import "encoding/gob"

// RpcFlags is the old name of the SetConfigFromFlags argument.
type RpcFlags struct {
	Values map[string]interface{}
}

func (f RpcFlags) String(key string) string        { s, _ := f.Values[key].(string); return s }
func (f RpcFlags) StringSlice(key string) []string { s, _ := f.Values[key].([]string); return s }
func (f RpcFlags) Int(key string) int              { i, _ := f.Values[key].(int); return i }
func (f RpcFlags) Bool(key string) bool            { b, _ := f.Values[key].(bool); return b }

func init() {
	gob.Register(new(RpcFlags))
}
