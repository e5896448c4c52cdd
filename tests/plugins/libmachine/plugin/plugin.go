// Package plugin runs a driver as a Docker Machine plugin process: net/rpc over HTTP on a
// loopback port whose address is the first line on stdout.
package plugin

import (
	"fmt"
	"net"
	"net/http"
	"net/rpc"
	"os"
	"time"

	"machinetest/libmachine/drivers"
	"machinetest/libmachine/log"
	"machinetest/libmachine/rpcdriver"
)

// HeartbeatTimeout is how long the plugin lives without a Heartbeat call: 10 s since Docker
// Machine 0.5.5; the old build (-tags oldrpc) has 0.5.0's 500 ms (see heartbeat_*.go).
var HeartbeatTimeout = heartbeatTimeout

// RegisterDriver serves d until Close is called (exit 0) or no heartbeat came for
// HeartbeatTimeout (exit 1). Without MACHINE_PLUGIN_TOKEN=42 it refuses to start (exit 1).
func RegisterDriver(d drivers.Driver) {
	if os.Getenv("MACHINE_PLUGIN_TOKEN") != "42" {
		fmt.Fprintf(os.Stderr, "This is a Docker Machine driver plugin; it is started by docker-machine, not by hand.\n(API version: %d)\n", rpcdriver.APIVersion)
		os.Exit(1)
	}
	log.SetDebug(true)
	os.Setenv("MACHINE_DEBUG", "1")

	server := rpcdriver.NewRPCServerDriver(d)
	for _, name := range rpcdriver.ServiceNames {
		if err := rpc.RegisterName(name, server); err != nil {
			fmt.Fprintf(os.Stderr, "cannot register the RPC service %s: %s\n", name, err)
			os.Exit(1)
		}
	}
	rpc.HandleHTTP()

	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error loading RPC server: %s\n", err)
		os.Exit(1)
	}
	defer listener.Close()
	fmt.Println(listener.Addr())
	go http.Serve(listener, nil)

	for {
		select {
		case <-server.CloseCh:
			log.Debug("Closing plugin on server side")
			os.Exit(0)
		case <-server.HeartbeatCh:
		case <-time.After(HeartbeatTimeout):
			os.Exit(1)
		}
	}
}
