package notify

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// SMTP TLS modes.
const (
	// TLSStartTLS requires STARTTLS (the default, port 587).
	TLSStartTLS = "starttls"
	// TLSImplicit connects with TLS from the start (smtps://, port 465).
	TLSImplicit = "tls"
	// TLSNone sends in clear text: only for a relay on this machine or a
	// trusted network (?tls=none).
	TLSNone = "none"
)

// SMTPConfig is where email notifications are sent from.
type SMTPConfig struct {
	Host     string
	Port     int
	Username string
	// Password never appears in String, logs or pages.
	Password string
	From     string
	TLS      string
	// Timeout bounds one send (DefaultTimeout when zero).
	Timeout time.Duration
}

// ParseSMTPURL reads smtp://[user@]host[:port]?from=addr[&tls=none] or
// smtps://… A password in the URL is refused: it would show in the
// process list and in configuration dumps; pass it separately.
func ParseSMTPURL(raw string) (SMTPConfig, error) {
	var c SMTPConfig
	u, err := url.Parse(raw)
	if err != nil {
		return c, errors.New("notify: the SMTP URL is not a URL (smtp://user@host:587?from=ci@example.com)")
	}
	switch u.Scheme {
	case "smtp":
		c.TLS, c.Port = TLSStartTLS, 587
	case "smtps":
		c.TLS, c.Port = TLSImplicit, 465
	default:
		return c, errors.New("notify: the SMTP URL must start with smtp:// or smtps://")
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			return c, errors.New("notify: the SMTP URL must not carry the password; set SLIPWAY_SMTP_PASSWORD instead")
		}
		c.Username = u.User.Username()
	}
	c.Host = u.Hostname()
	if c.Host == "" {
		return c, errors.New("notify: the SMTP URL has no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return c, fmt.Errorf("notify: SMTP port %q is not a port number", p)
		}
		c.Port = n
	}
	q := u.Query()
	c.From = q.Get("from")
	if _, err := mail.ParseAddress(c.From); err != nil {
		return c, errors.New("notify: the SMTP URL needs ?from=address (the sender of notification mail)")
	}
	switch t := q.Get("tls"); t {
	case "":
	case TLSNone, TLSStartTLS:
		if c.TLS == TLSImplicit {
			return c, errors.New("notify: smtps:// always uses TLS; use smtp:// with ?tls=none for clear text")
		}
		c.TLS = t
	default:
		return c, fmt.Errorf("notify: ?tls=%q must be starttls or none", t)
	}
	return c, nil
}

// String describes the configuration without the password.
func (c SMTPConfig) String() string {
	user := ""
	if c.Username != "" {
		user = c.Username + "@"
	}
	return fmt.Sprintf("%s%s:%d (tls %s, from %s)", user, c.Host, c.Port, c.TLS, c.From)
}

// ParseAddresses checks a comma-separated list of recipients (1 to 20).
func ParseAddresses(list string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(list, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		a, err := mail.ParseAddress(f)
		if err != nil || strings.ContainsAny(a.Address, "\r\n") {
			return nil, fmt.Errorf("notify: %q is not an email address", f)
		}
		out = append(out, a.Address)
	}
	switch {
	case len(out) == 0:
		return nil, errors.New("notify: name at least one email address")
	case len(out) > 20:
		return nil, errors.New("notify: at most 20 email addresses")
	}
	return out, nil
}

// EmailText is the subject and plain-text body of an event's mail.
func EmailText(ev Event) (subject, body string) {
	var b strings.Builder
	b.WriteString(ev.Summary())
	b.WriteString("\n\n")
	for _, kv := range ev.Details() {
		fmt.Fprintf(&b, "%-12s %s\n", kv[0]+":", kv[1])
	}
	b.WriteString("\n-- \nSent by Slipway because this address is a notification endpoint of the project.\n")
	// A subject is one line: a ref or comment cannot add headers.
	subject = "[Slipway] " + strings.Join(strings.Fields(ev.Summary()), " ")
	return subject, b.String()
}

// Mailer sends notification mail over SMTP.
type Mailer struct {
	cfg SMTPConfig
}

// NewMailer returns a Mailer for cfg.
func NewMailer(cfg SMTPConfig) *Mailer { return &Mailer{cfg: cfg} }

// Config returns the mailer's configuration (callers print it with String).
func (m *Mailer) Config() SMTPConfig { return m.cfg }

// Send mails ev to the recipients.
func (m *Mailer) Send(ctx context.Context, id string, to []string, ev Event) error {
	timeout := m.cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	msg := gomail.NewMsg()
	if err := msg.From(m.cfg.From); err != nil {
		return fmt.Errorf("notify: from address: %w", err)
	}
	if err := msg.To(to...); err != nil {
		return fmt.Errorf("notify: recipients: %w", err)
	}
	subject, body := EmailText(ev)
	msg.Subject(subject)
	msg.SetDate()
	msg.SetMessageIDWithValue(id + "@slipway")
	msg.SetBodyString(gomail.TypeTextPlain, body)
	opts := []gomail.Option{gomail.WithPort(m.cfg.Port), gomail.WithTimeout(timeout)}
	switch m.cfg.TLS {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if m.cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(m.cfg.Username), gomail.WithPassword(m.cfg.Password))
	}
	c, err := gomail.NewClient(m.cfg.Host, opts...)
	if err != nil {
		return fmt.Errorf("notify: smtp client: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("notify: send mail via %s:%d: %w", m.cfg.Host, m.cfg.Port, err)
	}
	return nil
}
