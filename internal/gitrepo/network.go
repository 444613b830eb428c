package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// ErrForbiddenAddress is the hidden cause of a refusal to connect: the
// repository's host is, or resolves to, an address the remote's Network
// does not allow (loopback, private, link-local, this machine's own...),
// or is written in a numeric form git's resolver would read differently
// from Go's. The user sees only the generic ErrNotReachable message, the
// same as for a closed port or a missing host, so refusals and connection
// errors tell nothing about what listens where.
var ErrForbiddenAddress = errors.New("address not allowed for repositories")

// Network says which addresses git may connect to for one remote.
// The zero value allows public unicast addresses only.
type Network struct {
	// AllowPrivate also allows loopback, private, link-local, unspecified,
	// multicast and this machine's own addresses. Only repositories linked
	// by an admin get it.
	AllowPrivate bool
	// Allow lists networks any repository may reach even though they are
	// not public (an admin setting, e.g. the company's git server).
	Allow []netip.Prefix
}

// Resolver looks up a host name's addresses.
type Resolver func(ctx context.Context, host string) ([]netip.Addr, error)

func systemResolve(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// CheckRemote resolves the remote's host and checks every address against
// its Network without connecting. It returns nil for local repositories
// and for addresses that are allowed; an *Error (ErrNotReachable, cause
// ErrForbiddenAddress or the DNS error) otherwise, or an ErrInvalidURL
// *Error for a URL git must not see.
func CheckRemote(ctx context.Context, r Remote) error {
	ep, err := validateURL(r.URL, r.AllowHTTP)
	if err != nil {
		return err
	}
	_, err = checkedAddrs(ctx, r, ep)
	return err
}

// unreachable is the one message for every way a network remote can fail
// before git talks to it, or while connecting.
func unreachable(r Remote, cause error) error {
	return &Error{Kind: ErrNotReachable, Msg: ErrNotReachable.Error() + ": " + RedactURL(r.URL), Err: cause}
}

// checkedAddrs returns the addresses git may connect to for ep, every one
// of them allowed; nil for local transports.
func checkedAddrs(ctx context.Context, r Remote, ep endpoint) ([]netip.Addr, error) {
	if ep.tr == transportFile {
		return nil, nil
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(ep.host); err == nil {
		if a.Zone() != "" {
			return nil, unreachable(r, fmt.Errorf("%w: %q names a zone", ErrForbiddenAddress, ep.host))
		}
		addrs = []netip.Addr{a}
	} else {
		if why := hostNameProblem(ep.host); why != "" {
			return nil, unreachable(r, fmt.Errorf("%w: host %q: %s", ErrForbiddenAddress, ep.host, why))
		}
		resolve := r.Resolve
		if resolve == nil {
			resolve = systemResolve
		}
		var err error
		addrs, err = resolve(ctx, ep.host)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, unreachable(r, fmt.Errorf("resolve %s: %w", ep.host, err))
		}
		if len(addrs) == 0 {
			return nil, unreachable(r, fmt.Errorf("resolve %s: no addresses", ep.host))
		}
	}
	local := localAddrs()
	for _, a := range addrs {
		if !r.Network.allows(a, local) {
			return nil, unreachable(r, fmt.Errorf("%w: %s resolves to %s", ErrForbiddenAddress, ep.host, a))
		}
	}
	return addrs, nil
}

// hostNameProblem says why a host that is not a canonical IP literal may
// not be handed to git, or "". curl and ssh resolve with the C library,
// which reads "127.1", "2130706433", "0x7f000001" and "0177.0.0.1" as
// IPv4 addresses that Go's parser refuses (so Go would look them up as
// names and check the wrong thing): a last label that looks numeric is
// refused outright. Names must be plain ASCII (an IDN would be converted
// by curl after the check) without a trailing dot (curl and Go disagree on
// what it pins).
func hostNameProblem(host string) string {
	if host == "" || len(host) > 253 {
		return "empty or too long"
	}
	for _, c := range []byte(host) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_'
		if !ok {
			return "only letters, digits, '-', '_' and '.' are allowed (write an IDN in its xn-- form)"
		}
	}
	labels := strings.Split(host, ".")
	for _, l := range labels {
		if l == "" {
			return "empty label or trailing dot"
		}
	}
	last := strings.ToLower(labels[len(labels)-1])
	if isNumericLabel(last) {
		return "a numeric address in a non-canonical form (write it as a.b.c.d)"
	}
	return ""
}

// isNumericLabel reports whether inet_aton would read l as a number:
// decimal, octal (leading 0) or hexadecimal (0x).
func isNumericLabel(l string) bool {
	if rest, ok := strings.CutPrefix(l, "0x"); ok {
		return strings.Trim(rest, "0123456789abcdef") == ""
	}
	return strings.Trim(l, "0123456789") == ""
}

// blocked are ranges that are not public even though netip does not call
// them private, loopback or link-local.
var blocked = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, broadcast
	netip.MustParsePrefix("::/96"),           // IPv4-compatible (deprecated)
	netip.MustParsePrefix("100::/64"),        // discard
	netip.MustParsePrefix("2001::/32"),       // Teredo
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated)
}

// public reports whether a is an ordinary public unicast address.
func public(a netip.Addr) bool {
	a = a.Unmap()
	// NAT64 and 6to4 addresses carry an IPv4 address that is what the
	// packets finally reach: judge that one.
	if nat64 := netip.MustParsePrefix("64:ff9b::/96"); nat64.Contains(a) {
		b := a.As16()
		return public(netip.AddrFrom4([4]byte(b[12:16])))
	}
	if sixToFour := netip.MustParsePrefix("2002::/16"); sixToFour.Contains(a) {
		b := a.As16()
		return public(netip.AddrFrom4([4]byte(b[2:6])))
	}
	if !a.IsGlobalUnicast() || a.IsPrivate() {
		return false
	}
	for _, p := range blocked {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

func (n Network) allows(a netip.Addr, local []netip.Addr) bool {
	a = a.Unmap()
	if n.AllowPrivate {
		return true
	}
	for _, p := range n.Allow {
		if p.Contains(a) {
			return true
		}
	}
	if !public(a) {
		return false
	}
	// A public address of this machine reaches the services it binds on
	// every interface, the portal's own included.
	for _, l := range local {
		if l == a {
			return false
		}
	}
	return true
}

// localAddrs lists this machine's interface addresses.
func localAddrs() []netip.Addr {
	ifAddrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	out := make([]netip.Addr, 0, len(ifAddrs))
	for _, ia := range ifAddrs {
		if pn, ok := ia.(*net.IPNet); ok {
			if a, ok := netip.AddrFromSlice(pn.IP); ok {
				out = append(out, a.Unmap())
			}
		}
	}
	return out
}

// pin makes git connect to the checked addresses and nothing else: for
// http(s) curl is told the name's addresses (http.curloptResolve) so it
// does not resolve the name again, which a DNS answer that changed since
// the check (rebinding) would exploit, and redirects are not followed (they
// could lead anywhere); for ssh the URL names the checked IP and
// HostKeyAlias keeps the host key pinned under the name. It returns the URL
// to hand to git, extra -c settings and extra ssh options.
func (ep endpoint) pin(raw string, addrs []netip.Addr) (string, []string, []string) {
	switch ep.tr {
	case transportHTTP, transportHTTPS:
		cfg := []string{"http.followRedirects=false"}
		if _, err := netip.ParseAddr(ep.host); err != nil {
			list := make([]string, len(addrs))
			for i, a := range addrs {
				if a.Is4() || a.Is4In6() {
					list[i] = a.Unmap().String()
				} else {
					list[i] = "[" + a.String() + "]"
				}
			}
			cfg = append(cfg, "http.curloptResolve="+ep.host+":"+ep.port+":"+strings.Join(list, ","))
		}
		return raw, cfg, nil
	case transportSSH:
		if _, err := netip.ParseAddr(ep.host); err == nil {
			return raw, nil, nil
		}
		ip := addrs[0].Unmap()
		alias := ep.host
		if ep.port != "22" {
			alias = "[" + ep.host + "]:" + ep.port
		}
		opts := []string{"-o", "HostKeyAlias=" + shellQuote(alias), "-o", "CheckHostIP=no"}
		if ep.scp {
			host := ip.String()
			if ip.Is6() {
				host = "[" + host + "]"
			}
			if ep.user != "" {
				host = ep.user + "@" + host
			}
			return host + ":" + ep.path, nil, opts
		}
		u := *ep.u
		host := ip.String()
		if ip.Is6() {
			host = "[" + host + "]"
		}
		if p := ep.u.Port(); p != "" {
			host += ":" + p
		}
		u.Host = host
		return u.String(), nil, opts
	}
	return raw, nil, nil
}

// Allows reports whether a connection to a may be made under n: the same
// rule git's remotes follow, for other outgoing connections (notification
// webhooks) that check the address they actually dial.
func (n Network) Allows(a netip.Addr) bool { return n.allows(a, localAddrs()) }
