// Package loopback holds what the benchmark's servers share: they listen
// on loopback addresses only.
package loopback

import (
	"fmt"
	"net"
)

// Listen listens on addr and fails unless it is a loopback address.
func Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if a, ok := ln.Addr().(*net.TCPAddr); !ok || !a.IP.IsLoopback() {
		ln.Close()
		return nil, fmt.Errorf("%s is not a loopback address", ln.Addr())
	}
	return ln, nil
}
