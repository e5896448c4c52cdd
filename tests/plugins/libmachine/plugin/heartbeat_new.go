//go:build !oldrpc

package plugin

import "time"

// Docker Machine 0.5.5 and later.
const heartbeatTimeout = 10 * time.Second
