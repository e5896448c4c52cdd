// docker-machine-driver-sshhost: a Docker Machine driver plugin for an existing SSH host.
//
// Started as a `docker-machine` binary serving a built-in driver (MACHINE_PLUGIN_DRIVER_NAME
// set), it says so on stderr (its debug log) and serves the same driver: the tests of
// MACHINE_DOCKER_MACHINE_BIN use it as a stand-in for Docker Machine's own binary.
package main

import (
	"fmt"
	"os"

	"machinetest/drivers/sshhost"
	"machinetest/libmachine/plugin"
)

func main() {
	if name := os.Getenv("MACHINE_PLUGIN_DRIVER_NAME"); name != "" {
		fmt.Fprintf(os.Stderr, "serving as the built-in driver %s\n", name)
	}
	plugin.RegisterDriver(sshhost.NewDriver("", ""))
}
