package policy

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

var (
	ada   = Person{ID: 1, Username: "ada", Role: "developer"}
	lena  = Person{ID: 2, Username: "lena", Role: "lead"}
	leo   = Person{ID: 3, Username: "leo", Role: "lead"}
	root  = Person{ID: 4, Username: "root", Role: "admin"}
	quinn = Person{ID: 5, Username: "quinn", Role: "qa"}
)

func production() Policy {
	return Policy{Env: "production", Protected: true, ApprovalsRequired: 1, ApproverRoles: []string{"lead", "admin"}}
}

func candidate() Candidate {
	return Candidate{ArtifactSHA256: "aaaa", ConfigVersion: 3, RequesterID: ada.ID, CommitSHA: "0123456789abcdef",
		CommitAuthorName: "Ada Lovelace", CommitAuthorEmail: "ada@example.com"}
}

func approval(p Person, sha string, cfg int64) Approval {
	return Approval{Approver: p, ArtifactSHA256: sha, ConfigVersion: cfg}
}

func TestMayApprove(t *testing.T) {
	tests := []struct {
		name   string
		pol    func(*Policy)
		who    Person
		cand   func(*Candidate)
		expect error
	}{
		{name: "a lead who neither asked nor wrote the commit may approve", who: lena},
		{name: "an admin may approve", who: root},
		{name: "a developer may not approve", who: ada, expect: ErrRole},
		{name: "qa may not approve by default", who: quinn, expect: ErrRole},
		{name: "a lead may not approve when only admins may", pol: func(p *Policy) { p.ApproverRoles = []string{"admin"} }, who: lena, expect: ErrRole},
		{name: "the requester may not approve", who: lena, cand: func(c *Candidate) { c.RequesterID = lena.ID }, expect: ErrSelfApproval},
		{name: "the commit author (by name) may not approve", who: lena, cand: func(c *Candidate) { c.CommitAuthorName = "LENA" }, expect: ErrSelfApproval},
		{name: "the commit author (by email local part) may not approve", who: lena, cand: func(c *Candidate) { c.CommitAuthorEmail = "lena@corp.example" }, expect: ErrSelfApproval},
		{name: "the requester may approve when the policy allows self-approval", pol: func(p *Policy) { p.AllowSelfApproval = true }, who: lena,
			cand: func(c *Candidate) { c.RequesterID = lena.ID }},
		{name: "self-approval allowed still checks the role", pol: func(p *Policy) { p.AllowSelfApproval = true }, who: ada, expect: ErrRole},
		{name: "no roles named means lead or admin", pol: func(p *Policy) { p.ApproverRoles = nil }, who: leo},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, c := production(), candidate()
			if tt.pol != nil {
				tt.pol(&p)
			}
			if tt.cand != nil {
				tt.cand(&c)
			}
			err := p.MayApprove(tt.who, c)
			if !errors.Is(err, tt.expect) {
				t.Fatalf("MayApprove = %v, want %v", err, tt.expect)
			}
			var de *DeniedError
			if err != nil && (!errors.As(err, &de) || !strings.Contains(de.Message, "production")) {
				t.Fatalf("refusal %q must be a DeniedError naming the environment", err)
			}
		})
	}
}

func TestEvaluate(t *testing.T) {
	now := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC) // a Wednesday
	tests := []struct {
		name      string
		pol       func(*Policy)
		approvals []Approval
		loadTest  LoadTest
		override  bool
		ready     bool
		counted   int
		stale     int
		waiting   string
	}{
		{name: "a protected environment without approvals waits for one", waiting: "1 more approval from lead or admin"},
		{name: "one approval from a lead meets a policy of one", approvals: []Approval{approval(lena, "aaaa", 3)}, ready: true, counted: 1},
		{name: "two approvals are needed when N is 2", pol: func(p *Policy) { p.ApprovalsRequired = 2 },
			approvals: []Approval{approval(lena, "aaaa", 3)}, counted: 1, waiting: "1 more approval"},
		{name: "the same approver twice counts once", pol: func(p *Policy) { p.ApprovalsRequired = 2 },
			approvals: []Approval{approval(lena, "aaaa", 3), approval(lena, "aaaa", 3)}, counted: 1, waiting: "1 more approval"},
		{name: "two distinct approvers meet N of 2", pol: func(p *Policy) { p.ApprovalsRequired = 2 },
			approvals: []Approval{approval(lena, "aaaa", 3), approval(root, "aaaa", 3)}, ready: true, counted: 2},
		{name: "an approval for an older config version no longer counts", approvals: []Approval{approval(lena, "aaaa", 2)},
			stale: 1, waiting: "1 more approval"},
		{name: "an approval for another artifact no longer counts", approvals: []Approval{approval(lena, "bbbb", 3)},
			stale: 1, waiting: "1 more approval"},
		{name: "an approval from someone whose role changed no longer counts", approvals: []Approval{approval(Person{ID: 2, Username: "lena", Role: "developer"}, "aaaa", 3)},
			stale: 1, waiting: "1 more approval"},
		{name: "an unprotected environment with no approvals needed is ready", pol: func(p *Policy) { p.Protected, p.ApprovalsRequired = false, 0 }, ready: true},
		{name: "protected with N of 0 still needs one approval", pol: func(p *Policy) { p.ApprovalsRequired = 0 }, waiting: "1 more approval"},
		{name: "a failing load test holds the promotion", pol: func(p *Policy) { p.RequireLoadTest = true },
			approvals: []Approval{approval(lena, "aaaa", 3)}, loadTest: LoadTest{Checked: true, Reason: "no passing run"}, counted: 1, waiting: "a passing load test: no passing run"},
		{name: "a passing load test lets it through", pol: func(p *Policy) { p.RequireLoadTest = true },
			approvals: []Approval{approval(lena, "aaaa", 3)}, loadTest: LoadTest{Checked: true, OK: true}, counted: 1, ready: true},
		{name: "an active freeze holds an approved promotion", pol: func(p *Policy) {
			p.Freeze = []Window{{Kind: KindOnce, Start: now.Add(-time.Hour), End: now.Add(time.Hour), Reason: "release party"}}
		}, approvals: []Approval{approval(lena, "aaaa", 3)}, counted: 1, waiting: "release party"},
		{name: "an admin's freeze override lets it through", pol: func(p *Policy) {
			p.Freeze = []Window{{Kind: KindOnce, Start: now.Add(-time.Hour), End: now.Add(time.Hour)}}
		}, approvals: []Approval{approval(lena, "aaaa", 3)}, override: true, counted: 1, ready: true},
		{name: "a freeze that ended holds nothing", pol: func(p *Policy) {
			p.Freeze = []Window{{Kind: KindOnce, Start: now.Add(-2 * time.Hour), End: now.Add(-time.Hour)}}
		}, approvals: []Approval{approval(lena, "aaaa", 3)}, counted: 1, ready: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := production()
			if tt.pol != nil {
				tt.pol(&p)
			}
			lt := tt.loadTest
			if p.RequireLoadTest && !lt.Checked {
				t.Fatal("test must give a load test result")
			}
			r := p.Evaluate(Input{Candidate: candidate(), Approvals: tt.approvals, LoadTest: lt, Now: now, FreezeOverridden: tt.override})
			if r.Ready != tt.ready || len(r.Counted) != tt.counted || len(r.Stale) != tt.stale {
				t.Fatalf("ready=%v counted=%d stale=%d (waiting %q), want ready=%v counted=%d stale=%d", r.Ready, len(r.Counted), len(r.Stale), r.Waiting, tt.ready, tt.counted, tt.stale)
			}
			if got := strings.Join(r.Waiting, "; "); !strings.Contains(got, tt.waiting) || (tt.waiting == "") != (got == "") {
				t.Fatalf("waiting = %q, want it to mention %q", got, tt.waiting)
			}
		})
	}
}

func TestSettingsRoundTrip(t *testing.T) {
	p := production()
	p.RequireLoadTest = true
	p.Freeze = []Window{{Kind: KindWeekly, From: "fri 16:00", To: "mon 08:00", TZ: "Europe/Berlin", Reason: "weekend"}}
	got, err := FromSettings("production", p.Settings())
	if err != nil {
		t.Fatal(err)
	}
	if got.Settings() != p.Settings() {
		t.Fatalf("round trip changed the policy: %+v != %+v", got.Settings(), p.Settings())
	}
	if _, err := FromSettings("x", Settings{FreezeWindows: "{"}); err == nil {
		t.Fatal("broken stored windows must fail")
	}
}

func TestValidate(t *testing.T) {
	roles := []string{"admin", "lead"}
	tests := []struct {
		name string
		p    Policy
		ok   bool
	}{
		{"the default production policy is valid", production(), true},
		{"negative approvals are refused", Policy{ApprovalsRequired: -1}, false},
		{"more than ten approvals are refused", Policy{ApprovalsRequired: 11}, false},
		{"a role that cannot approve is refused", Policy{ApproverRoles: []string{"developer"}}, false},
		{"an inverted window is refused", Policy{Freeze: []Window{{Kind: KindOnce, Start: time.Unix(10, 0), End: time.Unix(5, 0)}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.p.Validate(roles); (err == nil) != tt.ok {
				t.Fatalf("Validate = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestNoLoadTestGatePasses(t *testing.T) {
	ok, reason, err := NoLoadTestGate(context.Background(), 1, "aaaa")
	if !ok || err != nil || reason == "" {
		t.Fatalf("default gate = %v %q %v, want a pass that says why", ok, reason, err)
	}
}
