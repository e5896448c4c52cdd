// docker-machine-driver-fakecloud: a Docker Machine driver plugin for the fake cloud API
// (cmd/fakecloud-api). Built with -tags oldrpc it is a pre-0.5.1 plugin
// (docker-machine-driver-fakecloud-old).
package main

import (
	"machinetest/drivers/fakecloud"
	"machinetest/libmachine/plugin"
)

func main() {
	plugin.RegisterDriver(fakecloud.NewDriver("", ""))
}
