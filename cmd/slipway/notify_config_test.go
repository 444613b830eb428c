package main

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/models"
)

func TestSMTPSettingsKeepThePasswordOutOfFlagsAndLogs(t *testing.T) {
	var ue usageError
	if _, _, err := notifySettings(config{SMTPURL: "smtp://ci:hunter2@mail.example.com?from=ci@example.com"}); !errors.As(err, &ue) || !strings.Contains(err.Error(), "SLIPWAY_SMTP_PASSWORD") {
		t.Fatalf("a password in --smtp-url: %v", err)
	}
	if _, _, err := notifySettings(config{SMTPURL: "smtp://mail.example.com"}); !errors.As(err, &ue) || !strings.Contains(err.Error(), "from=") {
		t.Fatalf("no sender: %v", err)
	}
	if _, _, err := notifySettings(config{NotifyAllowNetworks: "10.0.0.0/8,nope"}); err == nil || !strings.Contains(err.Error(), "--notify-allow-networks") {
		t.Fatalf("bad network: %v", err)
	}
	c := config{SMTPURL: "smtps://ci@mail.example.com?from=ci@example.com", SMTPPassword: "hunter2", NotifyAllowNetworks: "10.20.0.0/16"}
	m, nets, err := notifySettings(c)
	if err != nil || m == nil || m.Config().Password != "hunter2" || len(nets) != 1 {
		t.Fatalf("%v %v %v", m, nets, err)
	}
	var logs bytes.Buffer
	d := jobDeps(c, &models.Store{}, slog.New(slog.NewTextHandler(&logs, nil)), nil, nil)
	if d.Mailer == nil || !strings.Contains(logs.String(), "mail.example.com") || strings.Contains(logs.String(), "hunter2") {
		t.Fatalf("start-up log: %s", logs.String())
	}
}
