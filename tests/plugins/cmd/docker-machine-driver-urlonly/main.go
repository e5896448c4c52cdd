// docker-machine-driver-urlonly: a Docker Machine driver plugin behaving as Docker Machine's
// `none` driver (a daemon registered by its URL, no SSH).
package main

import (
	"machinetest/drivers/urlonly"
	"machinetest/libmachine/plugin"
)

func main() {
	plugin.RegisterDriver(urlonly.NewDriver("", ""))
}
