package models

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// auditCSVHeader is the first row of an audit export.
func auditCSVHeader() []string {
	return []string{"seq", "at", "actor_id", "actor_name", "action", "object_type", "object_id", "details", "prev_hash", "hash"}
}

// ExportAuditCSV writes every event matching f (Limit is ignored), newest
// first, as CSV with a header row. Cells that a spreadsheet would run as a
// formula (starting with = + - @, tab or carriage return) get a leading
// single quote; strip it before recomputing a hash from the export.
func (s *Store) ExportAuditCSV(ctx context.Context, w io.Writer, f AuditFilter) error {
	return s.exportAuditCSV(ctx, w, f, MaxAuditLimit)
}

// exportAuditCSV is ExportAuditCSV reading batch events at a time.
func (s *Store) exportAuditCSV(ctx context.Context, w io.Writer, f AuditFilter, batch int) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(auditCSVHeader()); err != nil {
		return fmt.Errorf("models: export audit: %w", err)
	}
	f.Limit = batch
	for {
		es, err := s.AuditEvents(ctx, f)
		if err != nil {
			return err
		}
		for i := range es {
			if err := cw.Write(auditCSVRecord(&es[i])); err != nil {
				return fmt.Errorf("models: export audit: %w", err)
			}
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return fmt.Errorf("models: export audit: %w", err)
		}
		if len(es) < f.Limit {
			return nil
		}
		f.BeforeSeq = es[len(es)-1].Seq
	}
}

func auditCSVRecord(e *AuditEvent) []string {
	actor := ""
	if e.ActorID != nil {
		actor = strconv.FormatInt(*e.ActorID, 10)
	}
	rec := []string{strconv.FormatInt(e.Seq, 10), e.At.UTC().Format(time.RFC3339Nano), actor, e.ActorName,
		e.Action, e.ObjectType, e.ObjectID, e.Details, e.PrevHash, e.Hash}
	for i, v := range rec {
		rec[i] = CSVSafe(v)
	}
	return rec
}

// CSVSafe guards a cell against formula injection: a value a spreadsheet
// would evaluate (starting with = + - @, tab or carriage return) gets a
// leading single quote so it shows as text. Quoting of commas, quotes and
// newlines is encoding/csv's job.
func CSVSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
