package deploy

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// tcpListen is the state of a listening socket in /proc/net/tcp{,6}.
const tcpListen = "0A"

// ListensOnAllInterfaces reports whether a socket listens on port on every
// interface (0.0.0.0 or ::) in this network namespace, which apps share:
// an app that does so can be reached around the edge. Only Linux's
// /proc/net/tcp and /proc/net/tcp6 are read; where they are missing it
// reports false.
func ListensOnAllInterfaces(port int) bool {
	return listensAny("/proc/net/tcp", port) || listensAny("/proc/net/tcp6", port)
}

// listensAny scans one /proc/net/tcp-format file for a listening socket on
// port whose local address is all zeros.
func listensAny(path string, port int) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		// "sl local_address rem_address st ...": local is HEXIP:HEXPORT.
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || fields[3] != tcpListen {
			continue
		}
		ip, p, ok := strings.Cut(fields[1], ":")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(p, 16, 16)
		if err != nil || int(n) != port {
			continue
		}
		if strings.Trim(ip, "0") == "" {
			return true
		}
	}
	return false
}
