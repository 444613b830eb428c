package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-ci/slipway/internal/artifact"
	"github.com/slipway-ci/slipway/internal/logs"
	"github.com/slipway-ci/slipway/internal/notify"
	"github.com/slipway-ci/slipway/internal/runner"
	"github.com/slipway-ci/slipway/internal/secretbox"
	"github.com/slipway-ci/slipway/jobs"
	"github.com/slipway-ci/slipway/models"
)

// config is every setting, from flags with SLIPWAY_* fallbacks.
type config struct {
	Addr          string
	DataDir       string
	DatabaseURL   string
	LogFormat     string
	LogLevel      string
	BuildWorkers  int
	SecureCookies bool
	NoWorkers     bool
	Sandbox       string
	WorkspaceDir  string
	// BuildMaxProcs bounds the processes and threads of one build.
	BuildMaxProcs int
	// BuildCacheMaxMB caps all build caches together, in MiB.
	BuildCacheMaxMB int
	// PublicURL is the portal's external base URL, for absolute links.
	PublicURL string
	// TrustedProxies is --trusted-proxies: CIDRs or addresses whose
	// X-Forwarded-For names the client.
	TrustedProxies string
	// ReadTimeout bounds reading a whole request, body included;
	// HookReadTimeout is the longer bound of forge webhooks.
	ReadTimeout     time.Duration
	HookReadTimeout time.Duration
	// RepoAllowNetworks is the comma-separated CIDR list of non-public
	// networks every project's repository may reach.
	RepoAllowNetworks string
	// SecretKey is SLIPWAY_SECRET_KEY (environment only: a flag would show
	// the key in the process list).
	SecretKey string
	// SMTPURL is where notification mail goes (smtp://user@host:587?from=…);
	// SMTPPassword is SLIPWAY_SMTP_PASSWORD (environment only, never printed).
	SMTPURL      string
	SMTPPassword string
	// NotifyAllowNetworks is the comma-separated CIDR list of non-public
	// networks every notification endpoint may reach.
	NotifyAllowNetworks string
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func envBool(name string) bool {
	v, _ := strconv.ParseBool(os.Getenv(name))
	return v
}

// commonFlags registers the settings every command shares.
func commonFlags(fs *flag.FlagSet, c *config) {
	fs.StringVar(&c.DataDir, "data", env("SLIPWAY_DATA", "./data"), "data directory: SQLite database, repositories, artifacts (SLIPWAY_DATA)")
	fs.StringVar(&c.DatabaseURL, "database-url", env("SLIPWAY_DATABASE_URL", ""), "postgres:// URL; empty means SQLite in the data directory (SLIPWAY_DATABASE_URL)")
	fs.StringVar(&c.LogFormat, "log-format", env("SLIPWAY_LOG_FORMAT", "text"), "log format: text or json (SLIPWAY_LOG_FORMAT)")
	fs.StringVar(&c.LogLevel, "log-level", env("SLIPWAY_LOG_LEVEL", "info"), "log level: debug, info, warn, error (SLIPWAY_LOG_LEVEL)")
	c.SecretKey = os.Getenv("SLIPWAY_SECRET_KEY")
}

// parseFlags parses args, allowing flags after positional arguments
// ("user add NAME --role qa"); it returns the positionals.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func newLogger(c config, w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, usageError{fmt.Sprintf("--log-level: %v", err)}
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(c.LogFormat) {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageError{fmt.Sprintf("--log-format must be text or json, not %q", c.LogFormat)}
}

// openStore opens and, when migrate is set, migrates the database
// (Slipway's schema and River's).
func openStore(ctx context.Context, c config, migrate bool) (*models.Store, error) {
	s, err := models.Open(ctx, models.Config{URL: c.DatabaseURL, DataDir: c.DataDir})
	if err != nil {
		return nil, err
	}
	if migrate {
		if err := s.Migrate(ctx); err != nil {
			s.Close()
			return nil, err
		}
		if err := jobs.Migrate(ctx, s); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// buildFlags registers the settings of processes that run builds.
func buildFlags(fs *flag.FlagSet, c *config) {
	fs.StringVar(&c.Sandbox, "sandbox", env("SLIPWAY_SANDBOX", "auto"), "run build steps and deployed apps in bubblewrap: auto, off or required (SLIPWAY_SANDBOX)")
	fs.StringVar(&c.WorkspaceDir, "workspace-dir", env("SLIPWAY_WORKSPACE_DIR", ""), "where build workspaces are made, outside the data directory; empty means the system temp dir (SLIPWAY_WORKSPACE_DIR)")
	fs.IntVar(&c.BuildMaxProcs, "build-max-procs", envInt("SLIPWAY_BUILD_MAX_PROCS", 2048), "most processes and threads one build may have at once; 0 means no bound (SLIPWAY_BUILD_MAX_PROCS)")
	fs.IntVar(&c.BuildCacheMaxMB, "build-cache-max-mb", envInt("SLIPWAY_BUILD_CACHE_MAX_MB", 10240), "size cap of all build caches together in MiB, least recently used evicted first; 0 means no cap (SLIPWAY_BUILD_CACHE_MAX_MB)")
	fs.StringVar(&c.SMTPURL, "smtp-url", env("SLIPWAY_SMTP_URL", ""), "SMTP server for email notifications: smtp://user@host:587?from=ci@example.com (STARTTLS required), smtps://… (TLS), &tls=none for a local relay; the password comes from SLIPWAY_SMTP_PASSWORD only (SLIPWAY_SMTP_URL)")
	c.SMTPPassword = os.Getenv("SLIPWAY_SMTP_PASSWORD")
	fs.StringVar(&c.NotifyAllowNetworks, "notify-allow-networks", env("SLIPWAY_NOTIFY_ALLOW_NETWORKS", ""), "comma-separated CIDRs of private networks any notification webhook may reach; loopback and private addresses are otherwise for endpoints an admin created (SLIPWAY_NOTIFY_ALLOW_NETWORKS)")
	fs.StringVar(&c.RepoAllowNetworks, "repo-allow-networks", env("SLIPWAY_REPO_ALLOW_NETWORKS", ""), "comma-separated CIDRs of private networks any project's repository may reach, e.g. an internal git server; loopback and private addresses are otherwise for admins' projects only (SLIPWAY_REPO_ALLOW_NETWORKS)")
}

// repoNetworks parses --repo-allow-networks.
func repoNetworks(raw string) ([]netip.Prefix, error) {
	return parseNetworks("--repo-allow-networks", raw)
}

// notifySettings parses the notification settings: the mailer (nil when
// --smtp-url is empty) and --notify-allow-networks.
func notifySettings(c config) (*notify.Mailer, []netip.Prefix, error) {
	nets, err := parseNetworks("--notify-allow-networks", c.NotifyAllowNetworks)
	if err != nil || c.SMTPURL == "" {
		return nil, nets, err
	}
	cfg, err := notify.ParseSMTPURL(c.SMTPURL)
	if err != nil {
		return nil, nil, usageError{"--smtp-url: " + strings.TrimPrefix(err.Error(), "notify: ")}
	}
	cfg.Password = c.SMTPPassword
	return notify.NewMailer(cfg), nets, nil
}

// parseNetworks parses a comma-separated CIDR list given to flag.
func parseNetworks(flag, raw string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(raw, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, usageError{fmt.Sprintf("%s: %q is not a CIDR like 10.20.0.0/16", flag, f)}
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// buildDeps opens what build workers and build pages share: the log
// service (started) and the artifact store. The caller closes the service
// after the workers stopped.
func buildDeps(ctx context.Context, c config, store *models.Store, log *slog.Logger) (*logs.Service, *artifact.Store, error) {
	switch runner.SandboxMode(c.Sandbox) {
	case runner.SandboxAuto, runner.SandboxOff, runner.SandboxRequired:
	default:
		return nil, nil, usageError{fmt.Sprintf("--sandbox must be auto, off or required, not %q", c.Sandbox)}
	}
	if c.BuildMaxProcs < 0 || c.BuildCacheMaxMB < 0 {
		return nil, nil, usageError{"--build-max-procs and --build-cache-max-mb must not be negative"}
	}
	if _, err := repoNetworks(c.RepoAllowNetworks); err != nil {
		return nil, nil, err
	}
	if _, _, err := notifySettings(c); err != nil {
		return nil, nil, err
	}
	arts, err := artifact.NewStore(filepath.Join(c.DataDir, "artifacts"))
	if err != nil {
		return nil, nil, err
	}
	// A window of up to 100,000 recent lines (8 MiB at most) keeps live
	// log viewers that lag a few seconds behind a fast build out of the
	// store (docs/logs.md).
	ls := logs.NewService(store, logs.Options{Logger: log, Window: 100_000})
	if err := ls.Start(ctx); err != nil {
		ls.Close()
		return nil, nil, err
	}
	return ls, arts, nil
}

// jobDeps is what the job workers get.
func jobDeps(c config, store *models.Store, log *slog.Logger, ls *logs.Service, arts *artifact.Store) jobs.Deps {
	d := jobs.Deps{
		Store: store, Logger: log, DataDir: c.DataDir, Logs: ls, Artifacts: arts,
		WorkspaceDir: c.WorkspaceDir, Sandbox: runner.SandboxMode(c.Sandbox),
		MaxBuildProcs: c.BuildMaxProcs, BuildCacheMax: int64(c.BuildCacheMaxMB) << 20,
	}
	// Checked in buildDeps, which every caller runs first.
	d.RepoNetworks, _ = repoNetworks(c.RepoAllowNetworks)
	d.Mailer, d.NotifyNetworks, _ = notifySettings(c)
	d.PublicURL = c.PublicURL
	if d.Mailer != nil {
		log.Info("email notifications", slog.String("smtp", d.Mailer.Config().String()))
	}
	return d
}

// loadSecrets opens the key that seals secrets at rest: SLIPWAY_SECRET_KEY,
// else <data>/secret.key (created on first start when create is set).
func loadSecrets(c config, create bool, log *slog.Logger) (*secretbox.Box, error) {
	box, origin, err := secretbox.Load(secretbox.Source{EncodedKey: c.SecretKey, Dir: c.DataDir, Create: create})
	if err != nil {
		return nil, err
	}
	if origin == secretbox.FromNewFile {
		log.Warn("created a new secret key; back it up — deploy keys and webhook secrets cannot be opened without it",
			slog.String("path", filepath.Join(c.DataDir, secretbox.KeyFileName)), slog.String("key_id", box.KeyID()))
	} else {
		log.Info("secret key loaded", slog.String("from", string(origin)), slog.String("key_id", box.KeyID()))
	}
	return box, nil
}

// validatePublicURL checks SLIPWAY_PUBLIC_URL and drops a trailing slash.
func validatePublicURL(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", usageError{fmt.Sprintf("--public-url must be an http:// or https:// base URL like https://ci.example.com, not %q", raw)}
	}
	return strings.TrimRight(raw, "/"), nil
}

// parseTrustedProxies reads a comma-separated list of CIDRs or bare
// addresses (a single host).
func parseTrustedProxies(raw string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, f := range strings.Split(raw, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			ip := net.ParseIP(f)
			if ip == nil {
				return nil, usageError{fmt.Sprintf("--trusted-proxies: %q is not an IP address or CIDR", f)}
			}
			bits := 128
			if ip.To4() != nil {
				ip, bits = ip.To4(), 32
			}
			out = append(out, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
			continue
		}
		_, n, err := net.ParseCIDR(f)
		if err != nil {
			return nil, usageError{fmt.Sprintf("--trusted-proxies: %q is not an IP address or CIDR", f)}
		}
		out = append(out, n)
	}
	return out, nil
}
