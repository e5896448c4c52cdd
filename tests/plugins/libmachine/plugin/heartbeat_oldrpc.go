//go:build oldrpc

package plugin

import "time"

// Docker Machine 0.5.0 to 0.5.4: a plugin exits half a second after the last heartbeat.
const heartbeatTimeout = 500 * time.Millisecond
