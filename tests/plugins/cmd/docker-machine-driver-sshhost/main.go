// docker-machine-driver-sshhost: a Docker Machine driver plugin for an existing SSH host.
package main

import (
	"machinetest/drivers/sshhost"
	"machinetest/libmachine/plugin"
)

func main() {
	plugin.RegisterDriver(sshhost.NewDriver("", ""))
}
