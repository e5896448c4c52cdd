//go:build oldrpc

package rpcdriver

// RpcFlags is the flags type as plugins before Docker Machine 0.5.1 named it: on the wire
// *rpcdriver.RpcFlags.
type RpcFlags struct {
	Values map[string]interface{}
}

// RPCFlags names the same type, so the rest of the package is the same in both builds.
type RPCFlags = RpcFlags

// ServiceNames: an old plugin answers only under the old service name.
var ServiceNames = []string{"RpcServerDriver"}
