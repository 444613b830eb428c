package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/slipway-ci/slipway/handlers"
	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/models"
)

// migrate applies Slipway's and River's migrations.
func migrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c config
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	commonFlags(fs, &c)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	s, err := openStore(ctx, c, true)
	if err != nil {
		return err
	}
	defer s.Close()
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "database is up to date (%s, schema %s)\n", s.Dialect(), v)
	return nil
}

// userUsage lists the user subcommands.
const userUsage = "usage: slipway user add NAME --role ROLE [--password-stdin]\n       slipway user passwd NAME [--password-stdin]"

// readPassword reads the password from the first line of stdin, or
// generates one when fromStdin is false.
func readPassword(stdin io.Reader, fromStdin bool) (string, error) {
	if !fromStdin {
		return auth.NewPassword(), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", usageError{"--password-stdin: standard input was empty"}
	}
	return pw, nil
}

// userCmd: slipway user add NAME --role ROLE [--password-stdin], and
// slipway user passwd NAME [--password-stdin].
func userCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "passwd" {
		return userPasswd(ctx, args[1:], stdin, stdout, stderr)
	}
	if len(args) == 0 || args[0] != "add" {
		return usageError{userUsage}
	}
	var c config
	var role string
	var fromStdin bool
	fs := flag.NewFlagSet("user add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	commonFlags(fs, &c)
	fs.StringVar(&role, "role", "", "admin, lead, developer, qa or viewer")
	fs.BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of standard input (otherwise one is generated and printed)")
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"usage: slipway user add NAME --role ROLE [--password-stdin]"}
	}
	name := pos[0]
	if err := handlers.ValidateUsername(name); err != nil {
		return usageError{err.Error()}
	}
	r, err := auth.ParseRole(role)
	if err != nil {
		return usageError{"--role: " + err.Error()}
	}
	pw, err := readPassword(stdin, fromStdin)
	if err != nil {
		return err
	}
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return usageError{err.Error()}
	}
	s, err := openStore(ctx, c, true)
	if err != nil {
		return err
	}
	defer s.Close()
	err = s.Tx(ctx, func(tx *models.Store) error {
		u := &models.User{Username: name, PasswordHash: hash, Role: string(r)}
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		ev := models.NewAuditEvent(nil, models.AuditUserCreate, "user", strconv.FormatInt(u.ID, 10),
			map[string]any{"username": name, "role": r, "generated_password": !fromStdin})
		ev.ActorName = models.AuditActorCLI
		return tx.AppendAudit(ctx, ev)
	})
	if errors.Is(err, models.ErrConflict) {
		return fmt.Errorf("a user called %q already exists", name)
	}
	if err != nil {
		return err
	}
	if fromStdin {
		fmt.Fprintf(stdout, "created %s (%s)\n", name, r)
	} else {
		fmt.Fprintf(stdout, "created %s (%s) with password: %s\n", name, r, pw)
	}
	return nil
}

// userPasswd: slipway user passwd NAME [--password-stdin] sets a user's
// password (an admin's reset, e.g. for a locked-out last admin) and ends
// every session of that user. A generated password is printed once.
func userPasswd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var c config
	var fromStdin bool
	fs := flag.NewFlagSet("user passwd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	commonFlags(fs, &c)
	fs.BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of standard input (otherwise one is generated and printed)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{userUsage}
	}
	name := pos[0]
	pw, err := readPassword(stdin, fromStdin)
	if err != nil {
		return err
	}
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return usageError{err.Error()}
	}
	s, err := openStore(ctx, c, true)
	if err != nil {
		return err
	}
	defer s.Close()
	u, err := s.UserByName(ctx, name)
	if errors.Is(err, models.ErrNotFound) {
		return fmt.Errorf("no user called %q", name)
	}
	if err != nil {
		return err
	}
	var ended int64
	err = s.Tx(ctx, func(tx *models.Store) error {
		if ended, err = tx.SetUserPassword(ctx, u.ID, hash, ""); err != nil {
			return err
		}
		ev := models.NewAuditEvent(nil, models.AuditUserPassword, "user", strconv.FormatInt(u.ID, 10),
			map[string]any{"username": name, "reset": true, "generated_password": !fromStdin, "sessions_ended": ended})
		ev.ActorName = models.AuditActorCLI
		return tx.AppendAudit(ctx, ev)
	})
	if err != nil {
		return err
	}
	if fromStdin {
		fmt.Fprintf(stdout, "password of %s changed; %d sessions ended\n", name, ended)
	} else {
		fmt.Fprintf(stdout, "password of %s changed; %d sessions ended; new password: %s\n", name, ended, pw)
	}
	return nil
}

// tokenCmd: slipway token create --user NAME [--name LABEL]; the token goes
// to stdout and nowhere else.
func tokenCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return usageError{"usage: slipway token create --user NAME [--name LABEL]"}
	}
	var c config
	var user, label string
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	commonFlags(fs, &c)
	fs.StringVar(&user, "user", "", "the user the token acts as")
	fs.StringVar(&label, "name", "cli", "a label shown on the user's profile")
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if user == "" || len(pos) > 0 {
		return usageError{"usage: slipway token create --user NAME [--name LABEL]"}
	}
	s, err := openStore(ctx, c, true)
	if err != nil {
		return err
	}
	defer s.Close()
	u, err := s.UserByName(ctx, user)
	if errors.Is(err, models.ErrNotFound) {
		return fmt.Errorf("no user called %q", user)
	}
	if err != nil {
		return err
	}
	token, prefix := auth.NewToken()
	err = s.Tx(ctx, func(tx *models.Store) error {
		t := &models.APIToken{UserID: u.ID, Name: label, Hash: auth.HashSecret(token), Prefix: prefix}
		if err := tx.CreateAPIToken(ctx, t); err != nil {
			return err
		}
		ev := models.NewAuditEvent(nil, models.AuditTokenCreate, "token", strconv.FormatInt(t.ID, 10),
			map[string]any{"name": label, "user": u.Username})
		ev.ActorName = models.AuditActorCLI
		return tx.AppendAudit(ctx, ev)
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, token)
	return nil
}
