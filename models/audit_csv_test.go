package models

import (
	"bytes"
	"context"
	"encoding/csv"
	"strings"
	"testing"
)

func TestCSVSafe(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"a formula gets a quote", "=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"},
		{"a leading plus gets a quote", "+1+1", "'+1+1"},
		{"a leading minus gets a quote", "-2+3", "'-2+3"},
		{"a leading at sign gets a quote", "@SUM(A1)", "'@SUM(A1)"},
		{"a leading tab gets a quote", "\t=1", "'\t=1"},
		{"plain text is left alone", "user.create", "user.create"},
		{"an equals sign inside is left alone", "a=b", "a=b"},
		{"an empty cell stays empty", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := CSVSafe(c.in); got != c.want {
				t.Fatalf("CSVSafe(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

func TestExportAuditCSVEscapesAndFilters(t *testing.T) {
	s, err := Open(context.Background(), Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	evil := "=HYPERLINK(\"http://evil\",\"click\")"
	events := []*AuditEvent{
		NewAuditEvent(nil, AuditProjectCreate, "project", evil, map[string]string{"note": "a, \"quoted\"\nsecond line"}),
		NewAuditEvent(nil, AuditDeploy, "release", "-1+2", nil),
	}
	for _, e := range events {
		if err := s.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	// More rows than one export batch, to exercise paging.
	const batch, extra = 4, 9
	if err := s.Tx(ctx, func(tx *Store) error {
		for range extra {
			if err := tx.AppendAudit(ctx, NewAuditEvent(nil, AuditUserRole, "user", "9", nil)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	if err := s.exportAuditCSV(ctx, &buf, AuditFilter{Limit: 1}, batch); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("the export is not valid CSV: %v", err)
	}
	if len(rows) != 1+2+extra {
		t.Fatalf("export has %d rows, want every event (Limit ignored) plus a header", len(rows))
	}
	if strings.Join(rows[0], ",") != "seq,at,actor_id,actor_name,action,object_type,object_id,details,prev_hash,hash" {
		t.Fatalf("header: %v", rows[0])
	}
	first, second := rows[len(rows)-1], rows[len(rows)-2]
	if first[0] != "1" || first[6] != "'"+evil {
		t.Fatalf("formula cell: %q", first[6])
	}
	if first[7] != `{"note":"a, \"quoted\"\nsecond line"}` {
		t.Fatalf("details cell did not survive CSV quoting: %q", first[7])
	}
	if second[6] != "'-1+2" {
		t.Fatalf("minus cell: %q", second[6])
	}
	if first[8] != auditGenesis || second[8] != first[9] {
		t.Fatal("the export must carry the chain's hashes")
	}

	buf.Reset()
	if err := s.ExportAuditCSV(ctx, &buf, AuditFilter{Action: AuditDeploy}); err != nil {
		t.Fatal(err)
	}
	if rows, _ := csv.NewReader(&buf).ReadAll(); len(rows) != 2 || rows[1][4] != AuditDeploy {
		t.Fatalf("filtered export: %v", rows)
	}
}
