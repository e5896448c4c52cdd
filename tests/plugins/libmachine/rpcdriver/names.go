//go:build !oldrpc

package rpcdriver

// RPCFlags carries the option values of SetConfigFromFlags; on the wire it is an interface
// value named *rpcdriver.RPCFlags.
type RPCFlags struct {
	Values map[string]interface{}
}

// ServiceNames are the names the server is registered under: the pre-0.5.1 name first, then
// the current one, as Docker Machine's plugins do.
var ServiceNames = []string{"RpcServerDriver", "RPCServerDriver"}
