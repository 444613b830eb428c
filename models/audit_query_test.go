package models

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// appendN appends n events by actor "ada" on objects user/1…n, a hundred
// per transaction (several appends in one transaction must chain too).
func appendN(t *testing.T, s *Store, n int) {
	t.Helper()
	ctx := context.Background()
	for start := 1; start <= n; start += 100 {
		err := s.Tx(ctx, func(tx *Store) error {
			for i := start; i < start+100 && i <= n; i++ {
				e := NewAuditEvent(nil, AuditUserRole, "user", strconv.Itoa(i), map[string]any{"role": "qa", "i": i})
				e.ActorName = "ada"
				if err := tx.AppendAudit(ctx, e); err != nil {
					return fmt.Errorf("append %d: %w", i, err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// twin opens a second Store on the same database, as another process would.
func twin(t *testing.T, s *Store) *Store {
	t.Helper()
	cfg := Config{URL: s.DSN()}
	if s.Dialect() == SQLite {
		path := strings.TrimPrefix(s.DSN(), "file:")
		path = path[:strings.Index(path, "?")]
		cfg = Config{DataDir: filepath.Dir(path)}
	}
	o, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

func TestAuditChainVerifiesAfterManyAppends(t *testing.T) {
	eachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		r, err := s.VerifyAudit(ctx)
		if err != nil || !r.OK || r.Events != 0 {
			t.Fatalf("empty trail: %+v %v", r, err)
		}
		const n, batch = 230, 50 // several verify batches, the last one partial
		appendN(t, s, n)
		r, err = s.verifyAudit(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		if !r.OK || r.Events != n || r.LastSeq != n {
			t.Fatalf("verify after %d appends: %+v", n, r)
		}
		if r2, err := s.VerifyAudit(ctx); err != nil || r2 != r {
			t.Fatalf("verify in one batch: %+v %v, want %+v", r2, err, r)
		}
		es, err := s.AuditEvents(ctx, AuditFilter{Limit: MaxAuditLimit, BeforeSeq: 3})
		if err != nil || len(es) != 2 {
			t.Fatalf("first two events: %v %d", err, len(es))
		}
		first, second := es[1], es[0]
		if first.Seq != 1 || first.PrevHash != auditGenesis || second.PrevHash != first.Hash {
			t.Fatalf("chain start: first=%+v second=%+v", first, second)
		}
		if AuditHash(&first) != first.Hash {
			t.Fatal("a stored row's hash does not recompute: the time or details did not round-trip")
		}
		if first.Details != `{"i":1,"role":"qa"}` {
			t.Fatalf("details stored as %s", first.Details)
		}
	})
}

func TestAuditEventCommitsWithItsChange(t *testing.T) {
	eachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		boom := errors.New("boom")
		err := s.Tx(ctx, func(tx *Store) error {
			u := &User{Username: "gone", PasswordHash: "x", Role: "qa"}
			if err := tx.CreateUser(ctx, u); err != nil {
				return err
			}
			if err := tx.AppendAudit(ctx, NewAuditEvent(nil, AuditUserCreate, "user", "1", nil)); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("tx: %v", err)
		}
		if es, _ := s.AuditEvents(ctx, AuditFilter{}); len(es) != 0 {
			t.Fatalf("a rolled-back change left %d audit events", len(es))
		}
		var u *User
		err = s.Tx(ctx, func(tx *Store) error {
			u = &User{Username: "kept", PasswordHash: "x", Role: "qa"}
			if err := tx.CreateUser(ctx, u); err != nil {
				return err
			}
			return tx.AppendAudit(ctx, NewAuditEvent(u, AuditUserCreate, "user", strconv.FormatInt(u.ID, 10), map[string]string{"role": "qa"}))
		})
		if err != nil {
			t.Fatal(err)
		}
		es, err := s.AuditEvents(ctx, AuditFilter{})
		if err != nil || len(es) != 1 {
			t.Fatalf("events: %v %d", err, len(es))
		}
		if es[0].Seq != 1 {
			t.Fatalf("the rolled-back append must not leave a gap: seq %d", es[0].Seq)
		}
		if es[0].ActorID == nil || *es[0].ActorID != u.ID || es[0].ActorName != "kept" {
			t.Fatalf("actor: %+v", es[0])
		}
		if r, _ := s.VerifyAudit(ctx); !r.OK {
			t.Fatalf("verify: %+v", r)
		}
	})
}

func TestAppendAuditRefusesBadEvents(t *testing.T) {
	s, err := Open(context.Background(), Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		e    AuditEvent
		want error
	}{
		{"an event without an action is refused", AuditEvent{ActorName: "ada"}, ErrInvalidAuditEvent},
		{"an event without an actor is refused", AuditEvent{Action: "deploy"}, ErrInvalidAuditEvent},
		{"details that are not JSON are refused", AuditEvent{ActorName: "ada", Action: "deploy", Details: "{nope"}, ErrInvalidAuditEvent},
		{"details that are a JSON array are refused", AuditEvent{ActorName: "ada", Action: "deploy", Details: "[1]"}, ErrInvalidAuditEvent},
		{"an over-long object id is refused", AuditEvent{ActorName: "ada", Action: "deploy", ObjectID: strings.Repeat("x", 129)}, ErrInvalidAuditEvent},
		{"invalid UTF-8 is refused", AuditEvent{ActorName: "ada\xff", Action: "deploy"}, ErrInvalidAuditEvent},
		{"a password in the details is refused", AuditEvent{ActorName: "ada", Action: "user.create", Details: `{"Password":"hunter2"}`}, ErrAuditSecret},
		{"a token in the details is refused", AuditEvent{ActorName: "ada", Action: "token.create", Details: `{"token":"slp_x"}`}, ErrAuditSecret},
		{"a hash in the details is refused", AuditEvent{ActorName: "ada", Action: "token.create", Details: `{"hash":"ab"}`}, ErrAuditSecret},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := c.e
			if err := s.AppendAudit(context.Background(), &e); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	if es, _ := s.AuditEvents(context.Background(), AuditFilter{}); len(es) != 0 {
		t.Fatalf("refused events were stored: %d", len(es))
	}
	if got := AuditDetails(map[string]any{"f": func() {}}); !strings.Contains(got, "details_error") {
		t.Fatalf("unencodable details: %s", got)
	}
}

func TestAuditEventsFilters(t *testing.T) {
	eachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		rows := []AuditEvent{
			{ActorName: "ada", Action: AuditUserCreate, ObjectType: "user", ObjectID: "7", At: base},
			{ActorName: "ada", Action: AuditUserRole, ObjectType: "user", ObjectID: "7", At: base.Add(time.Hour)},
			{ActorName: "bob", Action: AuditDeploy, ObjectType: "release", ObjectID: "3", At: base.Add(24 * time.Hour)},
			{ActorName: "cli", Action: AuditTokenCreate, ObjectType: "token", ObjectID: "1", At: base.Add(48 * time.Hour)},
			{ActorName: "ada", Action: "user_x", ObjectType: "user", ObjectID: "8", At: base.Add(49 * time.Hour)},
		}
		for i := range rows {
			if err := s.AppendAudit(ctx, &rows[i]); err != nil {
				t.Fatal(err)
			}
		}
		cases := []struct {
			name string
			f    AuditFilter
			want []int64 // seqs, newest first
		}{
			{"no filter lists everything newest first", AuditFilter{}, []int64{5, 4, 3, 2, 1}},
			{"an actor filter matches that actor", AuditFilter{Actor: "ada"}, []int64{5, 2, 1}},
			{"an exact action matches only that action", AuditFilter{Action: AuditUserRole}, []int64{2}},
			{"an action ending in a dot is a prefix", AuditFilter{Action: "user."}, []int64{2, 1}},
			{"an action ending in a star is a prefix", AuditFilter{Action: "user.*"}, []int64{2, 1}},
			{"a LIKE wildcard in the action matches nothing extra", AuditFilter{Action: "user_"}, nil},
			{"an object filter matches type and id", AuditFilter{ObjectType: "user", ObjectID: "7"}, []int64{2, 1}},
			{"since is inclusive", AuditFilter{Since: base.Add(time.Hour)}, []int64{5, 4, 3, 2}},
			{"until is exclusive", AuditFilter{Until: base.Add(24 * time.Hour)}, []int64{2, 1}},
			{"a date range in another zone is compared in UTC", AuditFilter{Since: base.Add(23 * time.Hour).In(time.FixedZone("x", 5*3600)), Until: base.Add(25 * time.Hour)}, []int64{3}},
			{"limit and before-seq page through", AuditFilter{Limit: 2, BeforeSeq: 4}, []int64{3, 2}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				es, err := s.AuditEvents(ctx, c.f)
				if err != nil {
					t.Fatal(err)
				}
				var got []int64
				for _, e := range es {
					got = append(got, e.Seq)
				}
				if fmt.Sprint(got) != fmt.Sprint(c.want) {
					t.Fatalf("got seqs %v, want %v", got, c.want)
				}
			})
		}
		acts, err := s.AuditActions(ctx)
		if err != nil || strings.Join(acts, ",") != "deploy,token.create,user.create,user.role,user_x" {
			t.Fatalf("actions: %v %v", acts, err)
		}
	})
}

func TestAuditRowsCannotBeChangedThroughTheDatabase(t *testing.T) {
	eachDB(t, func(t *testing.T, s *Store) {
		appendN(t, s, 2)
		for _, q := range []string{
			"UPDATE audit_events SET actor_name = 'mallory' WHERE seq = 1",
			"DELETE FROM audit_events WHERE seq = 2",
		} {
			err := s.db.Exec(q).Error
			if err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Fatalf("%s: got %v, want the append-only trigger to refuse", q, err)
			}
		}
		if r, _ := s.VerifyAudit(context.Background()); !r.OK || r.Events != 2 {
			t.Fatalf("verify: %+v", r)
		}
	})
}

// disableAuditGuard removes the append-only triggers the way a database
// owner could, so tests can tamper.
func disableAuditGuard(t *testing.T, s *Store) {
	t.Helper()
	stmts := []string{"DROP TRIGGER audit_events_no_update", "DROP TRIGGER audit_events_no_delete"}
	if s.Dialect() == Postgres {
		stmts = []string{"ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"}
	}
	for _, q := range stmts {
		if err := s.db.Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
}

func TestVerifyAuditFindsTampering(t *testing.T) {
	cases := []struct {
		name    string
		tamper  []string
		seq     int64
		reason  string
		checked int64
	}{
		{"an edited detail is found at its row", []string{`UPDATE audit_events SET details = '{"role":"admin"}' WHERE seq = 5`}, 5, "edited", 4},
		{"an edited time is found at its row", []string{`UPDATE audit_events SET at = at + INTERVAL '1 hour' WHERE seq = 3`}, 3, "edited", 2},
		{"a deleted row is found at its seq", []string{`DELETE FROM audit_events WHERE seq = 6`}, 6, "seq 5 is followed by seq 7", 5},
		{"a deleted first row is found", []string{`DELETE FROM audit_events WHERE seq = 1`}, 1, "starts at seq 2", 0},
		{"a deleted row with the rest renumbered breaks the link", []string{
			`DELETE FROM audit_events WHERE seq = 4`,
			`UPDATE audit_events SET seq = -seq WHERE seq > 4`,
			`UPDATE audit_events SET seq = -seq - 1 WHERE seq < 0`,
		}, 4, "prev_hash does not match the hash of seq 3", 3},
		{"a rewritten prev_hash is found", []string{`UPDATE audit_events SET prev_hash = hash WHERE seq = 8`}, 8, "prev_hash", 7},
	}
	eachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		appendN(t, s, 10)
		rollback := errors.New("roll the tampering back")
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				// Each case tampers inside a transaction that is rolled
				// back, so the cases share one database.
				err := s.Tx(ctx, func(tx *Store) error {
					disableAuditGuard(t, tx)
					for _, q := range c.tamper {
						if tx.Dialect() == SQLite {
							q = strings.Replace(q, "at + INTERVAL '1 hour'", "'2001-01-01 00:00:00+00:00'", 1)
						}
						if err := tx.db.Exec(q).Error; err != nil {
							t.Fatalf("%s: %v", q, err)
						}
					}
					r, err := tx.VerifyAudit(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if r.OK || r.BrokenSeq != c.seq || !strings.Contains(r.Reason, c.reason) || r.Events != c.checked {
						t.Fatalf("got %+v, want broken at seq %d with %q after %d good rows", r, c.seq, c.reason, c.checked)
					}
					return rollback
				})
				if !errors.Is(err, rollback) {
					t.Fatal(err)
				}
			})
		}
		if r, err := s.VerifyAudit(ctx); err != nil || !r.OK || r.Events != 10 {
			t.Fatalf("after rolling every tampering back: %+v %v", r, err)
		}
	})
}

func TestConcurrentAppendsFromTwoStoresNeverFork(t *testing.T) {
	eachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		other := twin(t, s)
		const workers, each = 3, 15
		var wg sync.WaitGroup
		errs := make(chan error, 2*workers)
		for w := range 2 * workers {
			st := s
			if w%2 == 1 {
				st = other
			}
			wg.Go(func() {
				for i := range each {
					// Half the appends ride in a transaction with another
					// write, as features do; all must serialize.
					err := st.Tx(ctx, func(tx *Store) error {
						if i%2 == 0 {
							if err := tx.CreateUser(ctx, &User{Username: fmt.Sprintf("u%d-%d", w, i), PasswordHash: "x", Role: "qa"}); err != nil {
								return err
							}
						}
						return tx.AppendAudit(ctx, NewAuditEvent(nil, AuditUserCreate, "user", fmt.Sprintf("%d-%d", w, i), nil))
					})
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("concurrent append: %v", err)
		}
		r, err := s.VerifyAudit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !r.OK || r.Events != 2*workers*each {
			t.Fatalf("after %d concurrent appends from two stores: %+v", 2*workers*each, r)
		}
	})
}
