package main

import (
	"net"
	"os"
	"strings"
)

// netProbe reports the interfaces that are up, whether any IPv4 route
// leaves the machine (read from /proc/net/route, which shows the caller's
// own network namespace), and whether loopback works. It sends nothing
// off the machine.
func netProbe() string {
	var up []string
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		if i.Flags&net.FlagUp != 0 {
			up = append(up, i.Name)
		}
	}
	route := "route=no"
	if b, err := os.ReadFile("/proc/net/route"); err == nil {
		for _, line := range strings.Split(string(b), "\n")[1:] {
			if f := strings.Fields(line); len(f) > 0 && f[0] != "lo" {
				route = "route=yes"
			}
		}
	}
	loop := "loopback=no"
	if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			loop = "loopback=yes"
			c.Close()
		}
		ln.Close()
	}
	return "up=" + strings.Join(up, ",") + " " + route + " " + loop
}
