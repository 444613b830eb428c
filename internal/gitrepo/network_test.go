package gitrepo

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// spy is a TCP listener that counts the connections it accepts.
type spy struct {
	port  string
	conns atomic.Int64
}

func newSpy(t *testing.T, addr string) *spy {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	s := &spy{port: port}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			c.Close()
		}
	}()
	return s
}

// fakeDNS answers for the names the tests use, as a rebinding or internal
// name would; other names go to the system resolver (localhost).
func fakeDNS(names map[string]string) Resolver {
	return func(ctx context.Context, host string) ([]netip.Addr, error) {
		if _, ok := names[host]; !ok {
			return systemResolve(ctx, host)
		}
		var out []netip.Addr
		for _, a := range strings.Split(names[host], ",") {
			if a != "" {
				out = append(out, netip.MustParseAddr(a))
			}
		}
		if len(out) == 0 {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		return out, nil
	}
}

func TestDevelopersCannotReachThisMachine(t *testing.T) {
	s4 := newSpy(t, "127.0.0.1:0")
	p := s4.port
	dns := fakeDNS(map[string]string{
		"loopback.example":  "127.0.0.1",
		"mixed.example":     "93.184.216.34,127.0.0.1",
		"metadata.example":  "169.254.169.254",
		"internal.example":  "10.1.2.3",
		"mapped.example":    "::ffff:127.0.0.1",
		"nat64.example":     "64:ff9b::7f00:1",
		"unspecified.examp": "0.0.0.0",
	})
	forms := []string{
		"http://127.0.0.1:" + p + "/app.git",
		"http://127.1:" + p + "/app.git",
		"http://2130706433:" + p + "/app.git",
		"http://0x7f000001:" + p + "/app.git",
		"http://0x7f.1:" + p + "/app.git",
		"http://0177.0.0.1:" + p + "/app.git",
		"http://0:" + p + "/app.git",
		"http://0.0.0.0:" + p + "/app.git",
		"http://[::1]:" + p + "/app.git",
		"http://[::]:" + p + "/app.git",
		"http://[::ffff:127.0.0.1]:" + p + "/app.git",
		"http://localhost:" + p + "/app.git",
		"http://LOCALHOST.:" + p + "/app.git",
		"https://127.0.0.1:" + p + "/app.git",
		"https://loopback.example:" + p + "/app.git",
		"https://mixed.example:" + p + "/app.git",
		"https://mapped.example:" + p + "/app.git",
		"https://nat64.example:" + p + "/app.git",
		"https://unspecified.examp:" + p + "/app.git",
		"https://metadata.example/latest/meta-data",
		"https://internal.example/app.git",
		"https://169.254.169.254/app.git",
		"https://10.0.0.1/app.git",
		"https://192.168.1.1/app.git",
		"https://[fe80::1%25lo]:" + p + "/app.git",
		"https://[fd00::1]/app.git",
		"https://224.0.0.1/app.git",
		"ssh://git@127.0.0.1:" + p + "/app.git",
		"ssh://git@127.1:" + p + "/app.git",
		"ssh://git@loopback.example:" + p + "/app.git",
		"ssh://git@[::1]:" + p + "/app.git",
		"git@127.1:app.git",
		"git@127.0.0.1:app.git",
		"git@[::1]:app.git",
		"git@loopback.example:app.git",
		"localhost:app.git",
	}
	var first string
	for _, raw := range forms {
		t.Run(raw, func(t *testing.T) {
			r := Remote{URL: raw, Resolve: dns}
			_, err := LsRemote(t.Context(), r)
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrNotReachable) || !errors.Is(err, ErrForbiddenAddress) {
				t.Fatalf("LsRemote(%q) = %v, want a refusal before git runs", raw, err)
			}
			generic := strings.TrimSuffix(e.Msg, RedactURL(raw))
			if first == "" {
				first = generic
			}
			if generic != first || generic != "repository not found or not reachable: " {
				t.Fatalf("message %q differs from the generic one %q", e.Msg, first)
			}
			if err := Mirror(t.Context(), t.TempDir()+"/m", r); !errors.Is(err, ErrForbiddenAddress) {
				t.Fatalf("Mirror(%q) = %v, want the same refusal", raw, err)
			}
			if err := CheckRemote(t.Context(), r); !errors.Is(err, ErrForbiddenAddress) {
				t.Fatalf("CheckRemote(%q) = %v, want the same refusal", raw, err)
			}
		})
	}
	if n := s4.conns.Load(); n != 0 {
		t.Fatalf("the listener on loopback saw %d connections", n)
	}

	t.Run("a closed port reads the same as a forbidden address", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		closed := ln.Addr().String()
		ln.Close()
		for _, raw := range []string{"http://" + closed + "/app.git", "ssh://git@" + closed + "/app.git", "https://" + closed + "/app.git"} {
			_, err := LsRemote(t.Context(), Remote{URL: raw, Network: loopbackOK})
			var e *Error
			if !errors.As(err, &e) || e.Msg != first+RedactURL(raw) {
				t.Fatalf("LsRemote(%q) = %v, want exactly %q", raw, err, first+raw)
			}
		}
	})
	t.Run("an open port that speaks no git reads the same", func(t *testing.T) {
		for _, raw := range []string{"https://127.0.0.1:" + p + "/app.git", "ssh://git@127.0.0.1:" + p + "/app.git"} {
			_, err := LsRemote(t.Context(), Remote{URL: raw, Network: loopbackOK})
			var e *Error
			if !errors.As(err, &e) || e.Msg != first+RedactURL(raw) {
				t.Fatalf("LsRemote(%q) = %v, want exactly %q", raw, err, first+raw)
			}
		}
	})
}

func TestAdminsAndAllowListsReachPrivateRepositories(t *testing.T) {
	u := newUpstream(t)
	sha := u.commit("first")
	srv := serveHTTP(t, u, "", "")
	t.Run("an admin's repository on loopback is listed", func(t *testing.T) {
		refs, err := LsRemote(t.Context(), Remote{URL: srv, Network: Network{AllowPrivate: true}})
		if err != nil || refs.Branches["main"] != sha {
			t.Fatalf("LsRemote = %v, %v", refs, err)
		}
	})
	t.Run("an allow-listed network is reachable for everyone", func(t *testing.T) {
		n := Network{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
		refs, err := LsRemote(t.Context(), Remote{URL: srv, Network: n})
		if err != nil || refs.Branches["main"] != sha {
			t.Fatalf("LsRemote = %v, %v", refs, err)
		}
	})
	t.Run("a local path still works", func(t *testing.T) {
		if _, err := LsRemote(t.Context(), Remote{URL: u.dir}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestGitConnectsOnlyToTheCheckedAddress(t *testing.T) {
	u := newUpstream(t)
	sha := u.commit("first")
	srv := serveHTTP(t, u, "", "")
	port := srv[strings.LastIndex(srv, ":")+1 : strings.LastIndex(srv, "/")]

	t.Run("http: curl uses the address Go checked, not its own lookup", func(t *testing.T) {
		// The system resolver knows no such name: git can only succeed by
		// connecting where the check pinned it.
		for _, host := range []string{"git.pinned.invalid", "Git.PINNED.invalid"} {
			url := "http://" + host + ":" + port + "/upstream"
			r := Remote{URL: url, Network: loopbackOK, AllowHTTP: true, Resolve: fakeDNS(map[string]string{host: "127.0.0.1"})}
			refs, err := LsRemote(t.Context(), r)
			if err != nil || refs.Branches["main"] != sha {
				t.Fatalf("LsRemote(%s) = %v, %v", url, refs, err)
			}
			dir := filepath.Join(t.TempDir(), "m")
			if err := Mirror(t.Context(), dir, r); err != nil {
				t.Fatalf("Mirror(%s) = %v", url, err)
			}
		}
	})
	t.Run("ssh: ssh connects to the checked IP", func(t *testing.T) {
		sp := newSpy(t, "127.0.0.1:0")
		r := Remote{URL: "ssh://git@git.pinned.invalid:" + sp.port + "/app.git", Network: loopbackOK,
			Resolve: fakeDNS(map[string]string{"git.pinned.invalid": "127.0.0.1"})}
		if _, err := LsRemote(t.Context(), r); !errors.Is(err, ErrNotReachable) {
			t.Fatalf("LsRemote = %v", err)
		}
		if sp.conns.Load() == 0 {
			t.Fatal("ssh did not connect to the checked address")
		}
	})
	t.Run("a redirect to an address that is not allowed is not followed", func(t *testing.T) {
		target := newSpy(t, "127.0.0.2:0")
		redirector := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://127.0.0.2:"+target.port+r.URL.RequestURI(), http.StatusFound)
		})}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go redirector.Serve(ln)
		t.Cleanup(func() { redirector.Close() })
		n := Network{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
		_, err = LsRemote(t.Context(), Remote{URL: "http://" + ln.Addr().String() + "/app.git", Network: n})
		if !errors.Is(err, ErrNotReachable) {
			t.Fatalf("LsRemote = %v", err)
		}
		if c := target.conns.Load(); c != 0 {
			t.Fatalf("git followed the redirect: %d connections to 127.0.0.2", c)
		}
	})
}

func TestSSHPinKeepsTheHostKeyName(t *testing.T) {
	addrs := []netip.Addr{netip.MustParseAddr("203.0.114.7")}
	for _, tc := range []struct{ url, want, alias string }{
		{"ssh://git@git.example.com/acme/app.git", "ssh://git@203.0.114.7/acme/app.git", "'git.example.com'"},
		{"ssh://git@git.example.com:2222/acme/app.git", "ssh://git@203.0.114.7:2222/acme/app.git", "'[git.example.com]:2222'"},
		{"git@git.example.com:acme/app.git", "git@203.0.114.7:acme/app.git", "'git.example.com'"},
		{"git.example.com:acme/app.git", "203.0.114.7:acme/app.git", "'git.example.com'"},
	} {
		ep, err := validateURL(tc.url, false)
		if err != nil {
			t.Fatal(err)
		}
		got, _, opts := ep.pin(tc.url, addrs)
		if got != tc.want || !strings.Contains(strings.Join(opts, " "), "HostKeyAlias="+tc.alias) {
			t.Fatalf("pin(%q) = %q %v, want %q with alias %s", tc.url, got, opts, tc.want, tc.alias)
		}
	}
}

func TestPublicAddresses(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"140.82.121.4", true}, {"2606:50c0:8000::153", true},
		{"127.0.0.1", false}, {"10.0.0.1", false}, {"172.16.0.1", false}, {"192.168.0.1", false},
		{"169.254.169.254", false}, {"100.64.0.1", false}, {"0.0.0.0", false}, {"255.255.255.255", false},
		{"224.0.0.1", false}, {"::1", false}, {"::", false}, {"fe80::1", false}, {"fd00::1", false},
		{"ff02::1", false}, {"::ffff:10.0.0.1", false}, {"64:ff9b::a00:1", false}, {"64:ff9b::8c52:7904", true},
		{"2002:7f00:1::", false}, {"::127.0.0.1", false},
	} {
		if got := public(netip.MustParseAddr(tc.addr)); got != tc.ok {
			t.Errorf("public(%s) = %v, want %v", tc.addr, got, tc.ok)
		}
	}
}
